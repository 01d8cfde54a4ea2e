"""k-nearest-neighbour search over segments: exact blocked search or hnswlib.

The generic search behind :class:`NearestPositive` (strategy S3).

Method choice (measured on a 2-core CPU, 50,000 segments of 96 x 64 = 6144 values):
exact float32 search costs ``n_queries * n * D`` multiply-adds (about 200 s for all
50,000; bf16/fp16 products are 15x *slower* than fp32 on CPUs without native
support), hnswlib on the full 6144 dimensions takes over a minute to build, and PCA
alone to 128 dimensions finds the true nearest neighbour only about 80% of the time.
So for large sets (``method="hnsw"``) hnswlib indexes a 128-dimensional PCA projection
(fitted on a subsample), returns ``n_candidates`` candidates per query, and these are
re-ranked *exactly* in the full space (PCA distances bound the true ones from below,
so most candidates are pruned without computing their distance): recall@1 0.997
against exact search, 51 s at 50,000 on a busy 2-core machine
(``benchmarks/bench_sampling.py``). Small sets (``method="exact"``, chosen by
``"auto"`` below about 2e11 multiply-adds) use exact blocked float32 products.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from ._random import as_generator

#: Dimension of the projection hnswlib indexes when the input space is larger.
SEARCH_COMPONENTS = 128
#: Work (n_queries * n * dim) below which ``method="auto"`` searches exactly.
EXACT_WORK_LIMIT = 2e11
_HNSW_M, _HNSW_EF_CONSTRUCTION, _HNSW_EF = 32, 200, 200
#: Floats per block of the blocked distance computations (128 MiB of float32).
BLOCK_FLOATS = 2**25


def pca_project(X, n_components, random_state=None, max_fit_samples=4000):
    """Project rows of ``X`` on their first principal axes.

    The axes come from a randomized SVD of a row subsample (``max_fit_samples``);
    the projection is one blocked matrix product.
    """
    n, dim = X.shape
    n_components = min(n_components, dim, n)
    rng = as_generator(random_state)
    fit_rows = X
    if n > max_fit_samples:
        fit_rows = X[np.sort(rng.choice(n, max_fit_samples, replace=False))]
    randomized = n_components < min(fit_rows.shape)
    pca = PCA(
        n_components,
        svd_solver="randomized" if randomized else "full",
        iterated_power=2 if randomized else "auto",
        random_state=int(rng.integers(np.iinfo(np.int32).max)),
    ).fit(fit_rows)
    import torch  # imported on use: the sampling package stays torch-free to import

    W = torch.from_numpy(pca.components_.T.astype(np.float32))
    mean = torch.from_numpy(pca.mean_.astype(np.float32))
    step = max(1, BLOCK_FLOATS // dim)
    return np.concatenate(
        [
            ((torch.from_numpy(X[s : s + step]) - mean) @ W).numpy()
            for s in range(0, n, step)
        ]
    )


def exact_knn(X, k, query, groups):
    """Exact ``k`` nearest rows of ``X`` for the rows ``query``, other groups only.

    Returns ``(indices, squared_distances)`` of shape ``(len(query), k)``; ``-1`` /
    ``inf`` where fewer than ``k`` rows qualify.
    """
    import torch  # imported on use: the sampling package stays torch-free to import

    n = X.shape[0]
    k_eff = min(k, n)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    sq = Xt.pow(2).sum(1)
    g = torch.from_numpy(np.asarray(groups))
    idx = np.full((len(query), k), -1, dtype=np.int64)
    dist = np.full((len(query), k), np.inf, dtype=np.float32)
    step = max(1, BLOCK_FLOATS // n)
    for s in range(0, len(query), step):
        q = torch.from_numpy(np.asarray(query[s : s + step]))
        d = sq[q][:, None] + sq[None, :] - 2.0 * (Xt[q] @ Xt.T)
        d.clamp_(min=0.0)
        d.masked_fill_(g[q][:, None] == g[None, :], float("inf"))
        vals, ind = torch.topk(d, k_eff, dim=1, largest=False)
        ind = ind.numpy()
        vals = vals.numpy()
        ind[~np.isfinite(vals)] = -1
        idx[s : s + len(q), :k_eff] = ind
        dist[s : s + len(q), :k_eff] = vals
    return idx, dist


def _sq_norms(X):
    step = max(1, BLOCK_FLOATS // X.shape[1])
    return np.concatenate(
        [
            np.einsum("ij,ij->i", X[s : s + step], X[s : s + step])
            for s in range(0, X.shape[0], step)
        ]
    )


def rerank(X, query, candidates, k, lower_bounds=None):
    """Re-rank candidate rows (``-1`` = none) by exact squared distance; keep ``k``.

    Candidates are visited column by column. With ``lower_bounds`` (squared
    distances in an orthogonal projection, which never exceed the true ones, sorted
    per row) a candidate is skipped once its bound reaches the current k-th exact
    distance: the result equals exhaustive re-ranking of the candidates, while most
    rows need only one or two exact distances.
    """
    sq = _sq_norms(X)
    n_q, n_c = candidates.shape
    best_i = np.full((n_q, k), -1, dtype=np.int64)
    best_d = np.full((n_q, k), np.inf, dtype=np.float32)
    step = max(1, BLOCK_FLOATS // X.shape[1])
    for j in range(n_c):
        cand = candidates[:, j]
        need = cand >= 0
        if lower_bounds is not None:
            need &= lower_bounds[:, j] < best_d[:, -1]
        rows = np.flatnonzero(need)
        if not rows.size:
            continue
        d = np.empty(rows.size, dtype=np.float32)
        for s in range(0, rows.size, step):
            r = rows[s : s + step]
            qx = np.take(X, query[r], axis=0)
            cx = np.take(X, cand[r], axis=0)
            dots = np.einsum("ij,ij->i", qx, cx)
            d[s : s + step] = np.maximum(sq[query[r]] + sq[cand[r]] - 2.0 * dots, 0)
        # insert into the sorted top-k lists
        merged_d = np.concatenate([best_d[rows], d[:, None]], axis=1)
        merged_i = np.concatenate([best_i[rows], cand[rows][:, None]], axis=1)
        order = np.argsort(merged_d, axis=1, kind="stable")[:, :k]
        best_d[rows] = np.take_along_axis(merged_d, order, axis=1)
        best_i[rows] = np.take_along_axis(merged_i, order, axis=1)
    return best_i, best_d


def hnsw_candidates(Z, query, n_candidates, groups, random_state=None):
    """``n_candidates`` approximate neighbours per query from another group (hnswlib).

    Returns ``(candidates, squared_distances_in_Z)``, sorted per row, ``-1``/``inf``
    padded.
    The index is built single-threaded (deterministic for a given seed); queries ask
    for ``n_candidates`` plus the largest group size, and same-group hits are dropped.
    """
    import hnswlib

    n, dim = Z.shape
    seed = int(as_generator(random_state).integers(np.iinfo(np.int32).max))
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(
        max_elements=n, ef_construction=_HNSW_EF_CONSTRUCTION, M=_HNSW_M,
        random_seed=seed,
    )
    index.add_items(Z, np.arange(n), num_threads=1)
    max_group = int(np.bincount(groups).max())
    k_query = min(n, n_candidates + max_group)
    index.set_ef(max(_HNSW_EF, k_query))
    labels, dist = index.knn_query(Z[query], k=k_query)
    labels = labels.astype(np.int64)
    ok = groups[labels] != groups[query][:, None]
    # Keep the first n_candidates valid hits of each row, in order.
    rank = np.cumsum(ok, axis=1) - 1
    keep = ok & (rank < n_candidates)
    out = np.full((len(query), n_candidates), -1, dtype=np.int64)
    out_d = np.full((len(query), n_candidates), np.inf, dtype=np.float32)
    rows, cols = np.nonzero(keep)
    out[rows, rank[rows, cols]] = labels[rows, cols]
    out_d[rows, rank[rows, cols]] = dist[rows, cols]
    return out, out_d


def nearest_neighbors(
    X,
    n_neighbors,
    *,
    query=None,
    groups=None,
    method="auto",
    n_candidates=16,
    random_state=None,
):
    """Nearest rows of ``X`` (2-D) for the rows ``query``, excluding their group.

    Returns ``(indices, squared_distances, method_used)``.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, dim = X.shape
    query = np.arange(n) if query is None else np.asarray(query, dtype=np.int64)
    groups = np.arange(n) if groups is None else np.asarray(groups, dtype=np.int64)
    if method == "auto":
        method = "exact" if len(query) * n * dim <= EXACT_WORK_LIMIT else "hnsw"
    if method == "exact":
        return (*exact_knn(X, n_neighbors, query, groups), "exact")
    Z = X
    if dim > SEARCH_COMPONENTS:
        Z = pca_project(X, SEARCH_COMPONENTS, random_state)
    cand, bounds = hnsw_candidates(
        Z, query, max(n_candidates, n_neighbors), groups, random_state
    )
    # PCA is an orthogonal projection: its distances bound the true ones from below.
    return (*rerank(X, query, cand, n_neighbors, lower_bounds=bounds), "hnsw")
