"""Exact k-nearest-neighbour search by blocked matrix products (bounded memory).

``sktriplet.sampling._knn.exact_knn`` searches for rows *of the indexed set* and
holds a whole ``(block, n)`` distance matrix; here queries are arbitrary vectors and
the collection is scanned in column blocks with a running top-k, so memory stays at
about ``_BLOCK_FLOATS`` scores whatever the collection size.
"""

from __future__ import annotations

import numpy as np
import torch

#: Scores held at once (64 MB of float32): query block x collection block.
_BLOCK_FLOATS = 2**24
_QUERY_BLOCK = 1024


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` scaled to unit norm (float32); all-zero rows stay zero.

    hnswlib's ``'cosine'`` space does the same (it divides by the norm plus a tiny
    constant), so a zero vector is at cosine distance 1 from everything in both.
    """
    out = np.empty(X.shape, dtype=np.float32)
    step = max(1, _BLOCK_FLOATS // max(X.shape[1], 1))
    for s in range(0, X.shape[0], step):  # float64 input converted block by block
        block = np.asarray(X[s : s + step], dtype=np.float32)
        norm = np.sqrt(np.einsum("ij,ij->i", block, block))
        norm[norm == 0] = 1.0
        out[s : s + step] = block / norm[:, None]
    return out


def pair_distances(data, queries, indices, metric: str) -> np.ndarray:
    """Distances between each query and its ``indices`` rows of ``data``, computed
    directly (not through the ``|q|^2 + |x|^2 - 2 q.x`` expansion of the search).
    """
    cand = data[indices]  # (m, k, d)
    if metric == "cosine":
        dots = np.einsum("mkd,md->mk", cand, queries)
        return np.clip(1.0 - dots, 0.0, 2.0).astype(np.float32)
    diff = cand - queries[:, None, :]
    return np.sqrt(np.einsum("mkd,mkd->mk", diff, diff)).astype(np.float32)


def exact_kneighbors(
    data: np.ndarray, queries: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``data`` for each row of ``queries``.

    Parameters
    ----------
    data : ndarray of shape (n, d), float32
        Indexed vectors (unit rows for ``metric="cosine"``), ``n >= k``.
    queries : ndarray of shape (m, d), float32
        Query vectors (unit rows for ``metric="cosine"``).
    k : int
        Neighbours per query.
    metric : {"cosine", "euclidean"}
        Distance: ``1 - cos`` or the Euclidean (not squared) distance.

    Returns
    -------
    distances : ndarray of shape (m, k), float32
        Sorted ascending per row, recomputed directly for the winners.
    indices : ndarray of shape (m, k), int64
    """
    n = data.shape[0]
    m = queries.shape[0]
    Xt = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    # Nearest = largest score: q.x (cosine) or q.x - |x|^2 / 2 (euclidean).
    half_sq = None
    if metric == "euclidean":
        half_sq = 0.5 * torch.einsum("ij,ij->i", Xt, Xt)
    q_step = min(_QUERY_BLOCK, max(m, 1))
    n_step = max(k, _BLOCK_FLOATS // q_step)
    distances = np.empty((m, k), dtype=np.float32)
    indices = np.empty((m, k), dtype=np.int64)
    for qs in range(0, m, q_step):
        Q = torch.from_numpy(np.ascontiguousarray(queries[qs : qs + q_step]))
        best_v = torch.full((Q.shape[0], k), -torch.inf)
        best_i = torch.full((Q.shape[0], k), -1, dtype=torch.int64)
        for ns in range(0, n, n_step):
            scores = Q @ Xt[ns : ns + n_step].T
            if half_sq is not None:
                scores -= half_sq[ns : ns + n_step]
            kk = min(k, scores.shape[1])
            v, i = torch.topk(scores, kk, dim=1)
            v = torch.cat([best_v, v], dim=1)
            i = torch.cat([best_i, i + ns], dim=1)
            best_v, pos = torch.topk(v, k, dim=1)
            best_i = torch.gather(i, 1, pos)
        ind = best_i.numpy()
        dist = pair_distances(data, queries[qs : qs + q_step], ind, metric)
        order = np.argsort(dist, axis=1, kind="stable")
        distances[qs : qs + q_step] = np.take_along_axis(dist, order, axis=1)
        indices[qs : qs + q_step] = np.take_along_axis(ind, order, axis=1)
    return distances, indices
