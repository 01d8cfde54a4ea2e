"""Train an :class:`AudioModel` from audio files: features, embedder, tagger."""

from __future__ import annotations

import numpy as np

from ..embedding import TripletEmbedder
from ..features import LogMelExtractor
from ..tagging import SequenceTagger
from ..utils._labels import check_semi_supervised_y, labeled_mask
from ._audio_model import AudioModel


def train_audio_model(
    filenames,
    y=None,
    classes=None,
    *,
    strategy="s2",
    duration: float | None = None,
    embedder_params: dict | None = None,
    tagger_params: dict | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    random_state=None,
) -> AudioModel:
    """Train an embedder, and a tagger when ``y`` has labelled rows, on audio files.

    Parameters
    ----------
    filenames : sequence of path-like
        Audio files (any format libsndfile reads, any sample rate).
    y : array-like of shape (n_files, n_classes), default=None
        Tags with all ``-1`` rows for unlabelled files (the loaders'
        ``Bunch.y``); None trains the embedder alone (``strategy`` must then be
        unsupervised, e.g. ``"s1"``).
    classes : sequence of str, default=None
        Names of ``y``'s columns (required with ``y``).
    strategy : str or TripletSampler, default="s2"
        Triplet strategy of the embedder.
    duration : float or None, default=None
        Crop or pad every file to this many seconds for training (None keeps each
        file's length).
    embedder_params, tagger_params : dict, default=None
        Other parameters of :class:`~sktriplet.embedding.TripletEmbedder` and
        :class:`~sktriplet.tagging.SequenceTagger` (their defaults otherwise).
    n_jobs : int, default=None
        Threads decoding files.
    verbose : int, default=0
        Progress bars and training logs when positive.
    random_state : int or None, default=None
        Seed of both estimators.

    Returns
    -------
    model : AudioModel

    Examples
    --------
    >>> from sktriplet.datasets import load_audio_folder
    >>> from sktriplet.models import train_audio_model
    >>> data = load_audio_folder("my_sounds")  # doctest: +SKIP
    >>> model = train_audio_model(
    ...     data.filenames, data.y, data.classes)  # doctest: +SKIP
    >>> model.save("model.skt")  # doctest: +SKIP
    """
    filenames = [str(f) for f in filenames]
    if not filenames:
        raise ValueError("filenames is empty: need audio files to train on.")
    labelled = False
    if y is not None:
        Y, _, _ = check_semi_supervised_y(y, len(filenames), name="y")
        if classes is None or len(classes) != Y.shape[1]:
            raise ValueError(
                f"classes must name each of y's {Y.shape[1]} columns; got "
                f"{None if classes is None else len(classes)} names."
            )
        labelled = bool(labeled_mask(Y).any())
    extractor = LogMelExtractor(duration=duration, n_jobs=n_jobs, verbose=verbose)
    X = extractor.fit_transform(filenames)
    embedder = TripletEmbedder(
        strategy,
        **{"verbose": verbose, "random_state": random_state, **(embedder_params or {})},
    )
    embedder.fit(X, None if y is None else np.asarray(y))
    tagger = None
    if labelled:
        tagger = SequenceTagger(
            **{"random_state": random_state, **(tagger_params or {})}
        ).fit(embedder.transform(X), np.asarray(y))
    return AudioModel(
        extractor, embedder, tagger, classes=classes if labelled else None
    )
