"""k-nearest-neighbour search over segments: exact blocked search, hnswlib or faiss.

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

For millions of segments, ``method="faiss"`` (optional dependency faiss-cpu)
replaces hnswlib by an inverted-file index over the same projection (IVF-Flat, or
IVF-PQ when a copy of the projected vectors would exceed ``FAISS_FLAT_MAX_BYTES``)
whose ``nprobe`` is tuned on a sample against exact search, with the same exact
re-ranking: its build is a k-means rather than a graph, so it scales to millions of
segments on two cores (``benchmarks/bench_nearest.py``).
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
#: Size of the vectors (bytes) above which ``method="faiss"`` stores
#: product-quantised codes (IVF-PQ) rather than a copy of them (IVF-Flat).
FAISS_FLAT_MAX_BYTES = 2 * 2**30
#: Rows per inverted list drawn to train faiss's k-means.
FAISS_TRAIN_PER_LIST = 50
#: Sample rows, and the share of them whose exact nearest row must be among the
#: candidates, with which faiss's ``nprobe`` is tuned.
FAISS_TUNE_QUERIES, FAISS_TARGET_RECALL = 500, 0.98
#: IVF-PQ fetches this many times ``n_candidates``, re-ranked exactly in the
#: search space (its distances are approximate).
FAISS_PQ_WIDEN = 4
#: Queries per faiss search call (bounds the memory of the raw results).
FAISS_QUERY_BLOCK = 2**16


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


def rerank(X, query, candidates, k, lower_bounds=None, sq_norms=None):
    """Re-rank candidate rows (``-1`` = none) by exact squared distance; keep ``k``.

    Candidates are visited column by column. With ``lower_bounds`` (squared
    distances in an orthogonal projection, which never exceed the true ones, sorted
    per row) a candidate is skipped once its bound reaches the current k-th exact
    distance: the result equals exhaustive re-ranking of the candidates, while most
    rows need only one or two exact distances. ``sq_norms`` (squared row norms of
    ``X``) saves their computation when the caller re-ranks in blocks.
    """
    sq = _sq_norms(X) if sq_norms is None else sq_norms
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


def hnsw_index(Z, random_state=None):
    """An hnswlib graph over the rows of ``Z``.

    Built single-threaded: deterministic for a given seed.
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
    return index


def hnsw_candidates(Z, query, n_candidates, groups, random_state=None, index=None):
    """``n_candidates`` approximate neighbours per query from another group (hnswlib).

    Returns ``(candidates, squared_distances_in_Z)``, sorted per row, ``-1``/``inf``
    padded. ``index`` (from :func:`hnsw_index` with the same ``Z``) is built when
    None. Queries ask for ``n_candidates`` plus the largest group size, and
    same-group hits are dropped.
    """
    n = Z.shape[0]
    if index is None:
        index = hnsw_index(Z, random_state)
    max_group = int(np.bincount(groups).max())
    k_query = min(n, n_candidates + max_group)
    index.set_ef(max(_HNSW_EF, k_query))
    labels, dist = index.knn_query(Z[query], k=k_query)
    return _first_other_group(labels, dist, query, groups, n_candidates)


def _first_other_group(labels, dist, query, groups, n_candidates):
    """The first ``n_candidates`` hits of each row from another group, in order.

    Labels of ``-1`` (no hit) are dropped; rows are ``-1``/``inf`` padded.
    """
    labels = labels.astype(np.int64)
    ok = (labels >= 0) & (groups[np.maximum(labels, 0)] != groups[query][:, None])
    rank = np.cumsum(ok, axis=1) - 1
    keep = ok & (rank < n_candidates)
    out = np.full((len(query), n_candidates), -1, dtype=np.int64)
    out_d = np.full((len(query), n_candidates), np.inf, dtype=np.float32)
    rows, cols = np.nonzero(keep)
    out[rows, rank[rows, cols]] = labels[rows, cols]
    out_d[rows, rank[rows, cols]] = dist[rows, cols]
    return out, out_d


def _import_faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            'method="faiss" needs the optional dependency faiss-cpu; install it '
            'with: pip install "sktriplet[faiss]"'
        ) from exc
    return faiss


def _faiss_seed(rng):
    return int(rng.integers(np.iinfo(np.int32).max))


