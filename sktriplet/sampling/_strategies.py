"""Compose rules into samplers; the paper's strategies S1..S5 by name."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from sklearn.base import clone

from ._nearest import NearestPositive
from ._negative import LabelNegative, SemiHardNegative
from ._positive import LabelPositive, TransformPositive
from ._rules import NegativeRule, PositiveRule
from ._sampler import TripletSampler
from ._triplets import Triplets

_SLOTS = ("labeled", "unlabeled")
_ROLES = ("positive", "negative")


class RuleSampler(TripletSampler):
    """A triplet sampler composed of a (positive, negative) rule pair per anchor kind.

    Labelled anchors use the ``labeled`` rules, the others the ``unlabeled`` rules.
    With ``labeled=None`` labels are ignored and every segment is an unlabelled
    anchor; with ``unlabeled=None`` only labelled anchors are drawn.

    Nested parameters route with ``__``: ``labeled__positive`` is the labelled
    positive rule, ``unlabeled__negative__...`` a parameter of the unlabelled
    negative rule (``get_params``, ``set_params``, ``GridSearchCV``).

    Parameters
    ----------
    labeled : tuple of (PositiveRule, NegativeRule), default=None
        Rules for labelled anchors.
    unlabeled : tuple of (PositiveRule, NegativeRule), default=None
        Rules for unlabelled anchors (they must not need labels).

    Attributes
    ----------
    labeled_rules_, unlabeled_rules_ : tuple of fitted rules or None
    n_segments_ : int
    labels_ : ndarray of shape (n_segments, n_classes), dtype int8
        Indicator of the segments' labels, unlabelled rows ``-1``.
    classes_ : ndarray
    labeled_mask_ : ndarray of bool
    clip_index_ : ndarray of int64
        Clip code of each segment.
    start_time_ : ndarray of float64

    See Also
    --------
    get_sampler : The paper's strategies S1..S5 by name.
    TripletSampler : Base class, for strategies that rules cannot express.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.sampling import (LabelNegative, LabelPositive, RuleSampler,
    ...     SemiHardNegative, TransformPositive)
    >>> X = np.random.default_rng(0).normal(size=(8, 4, 3)).astype(np.float32)
    >>> y = [0, 0, 1, 1, -1, -1, -1, -1]
    >>> sampler = RuleSampler(labeled=(LabelPositive(), LabelNegative()),
    ...                       unlabeled=(TransformPositive(), SemiHardNegative()))
    >>> t = sampler.fit(X, y).sample(6, labeled_ratio=0.5, random_state=0)
    >>> int(t.labeled.sum()), int((t.negative == -1).sum())
    (3, 3)
    """

    _parameter_constraints = {
        "labeled": [tuple, list, None],
        "unlabeled": [tuple, list, None],
    }

    def __init__(self, labeled=None, unlabeled=None):
        self.labeled = labeled
        self.unlabeled = unlabeled

    @property
    def _labeled_anchors(self):
        return self.labeled is not None

    @property
    def _unlabeled_anchors(self):
        return self.unlabeled is not None

    # -- nested parameters ------------------------------------------------------
    def get_params(self, deep=True):
        params = super().get_params(deep=False)
        if not deep:
            return params
        for slot in _SLOTS:
            pair = params[slot]
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                continue
            for role, rule in zip(_ROLES, pair):
                params[f"{slot}__{role}"] = rule
                if hasattr(rule, "get_params"):
                    for key, value in rule.get_params(deep=True).items():
                        params[f"{slot}__{role}__{key}"] = value
        return params

    def set_params(self, **params):
        own = {}
        nested = {}
        for key, value in params.items():
            slot, sep, rest = key.partition("__")
            if sep and slot in _SLOTS:
                nested.setdefault(slot, {})[rest] = value
            else:
                own[key] = value
        if own:
            super().set_params(**own)
        for slot, items in nested.items():
            pair = getattr(self, slot)
            if pair is None or len(pair) != 2:
                raise ValueError(
                    f"Cannot set {slot}__... parameters: {slot} is {pair!r}."
                )
            pair = list(pair)
            for key, value in items.items():
                role, sep, sub = key.partition("__")
                if role not in _ROLES:
                    raise ValueError(
                        f"Invalid parameter {slot}__{key!r}: after '{slot}__' use "
                        "'positive' or 'negative'."
                    )
                i = _ROLES.index(role)
                if sep:
                    pair[i].set_params(**{sub: value})
                else:
                    pair[i] = value
            setattr(self, slot, tuple(pair))
        return self

    # -- fitting and sampling ---------------------------------------------------
    def _check_pair(self, slot):
        pair = getattr(self, slot)
        if pair is None:
            return None
        if len(pair) != 2:
            raise ValueError(
                f"{slot} must be a (positive_rule, negative_rule) pair; got "
                f"{len(pair)} items."
            )
        pos, neg = pair
        if not isinstance(pos, PositiveRule):
            raise TypeError(
                f"{slot}[0] must be a positive rule (LabelPositive, "
                f"TransformPositive, NearestPositive), got {type(pos).__name__}."
            )
        if not isinstance(neg, NegativeRule):
            raise TypeError(
                f"{slot}[1] must be a negative rule (LabelNegative, "
                f"SemiHardNegative), got {type(neg).__name__}."
            )
        if slot == "unlabeled":
            for rule in pair:
                if rule.requires_labels:
                    raise ValueError(
                        f"{type(rule).__name__} needs labelled anchors; it cannot be "
                        "an unlabeled rule."
                    )
        return clone(pos), clone(neg)

    def _fit(self, data):
        if self.labeled is None and self.unlabeled is None:
            raise ValueError("RuleSampler needs labeled or unlabeled rules (or both).")
        self.labeled_rules_ = self._check_pair("labeled")
        self.unlabeled_rules_ = self._check_pair("unlabeled")
        if self.labeled_rules_ is not None:
            for rule in self.labeled_rules_:
                rule.fit(data, data.labeled_idx)
        if self.unlabeled_rules_ is not None:
            pool = data.unlabeled_idx if self.labeled is not None else np.arange(data.n)
            if len(pool):
                for rule in self.unlabeled_rules_:
                    rule.fit(data, pool)

    def _sample(self, anchors, labeled, rng):
        data = self._data
        out = Triplets.empty(len(anchors))
        out.anchor[:] = anchors
        out.labeled[:] = labeled
        keep = np.zeros(len(anchors), dtype=bool)
        groups = ((True, self.labeled_rules_), (False, self.unlabeled_rules_))
        for flag, rules in groups:
            rows = np.flatnonzero(labeled == flag)
            if not rows.size:
                continue
            pos_rule, neg_rule = rules
            recipe = pos_rule.draw(anchors[rows], data, rng)
            ok = recipe.pop("ok")
            for key, value in recipe.items():
                getattr(out, key)[rows] = value
            negative, ok_neg = neg_rule.draw(
                anchors[rows], recipe["positive"], data, rng
            )
            out.negative[rows] = negative
            keep[rows] = ok & ok_neg
        triplets = out[keep]
        triplets.n_skipped = int((~keep).sum())
        return triplets


def _s1():
    return RuleSampler(unlabeled=(TransformPositive(), SemiHardNegative()))


def _s2():
    return RuleSampler(
        labeled=(LabelPositive(), LabelNegative()),
        unlabeled=(TransformPositive(), SemiHardNegative()),
    )


def _s3():
    return RuleSampler(
        labeled=(LabelPositive(), LabelNegative()),
        unlabeled=(NearestPositive(), SemiHardNegative()),
    )


def _s4():
    return RuleSampler(labeled=(LabelPositive(), SemiHardNegative()))


def _s5():
    return RuleSampler(labeled=(LabelPositive(), LabelNegative()))


#: The paper's strategies (Table 1): name -> factory returning a fresh sampler.
#: s1 unsupervised (transform positive, semi-hard negative, labels ignored);
#: s2 labelled anchors: label positive + label negative, unlabelled: as s1;
#: s3 labelled: label rules, unlabelled: nearest positive + semi-hard negative;
#: s4 labelled only: label positive + semi-hard negative;
#: s5 labelled only: label positive + label negative.
STRATEGIES = MappingProxyType({"s1": _s1, "s2": _s2, "s3": _s3, "s4": _s4, "s5": _s5})


def get_sampler(name_or_sampler="s2", **params):
    """A fresh, unfitted sampler from a strategy name or a sampler instance.

    Parameters
    ----------
    name_or_sampler : {"s1", "s2", "s3", "s4", "s5"} or TripletSampler, default="s2"
        Strategy name (case-insensitive, see :data:`STRATEGIES`), or a sampler,
        which is cloned.
    **params
        Parameters set on the sampler, e.g.
        ``unlabeled__positive__n_neighbors=3``. S3's unlabelled positive rule
        (:class:`NearestPositive`) sits at ``unlabeled__positive``: the paper's two
        remedies for its nearest positive are
        ``unlabeled__positive__n_neighbors=k`` (drawn at random among the ``k``
        nearest) and ``unlabeled__positive__farther_than_transform=True`` (the
        nearest farther than the transformed anchor; with
        ``unlabeled__positive__n_candidates`` and, for reproducibility,
        ``unlabeled__positive__random_state``).

    Returns
    -------
    sampler : TripletSampler

    Examples
    --------
    >>> from sktriplet.sampling import get_sampler
    >>> s = get_sampler("s3", unlabeled__positive__n_neighbors=2)
    >>> s.get_params()["unlabeled__positive__n_neighbors"]
    2
    >>> s = get_sampler("s3", unlabeled__positive__farther_than_transform=True)
    >>> s.unlabeled[0].farther_than_transform
    True
    """
    if isinstance(name_or_sampler, str):
        key = name_or_sampler.lower()
        if key not in STRATEGIES:
            raise ValueError(
                f"Unknown sampling strategy {name_or_sampler!r}; valid names are "
                f"{sorted(STRATEGIES)} (or pass a TripletSampler instance)."
            )
        sampler = STRATEGIES[key]()
    elif isinstance(name_or_sampler, TripletSampler):
        sampler = clone(name_or_sampler)
    else:
        raise TypeError(
            "name_or_sampler must be a strategy name "
            f"{sorted(STRATEGIES)} or a TripletSampler, got "
            f"{type(name_or_sampler).__name__}."
        )
    if params:
        sampler.set_params(**params)
    return sampler
