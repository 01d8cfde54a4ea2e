"""hnswlib graphs: build, query with distances in the index's metric, file I/O."""

from __future__ import annotations

import numpy as np

#: hnswlib space of each metric. ``'l2'`` returns *squared* distances (converted
#: in :func:`hnsw_kneighbors`); ``'cosine'`` returns ``1 - cos``.
SPACES = {"cosine": "cosine", "euclidean": "l2"}


def build_hnsw(X, metric: str, *, M: int, ef_construction: int, seed: int, n_jobs: int):
    """An hnswlib graph over the rows of ``X`` (labels = row numbers).

    With ``n_jobs=1`` the graph is a function of ``X`` and ``seed``; with more
    threads the insertion order, hence the graph, varies from run to run.
    """
    import hnswlib

    n, dim = X.shape
    index = hnswlib.Index(space=SPACES[metric], dim=dim)
    index.init_index(
        max_elements=n, ef_construction=ef_construction, M=M, random_seed=seed
    )
    index.add_items(X, np.arange(n), num_threads=n_jobs)
    return index


def hnsw_kneighbors(index, queries, k: int, *, ef: int, metric: str, n_jobs: int):
    """Approximate ``k`` nearest neighbours: ``(distances, indices)`` like exact."""
    index.set_ef(max(ef, k))
    try:
        labels, dist = index.knn_query(queries, k=k, num_threads=n_jobs)
    except RuntimeError as exc:  # hnswlib found fewer than k results for a query
        raise RuntimeError(
            f"hnswlib could not return {k} neighbours for every query ({exc}); "
            "raise ef_search (and M / ef_construction, then fit again)."
        ) from exc
    dist = np.maximum(dist, 0.0, dtype=np.float32)
    if metric == "euclidean":
        np.sqrt(dist, out=dist)
    return dist, labels.astype(np.int64)


def load_hnsw(path, metric: str, dim: int, n: int):
    """Read a graph written by ``hnswlib.Index.save_index``."""
    import hnswlib

    index = hnswlib.Index(space=SPACES[metric], dim=dim)
    index.load_index(str(path), max_elements=n)
    if index.element_count != n:
        raise ValueError(
            f"the hnsw graph holds {index.element_count} vectors, expected {n}."
        )
    return index
