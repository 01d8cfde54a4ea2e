"""Similarity search over clip or segment embeddings: which clips sound like this one.

:class:`EmbeddingIndex` searches exactly below a size threshold and with an hnswlib
graph above it, returns distances and indices like scikit-learn's
``NearestNeighbors`` (and, with :meth:`EmbeddingIndex.query`, the file names and
start times of the results), and is saved to one file.
"""

from ._index import EmbeddingIndex, Neighbors

__all__ = ["EmbeddingIndex", "Neighbors"]
