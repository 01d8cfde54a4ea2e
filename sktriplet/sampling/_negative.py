"""Negative rules: no shared label, or semi-hard mining over embeddings."""

from __future__ import annotations

import numpy as np

from ._recipes import rejection_sample
from ._rules import NegativeRule

#: Largest number of distinct label sets checked pairwise in ``LabelNegative.fit``.
_MAX_LABEL_SETS_CHECKED = 4096


class LabelNegative(NegativeRule):
    """Negative = a labelled segment sharing no label with the (labelled) anchor.

    Matching is by set intersection of label sets (bit masks). A labelled segment
    without any event counts as carrying a "no event" label.

    Examples
    --------
    >>> from sktriplet.sampling import LabelNegative
    >>> LabelNegative().requires_labels
    True
    """

    requires_labels = True

    def _fit(self, data, anchors):
        ind = data.indicator[data.labeled]
        if ind.shape[0]:
            sets = np.unique(ind, axis=0)
            if len(sets) <= _MAX_LABEL_SETS_CHECKED:
                f = sets.astype(np.float32)
                if ((f @ f.T) > 0).all():
                    raise ValueError(
                        "No label negative is possible: every pair of labelled "
                        "segments shares a label (is only one class present?). Use "
                        "SemiHardNegative or provide labels of several classes."
                    )

    def draw(self, anchors, positive, data, rng):
        pool = data.labeled_idx
        if not pool.size:
            return np.full(len(anchors), -1, np.int64), np.zeros(len(anchors), bool)
        out, left = rejection_sample(
            len(anchors),
            lambda rows: pool[rng.integers(0, len(pool), size=len(rows))],
            lambda rows, cand: ~data.shares_label(anchors[rows], cand),
        )
        if left.size:  # exact fallback, once per distinct label set
            sets, group = np.unique(
                data.masks[anchors[left]], axis=0, return_inverse=True
            )
            group = group.reshape(-1)
            pool_masks = data.masks[pool]
            for g, m in enumerate(sets):
                cand = pool[~(pool_masks & m).any(axis=1)]
                rows = left[group == g]
                if cand.size:
                    out[rows] = cand[rng.integers(0, cand.size, size=rows.size)]
        return out, out >= 0


class SemiHardNegative(NegativeRule):
    """Negative mined semi-hard over embeddings during training (``negative = -1``).

    The embedder applies :func:`sktriplet.nn.semihard_negatives` inside each batch:
    the closest candidate farther from the anchor than the positive.

    Examples
    --------
    >>> from sktriplet.sampling import SemiHardNegative
    >>> SemiHardNegative().requires_labels
    False
    """

    def draw(self, anchors, positive, data, rng):
        n = len(anchors)
        return np.full(n, -1, np.int64), np.ones(n, dtype=bool)
