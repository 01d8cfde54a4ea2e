"""Positive rules: shared label, or a transform of the anchor."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ._recipes import empty_recipe, rejection_sample
from ._rules import PositiveRule
from ._transforms import (
    ExampleMixing,
    GaussianNoise,
    TemporalProximity,
    TimeFrequencyShift,
    Transform,
)


class LabelPositive(PositiveRule):
    """Positive = a segment sharing at least one label with the (labelled) anchor.

    One of the anchor's labels is drawn uniformly, then a segment carrying it. A
    labelled segment without any event (an all-zero row) counts as carrying a
    "no event" label. Anchors whose labels no other eligible segment carries are
    skipped.

    Parameters
    ----------
    exclude_same_clip : bool, default=True
        Never take the positive from the anchor's own clip.

    Examples
    --------
    >>> from sktriplet.sampling import LabelPositive
    >>> LabelPositive().requires_labels
    True
    """

    requires_labels = True
    _parameter_constraints = {"exclude_same_clip": ["boolean"]}

    def __init__(self, exclude_same_clip=True):
        self.exclude_same_clip = exclude_same_clip

    def _eligible(self, data, a, cand):
        ok = cand != a
        if self.exclude_same_clip:
            ok &= data.clip[cand] != data.clip[a]
        return ok

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        n_lab = data.n_labels(anchors)
        first = data.seg_label_indptr[anchors]
        class_size = np.diff(data.class_indptr)
        last = len(data.seg_labels) - 1

        def propose(rows):
            a_lab = np.maximum(n_lab[rows], 1)
            j = np.minimum(first[rows] + rng.integers(0, a_lab), last)
            k = data.seg_labels[j]
            m = data.class_indptr[k] + rng.integers(0, np.maximum(class_size[k], 1))
            return data.class_members[m]

        def accept(rows, cand):
            return (n_lab[rows] > 0) & self._eligible(data, anchors[rows], cand)

        if len(data.seg_labels) == 0:
            r["ok"][:] = False
            return r
        out, left = rejection_sample(len(anchors), propose, accept)
        for i in left:  # exact fallback: enumerate the segments of its labels
            a = anchors[i]
            labels = data.seg_labels[first[i] : first[i] + n_lab[i]]
            if not labels.size:
                continue
            cand = np.concatenate(
                [
                    data.class_members[data.class_indptr[k] : data.class_indptr[k + 1]]
                    for k in labels
                ]
            )
            cand = np.unique(cand)
            cand = cand[self._eligible(data, a, cand)]
            if cand.size:
                out[i] = rng.choice(cand)
        r["positive"][:] = out
        r["ok"][:] = out >= 0
        return r


def _paper_transforms():
    return [GaussianNoise(), TimeFrequencyShift(), TemporalProximity(), ExampleMixing()]


class TransformPositive(PositiveRule):
    """Positive = the anchor transformed, the transform drawn per triplet.

    When the drawn transform is impossible for an anchor (e.g. temporal proximity in
    a one-segment clip), another one is drawn among the rest.

    Parameters
    ----------
    transforms : list of Transform, default=None
        None = the paper's four: ``GaussianNoise(0.5)``, ``TimeFrequencyShift(10)``,
        ``TemporalProximity(10.0)``, ``ExampleMixing(0.25)``.
    weights : array-like of float, default=None
        Probability weights of the transforms (None = uniform).

    Attributes
    ----------
    transforms_ : list of Transform
        Validated copies of the transforms.
    probabilities_ : ndarray of float
        Normalised weights.

    Examples
    --------
    >>> from sktriplet.sampling import GaussianNoise, TransformPositive
    >>> rule = TransformPositive(transforms=[GaussianNoise(sigma=0.1)])
    >>> rule.get_params()["weights"] is None
    True
    """

    _parameter_constraints = {
        "transforms": [list, tuple, None],
        "weights": ["array-like", None],
    }

    def __init__(self, transforms=None, weights=None):
        self.transforms = transforms
        self.weights = weights

    def _fit(self, data, anchors):
        transforms = _paper_transforms() if self.transforms is None else self.transforms
        if not len(transforms):
            raise ValueError("transforms must name at least one transform.")
        for t in transforms:
            if not isinstance(t, Transform):
                raise TypeError(
                    "transforms must be Transform instances (GaussianNoise, "
                    "TimeFrequencyShift, TemporalProximity, ExampleMixing), got "
                    f"{type(t).__name__}."
                )
        self.transforms_ = [clone(t) for t in transforms]
        for t in self.transforms_:
            t._validate_params()
        if self.weights is None:
            w = np.ones(len(transforms))
        else:
            w = np.asarray(self.weights, dtype=np.float64).reshape(-1)
            if w.shape[0] != len(transforms):
                raise ValueError(
                    f"weights has {w.shape[0]} entries for {len(transforms)} "
                    "transforms."
                )
            if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(
                    "weights must be finite, non-negative and not all zero."
                )
        self.probabilities_ = w / w.sum()

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        n, k = len(anchors), len(self.transforms_)
        p = self.probabilities_
        choice = rng.choice(k, size=n, p=p)
        tried = np.zeros((n, k), dtype=bool)
        done = np.zeros(n, dtype=bool)
        for _ in range(k):
            for t, transform in enumerate(self.transforms_):
                rows = np.flatnonzero(~done & (choice == t))
                if not rows.size:
                    continue
                rec = transform.draw(anchors[rows], data, rng)
                ok = rec.pop("ok")
                for key, value in rec.items():
                    r[key][rows[ok]] = value[ok]
                done[rows[ok]] = True
                tried[rows, t] = True
            rows = np.flatnonzero(~done)
            if not rows.size:
                break
            w = p[None, :] * ~tried[rows]
            total = w.sum(axis=1)
            has = total > 0
            rows, w, total = rows[has], w[has], total[has]
            if not rows.size:
                break
            u = rng.random(len(rows)) * total
            choice[rows] = np.minimum(
                (np.cumsum(w, axis=1) <= u[:, None]).sum(axis=1), k - 1
            )
            choice[np.flatnonzero(~done)[~np.isin(np.flatnonzero(~done), rows)]] = -1
        r["ok"][:] = done
        return r

