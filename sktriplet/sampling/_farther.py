"""S3's second remedy: the nearest segment farther than the transformed anchor.

The paper notes that the nearest segment in input space may be a near copy of the
anchor. Its remedy: draw a transform of the anchor as strategy S1 would, and take as
positive the nearest segment whose input-space distance exceeds the anchor's distance
to its transformed self. These helpers serve :class:`NearestPositive`'s
``farther_than_transform`` option; they are index-based and vectorised.
"""

from __future__ import annotations

import numpy as np

from ._knn import BLOCK_FLOATS
from ._transforms import make_positives
from ._triplets import Triplets


def pair_distances(X, query, candidates):
    """Exact squared distances ``||X[query[i]] - X[candidates[i, j]]||^2`` (float64).

    ``candidates`` is 2-D, ``-1`` = none (distance ``inf``). The differences are
    formed explicitly (no norm expansion), blocked over the query rows.
    """
    n_q, n_c = candidates.shape
    out = np.full((n_q, n_c), np.inf)
    step = max(1, BLOCK_FLOATS // max(X.shape[1], 1))
    for s in range(0, n_q, step):
        a = X[query[s : s + step]]
        for j in range(n_c):
            c = candidates[s : s + step, j]
            ok = np.flatnonzero(c >= 0)
            if ok.size:
                d = a[ok] - X[c[ok]]
                out[s + ok, j] = np.square(d).sum(axis=1, dtype=np.float64)
    return out


def transform_distances(data, anchors, rule, rng):
    """``||a - T(a)||^2`` in input space, ``T`` drawn per anchor by ``rule``.

    ``rule`` is a fitted :class:`TransformPositive`: its recipes are materialised by
    :func:`make_positives`, blocked. Anchors for which no transform is possible get
    ``-inf`` (no constraint).
    """
    recipe = rule.draw(anchors, data, rng)
    ok = recipe.pop("ok")
    t = Triplets.empty(len(anchors))
    t.anchor[:] = anchors
    for key, value in recipe.items():
        getattr(t, key)[:] = value
    t.positive[~ok] = anchors[~ok]  # placeholders, never used
    t.transform[~ok] = -1
    X = data.X
    flat = X.reshape(X.shape[0], -1)
    out = np.full(len(anchors), -np.inf)
    step = max(1, BLOCK_FLOATS // max(flat.shape[1], 1))
    for s in range(0, len(anchors), step):
        rows = np.arange(s, min(s + step, len(anchors)))
        rows = rows[ok[rows]]
        if rows.size:
            pos = make_positives(X, t, rows).reshape(rows.size, -1)
            d = flat[anchors[rows]] - pos
            out[rows] = np.square(d).sum(axis=1, dtype=np.float64)
    return out


def farther_than(candidates, distances, threshold, k):
    """Per row, the ``k`` nearest candidates farther than ``threshold``.

    ``candidates``/``distances`` are sorted per row (``-1``/``inf`` = none). Rows
    where no candidate qualifies but some exist fall back to their farthest
    candidate. Returns ``(neighbours (n, k), fallback mask (n,))``.
    """
    n = candidates.shape[0]
    valid = candidates >= 0
    qual = valid & (distances > threshold[:, None])
    rank = np.cumsum(qual, axis=1) - 1
    keep = qual & (rank < k)
    out = np.full((n, k), -1, dtype=np.int64)
    rows, cols = np.nonzero(keep)
    out[rows, rank[rows, cols]] = candidates[rows, cols]
    fallback = valid.any(axis=1) & ~qual.any(axis=1)
    last = np.maximum(valid.sum(axis=1) - 1, 0)
    out[fallback, 0] = candidates[fallback, last[fallback]]
    return out, fallback
