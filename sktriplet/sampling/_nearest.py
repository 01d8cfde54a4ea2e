"""Nearest-neighbour positives in input space (S3): exact blocked search or hnswlib.

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

import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA

from ..utils._sklearn_compat import Interval, StrOptions
from ._base import PositiveRule, as_generator, empty_recipe
from ._farther import farther_than, pair_distances, transform_distances
from ._positive import TransformPositive
from ._transforms import Transform

#: Dimension of the projection hnswlib indexes when the input space is larger.
SEARCH_COMPONENTS = 128
#: Work (n_queries * n * dim) below which ``method="auto"`` searches exactly.
EXACT_WORK_LIMIT = 2e11
_HNSW_M, _HNSW_EF_CONSTRUCTION, _HNSW_EF = 32, 200, 200
_BLOCK_FLOATS = 2**25


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
    W = torch.from_numpy(pca.components_.T.astype(np.float32))
    mean = torch.from_numpy(pca.mean_.astype(np.float32))
    step = max(1, _BLOCK_FLOATS // dim)
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
    n = X.shape[0]
    k_eff = min(k, n)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    sq = Xt.pow(2).sum(1)
    g = torch.from_numpy(np.asarray(groups))
    idx = np.full((len(query), k), -1, dtype=np.int64)
    dist = np.full((len(query), k), np.inf, dtype=np.float32)
    step = max(1, _BLOCK_FLOATS // n)
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
    step = max(1, _BLOCK_FLOATS // X.shape[1])
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
    step = max(1, _BLOCK_FLOATS // X.shape[1])
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


class NearestPositive(PositiveRule):
    """Positive = one of the anchor's nearest segments in input space (paper's S3).

    The neighbours of every anchor are found once in ``fit``: exact blocked float32
    search for small sets, or an hnswlib index over a PCA projection whose candidates
    are re-ranked exactly (see the module notes), the method chosen by size.

    The nearest segment may be too similar to the anchor (a near copy) or too
    dissimilar; the paper proposes two remedies, both available here:

    1. ``n_neighbors=k``: the positive is drawn uniformly at random among the ``k``
       nearest segments (of other clips), anew for every triplet, with the
       randomness of the sampler's ``sample(random_state=...)``.
    2. ``farther_than_transform``: the positive is the nearest segment *farther than
       the transformed anchor*. In ``fit`` a transform ``T`` is drawn for each anchor
       as strategy S1 would (a :class:`TransformPositive` recipe materialised by
       :func:`make_positives`), ``d_T = ||a - T(a)||^2`` is computed in input space,
       and the neighbours kept are the nearest of the ``n_candidates`` candidates
       whose exact input-space squared distance exceeds ``d_T``. An anchor none of
       whose candidates qualifies takes its *farthest* candidate (counted in
       ``n_fallback_``, with a warning: raise ``n_candidates``). Combined with
       ``n_neighbors=k`` the positive is drawn among the ``k`` nearest qualifying
       candidates.

    In a strategy the rule sits at ``unlabeled__positive``, e.g.
    ``get_sampler("s3", unlabeled__positive__farther_than_transform=True)``.

    Parameters
    ----------
    n_neighbors : int, default=1
        The positive is drawn uniformly among this many nearest segments (the
        paper's first remedy when above 1).
    exclude_same_clip : bool, default=True
        Ignore segments of the anchor's clip (else only the anchor itself).
    n_components : int, default=None
        If set, search in a PCA projection to this many dimensions (distances then
        live in that space) instead of the input space. With
        ``farther_than_transform`` the candidates found there are re-ranked by their
        exact input-space distance.
    method : {"auto", "exact", "hnsw"}, default="auto"
        ``"auto"`` = exact below about 2e11 multiply-adds, hnswlib above.
    n_candidates : int, default=16
        Approximate candidates per anchor re-ranked exactly (``"hnsw"``). With
        ``farther_than_transform``, also the number of nearest candidates (any
        method) among which a segment farther than the transformed anchor is
        looked for.
    farther_than_transform : bool, Transform, list of Transform or \
            TransformPositive, default=None
        The paper's second remedy. None or False = off; True = the paper's four
        transforms, as :class:`TransformPositive` draws them; a transform, a list of
        transforms, or a :class:`TransformPositive` (for weights) = those. ``d_T`` is
        drawn once per anchor in ``fit`` (features are not kept after ``fit``), so
        the positive of an anchor is fixed when ``n_neighbors=1``. Anchors with no
        possible transform are unconstrained. Example mixing treats the features as
        dB, as :func:`make_positives` does without ``feature_mean``/``feature_std``.
    random_state : int, RandomState instance or None, default=None
        Seeds the PCA, the hnswlib index and the transforms of
        ``farther_than_transform``.

    Attributes
    ----------
    neighbors_ : ndarray of shape (n_anchors, n_neighbors)
        Neighbours of the fitted anchors, sorted (``-1`` = none).
    method_ : str
        Method used.
    transform_distances_ : ndarray of shape (n_anchors,) or None
        ``d_T`` of each fitted anchor (``-inf`` = no transform possible); None
        without ``farther_than_transform``.
    n_fallback_ : int
        Anchors whose candidates were all within ``d_T`` (they take the farthest
        candidate); 0 without ``farther_than_transform``.

    See Also
    --------
    TransformPositive : Strategy S1's positives, whose transforms set ``d_T``.
    get_sampler : ``get_sampler("s3", unlabeled__positive__...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.sampling import NearestPositive, RuleSampler, SemiHardNegative
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]], dtype=np.float32)
    >>> s = RuleSampler(unlabeled=(NearestPositive(), SemiHardNegative())).fit(X)
    >>> t = s.sample(4, random_state=0)
    >>> sorted(zip(t.anchor.tolist(), t.positive.tolist()))
    [(0, 1), (1, 0), (2, 3), (3, 2)]

    Second remedy: Gaussian noise of standard deviation 1 moves a 64-value segment
    by a squared distance of about 64, so the near copy of the anchor (squared
    distance 0.0064) is skipped for the next segment (about 256).

    >>> from sktriplet.sampling import GaussianNoise, get_sampler
    >>> x = np.random.default_rng(0).normal(size=64)
    >>> X = np.stack([x, x + 0.01, x + 2.0, x + 30.0]).astype(np.float32)
    >>> y = [-1, -1, -1, -1]
    >>> plain = get_sampler("s3").fit(X, y)
    >>> plain.unlabeled_rules_[0].neighbors_[:, 0].tolist()
    [1, 0, 1, 2]
    >>> s = get_sampler(
    ...     "s3",
    ...     unlabeled__positive__farther_than_transform=GaussianNoise(sigma=1.0),
    ...     unlabeled__positive__random_state=0,
    ... ).fit(X, y)
    >>> s.unlabeled_rules_[0].neighbors_[:, 0].tolist()
    [2, 2, 1, 2]
    """

    needs_features = True
    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "exclude_same_clip": ["boolean"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "method": [StrOptions({"auto", "exact", "hnsw"})],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "farther_than_transform": [
            "boolean", Transform, TransformPositive, list, tuple, None
        ],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_neighbors=1,
        exclude_same_clip=True,
        n_components=None,
        method="auto",
        n_candidates=16,
        farther_than_transform=None,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.exclude_same_clip = exclude_same_clip
        self.n_components = n_components
        self.method = method
        self.n_candidates = n_candidates
        self.farther_than_transform = farther_than_transform
        self.random_state = random_state

    def _transform_rule(self):
        """The :class:`TransformPositive` that ``farther_than_transform`` names."""
        spec = self.farther_than_transform
        if spec is None or spec is False:
            return None
        if spec is True:
            return TransformPositive()
        if isinstance(spec, TransformPositive):
            return clone(spec)
        if isinstance(spec, Transform):
            return TransformPositive(transforms=[clone(spec)])
        return TransformPositive(transforms=list(spec))

    def fit(self, data, anchors):
        self._validate_params()
        rule = self._transform_rule()
        X_in = np.ascontiguousarray(data.X.reshape(data.n, -1), dtype=np.float32)
        X = X_in
        if self.n_components is not None:
            X = pca_project(X_in, self.n_components, self.random_state)
        anchors = np.unique(np.asarray(anchors, dtype=np.int64))
        groups = data.clip if self.exclude_same_clip else np.arange(data.n)
        k = self.n_neighbors
        if rule is not None:
            k = max(self.n_candidates, self.n_neighbors)
        neighbors, _, self.method_ = nearest_neighbors(
            X,
            k,
            query=anchors,
            groups=groups,
            method=self.method,
            n_candidates=self.n_candidates,
            random_state=self.random_state,
        )
        self.transform_distances_ = None
        self.n_fallback_ = 0
        if rule is not None:
            dist = pair_distances(X_in, anchors, neighbors)
            order = np.argsort(dist, axis=1, kind="stable")
            neighbors = np.take_along_axis(neighbors, order, axis=1)
            dist = np.take_along_axis(dist, order, axis=1)
            rule.fit(data, anchors)
            rng = as_generator(self.random_state)
            d_t = transform_distances(data, anchors, rule, rng)
            neighbors, fallback = farther_than(neighbors, dist, d_t, self.n_neighbors)
            self.transform_distances_ = d_t
            self.n_fallback_ = int(fallback.sum())
            if self.n_fallback_:
                warnings.warn(
                    f"{self.n_fallback_} of {len(anchors)} anchors have no candidate "
                    "farther than their transformed anchor among their "
                    f"n_candidates={self.n_candidates} nearest segments; they take "
                    "the farthest candidate. Increase n_candidates to avoid this.",
                    UserWarning,
                    stacklevel=4,  # the caller of the sampler's fit
                )
        self.neighbors_ = neighbors
        self._row = np.full(data.n, -1, dtype=np.int64)
        self._row[anchors] = np.arange(len(anchors))
        return self

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        row = self._row[anchors]
        known = row >= 0
        nb = self.neighbors_[np.maximum(row, 0)]
        count = (nb >= 0).sum(axis=1) * known
        j = rng.integers(0, np.maximum(count, 1))
        r["positive"][:] = np.where(count > 0, nb[np.arange(len(anchors)), j], -1)
        r["ok"][:] = count > 0
        return r
