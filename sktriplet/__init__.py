"""sktriplet: semi-supervised triplet-loss audio embeddings, scikit-learn compatible."""

from ._version import __version__

__all__ = ["__version__"]
