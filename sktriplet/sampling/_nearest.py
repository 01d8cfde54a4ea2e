"""Nearest-neighbour positives in input space (the paper's S3).

The search itself (exact blocked, or hnswlib or faiss over a PCA projection) lives in
:mod:`._knn`; this module holds the rule.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import clone

from ..utils._sklearn_compat import Interval, StrOptions
from ._farther import farther_than, pair_distances, transform_distances
from ._knn import (  # noqa: F401  (re-exported for the former import path)
    exact_knn,
    faiss_candidates,
    hnsw_candidates,
    nearest_neighbors,
    pca_project,
    rerank,
)
from ._positive import TransformPositive
from ._random import as_generator
from ._recipes import empty_recipe
from ._rules import PositiveRule
from ._transforms import Transform


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
    method : {"auto", "exact", "hnsw", "faiss"}, default="auto"
        ``"auto"`` = exact below about 2e11 multiply-adds, hnswlib above.
        ``"faiss"`` = a faiss inverted-file index (IVF-Flat, IVF-PQ for the largest
        sets) over the same PCA projection as ``"hnsw"``, its ``nprobe`` tuned on a
        sample to find the exact nearest segment 98% of the time; it builds far
        faster than hnswlib at millions of segments. Needs the optional faiss-cpu
        (``pip install "sktriplet[faiss]"``).
    n_candidates : int, default=16
        Approximate candidates per anchor re-ranked exactly (``"hnsw"``,
        ``"faiss"``). With
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
        Seeds the PCA, the hnswlib or faiss index and the transforms of
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

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "exclude_same_clip": ["boolean"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "method": [StrOptions({"auto", "exact", "hnsw", "faiss"})],
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

    def _fit(self, data, anchors):
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
                    stacklevel=5,  # the caller of the sampler's fit
                )
        self.neighbors_ = neighbors
        self._row = np.full(data.n, -1, dtype=np.int64)
        self._row[anchors] = np.arange(len(anchors))

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
