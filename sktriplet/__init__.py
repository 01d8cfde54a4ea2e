"""sktriplet: semi-supervised triplet-loss audio embeddings, scikit-learn compatible."""

from ._version import __version__
from .features import LogMelExtractor, segment

__all__ = ["LogMelExtractor", "__version__", "segment"]
