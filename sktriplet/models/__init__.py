"""Trained models as files: audio in, time-stamped embeddings and tags out.

:class:`AudioModel` bundles the feature settings, a fitted
:class:`~sktriplet.embedding.TripletEmbedder` and an optional tagger;
:func:`train_audio_model` builds one from audio files and labels. The command line
(``sktriplet fit``, ``embed``, ``tag``, ``search``) and :mod:`sktriplet.hear` use it.
"""

from ._audio_model import AudioModel
from ._train import train_audio_model

__all__ = ["AudioModel", "train_audio_model"]