def faiss_index(Z, groups, n_candidates, random_state=None, product_quantized=None):
    """An inverted-file faiss index over the rows of ``Z``, its ``nprobe`` tuned.

    The index keeps the vectors (IVF-Flat) while they take at most
    ``FAISS_FLAT_MAX_BYTES``, else 8-bit product-quantised codes of a quarter as
    many bytes as dimensions (IVF-PQ); ``product_quantized`` forces either. Its
    ``round(sqrt(8 n))`` lists (at least 39 rows each) come from k-means on
    ``FAISS_TRAIN_PER_LIST`` rows per list drawn with ``random_state``, which also
    seeds faiss's k-means. ``nprobe`` is then doubled from 1 until, for
    ``FAISS_TUNE_QUERIES`` sample rows, the exact nearest row of another group is
    among the candidates at least ``FAISS_TARGET_RECALL`` of the time (or until
    doubling finds no more of them).
    """
    faiss = _import_faiss()
    n, dim = Z.shape
    rng = as_generator(random_state)
    nlist = int(np.clip(round(np.sqrt(8 * n)), 1, max(1, n // 39)))
    if product_quantized is None:
        product_quantized = n * dim * 4 > FAISS_FLAT_MAX_BYTES
    quantizer = faiss.IndexFlatL2(dim)
    if product_quantized:
        n_sub = max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, n_sub, 8)
        index.pq.cp.seed = _faiss_seed(rng)
        # 64 rows per code and 10 iterations: faiss's 256 and 25 take minutes on
        # two cores for codes that are only a first cut (re-ranked exactly).
        index.pq.cp.niter = 10
        index.pq.cp.max_points_per_centroid = 64
        index.pq.cp.min_points_per_centroid = 1
    else:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist)
    index.cp.seed = _faiss_seed(rng)
    # We draw the training rows ourselves; faiss must neither subsample them
    # again nor warn about the few rows per list of tiny sets.
    index.cp.max_points_per_centroid = n
    index.cp.min_points_per_centroid = 1
    n_train = min(n, FAISS_TRAIN_PER_LIST * nlist)
    index.train(Z[np.sort(rng.choice(n, n_train, replace=False))])
    index.add(Z)
    _tune_nprobe(index, Z, groups, n_candidates, rng)
    return index


def _tune_nprobe(index, Z, groups, n_candidates, rng):
    n = Z.shape[0]
    sample = np.sort(rng.choice(n, min(n, FAISS_TUNE_QUERIES), replace=False))
    truth, truth_d = exact_knn(Z, 1, sample, groups)
    has = truth[:, 0] >= 0
    if not has.any():
        index.nprobe = 1
        return
    # Compare distances, not indices: ties make either row a correct answer.
    tol = 1e-5 * (1.0 + truth_d[has, 0])
    found, nprobe = -1.0, 1
    while True:
        index.nprobe = nprobe
        _, cand_d = _faiss_search(index, Z, sample[has], n_candidates, groups)
        now = float(np.mean(cand_d[:, 0] <= truth_d[has, 0] + tol))
        if now <= found:  # no gain from doubling: keep the cheaper setting
            index.nprobe = nprobe // 2
            return
        if now >= FAISS_TARGET_RECALL or nprobe >= index.nlist:
            return
        found, nprobe = now, min(2 * nprobe, index.nlist)


def _faiss_search(index, Z, query, n_candidates, groups):
    pq = hasattr(index, "pq")
    n_fetch = n_candidates * (FAISS_PQ_WIDEN if pq else 1)
    k_query = min(index.ntotal, n_fetch + int(np.bincount(groups).max()))
    sq = _sq_norms(Z) if pq else None
    out = np.full((len(query), n_candidates), -1, dtype=np.int64)
    out_d = np.full((len(query), n_candidates), np.inf, dtype=np.float32)
    for s in range(0, len(query), FAISS_QUERY_BLOCK):
        q = query[s : s + FAISS_QUERY_BLOCK]
        dist, labels = index.search(Z[q], k_query)
        cand, cand_d = _first_other_group(labels, dist, q, groups, n_fetch)
        if pq:
            # Product-quantised distances are approximate (not lower bounds): rank
            # the wider list by exact distances in Z, block by block (memory).
            cand, cand_d = rerank(Z, q, cand, n_candidates, sq_norms=sq)
        out[s : s + len(q)], out_d[s : s + len(q)] = cand, cand_d
    return out, out_d


def faiss_candidates(Z, query, n_candidates, groups, random_state=None, index=None):
    """``n_candidates`` approximate neighbours per query from another group (faiss).

    Same contract as :func:`hnsw_candidates`: ``(candidates,
    squared_distances_in_Z)``, sorted per row, ``-1``/``inf`` padded. ``index``
    (from :func:`faiss_index` with the same ``Z``, ``groups`` and
    ``n_candidates``) is built when None. Queries ask for the candidates plus the
    largest group size, and same-group hits are dropped. faiss runs on its OpenMP
    threads (``OMP_NUM_THREADS``, or ``faiss.omp_set_num_threads``; all cores by
    default), which are left as they are; the result is deterministic for a given
    ``random_state`` (and was the same on 1 and 2 threads in the tests).
    """
    if index is None:
        index = faiss_index(Z, groups, n_candidates, random_state)
    query = np.asarray(query, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    return _faiss_search(index, Z, query, n_candidates, groups)


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

    Returns ``(indices, squared_distances, method_used)``. ``method`` is
    ``"exact"``, ``"hnsw"``, ``"faiss"`` (needs faiss-cpu) or ``"auto"`` (exact up
    to ``EXACT_WORK_LIMIT`` multiply-adds, hnsw above).
    """
    if method not in ("auto", "exact", "hnsw", "faiss"):
        raise ValueError(
            "method must be 'auto', 'exact', 'hnsw' or 'faiss', got "
            f"{method!r}."
        )
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, dim = X.shape
    query = np.arange(n) if query is None else np.asarray(query, dtype=np.int64)
    groups = np.arange(n) if groups is None else np.asarray(groups, dtype=np.int64)
    if method == "auto":
        method = "exact" if len(query) * n * dim <= EXACT_WORK_LIMIT else "hnsw"
    if method == "exact":
        return (*exact_knn(X, n_neighbors, query, groups), "exact")
    if method == "faiss":
        _import_faiss()  # fail before the projection, not after it
    Z = X
    if dim > SEARCH_COMPONENTS:
        Z = pca_project(X, SEARCH_COMPONENTS, random_state)
    candidates = faiss_candidates if method == "faiss" else hnsw_candidates
    cand, bounds = candidates(
        Z, query, max(n_candidates, n_neighbors), groups, random_state
    )
    # PCA is an orthogonal projection: its distances bound the true ones from below.
    return (*rerank(X, query, cand, n_neighbors, lower_bounds=bounds), method)
