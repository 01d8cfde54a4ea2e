"""Base classes: the fitted segment table, rules, and :class:`TripletSampler`."""

from __future__ import annotations

import numbers
import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._labels import check_semi_supervised_y, labeled_mask
from ..utils._validation import check_clip_array
from ._triplets import Triplets

#: Rounds of vectorised rejection sampling before the exact (enumerating) fallback.
N_REJECTION_ROUNDS = 8


def fill_random_states(estimator, seed: int) -> None:
    """Seed every ``random_state`` parameter of ``estimator`` that is ``None``.

    Nested rules (for example ``NearestPositive`` inside a ``RuleSampler``) draw at
    fit time with their own ``random_state``; an owner with a fixed seed fills the
    unset ones from it so that its fit is reproducible. Parameters the user set are
    kept. Seeds are derived from ``seed`` and the parameter's name, so they do not
    depend on the order of the parameters.
    """
    unset = {
        name: int(np.random.default_rng([seed, *name.encode()]).integers(2**31 - 1))
        for name, value in estimator.get_params(deep=True).items()
        if (name == "random_state" or name.endswith("__random_state"))
        and value is None
    }
    if unset:
        estimator.set_params(**unset)


def as_generator(random_state) -> np.random.Generator:
    """A numpy ``Generator`` from an int, ``RandomState``, ``Generator`` or None."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral):
        return np.random.default_rng(int(random_state))
    rs = check_random_state(random_state)
    return np.random.default_rng(rs.randint(np.iinfo(np.int32).max))


class SegmentData:
    """Everything the rules need about the training segments (no features kept).

    Labels are stored as bit masks (``uint64`` words) over the classes plus one
    virtual "no event" class that labelled rows without any event carry, so that
    "shares a label" is a bitwise and; unlabelled rows have an all-zero mask.
    """

    def __init__(self, X, y=None, clip_index=None, start_time=None):
        X = check_clip_array(X, name="X")
        n = X.shape[0]
        self.n = n
        self.n_frames, self.n_mels = X.shape[1], X.shape[2]
        self.X = X  # released by TripletSampler.fit once the rules are fitted
        if y is None:
            Y = np.full((n, 0), -1, dtype=np.int8)
            classes = np.arange(0)
        else:
            Y, classes, _ = check_semi_supervised_y(y, n, name="y")
        self.Y = Y
        self.classes = classes
        self.labeled = labeled_mask(Y) if Y.shape[1] else np.zeros(n, dtype=bool)

        if clip_index is None:
            clip = np.arange(n, dtype=np.int64)
        else:
            clip_index = np.asarray(clip_index)
            if clip_index.shape != (n,):
                raise ValueError(
                    f"clip_index must have shape ({n},) like the number of segments "
                    f"in X; got {clip_index.shape}."
                )
            _, clip = np.unique(clip_index, return_inverse=True)
            clip = clip.astype(np.int64).reshape(-1)
        self.clip = clip
        if start_time is None:
            start = np.zeros(n, dtype=np.float64)
        else:
            start = np.asarray(start_time, dtype=np.float64)
            if start.shape != (n,):
                raise ValueError(
                    f"start_time must have shape ({n},) like the number of segments "
                    f"in X; got {start.shape}."
                )
            if not np.isfinite(start).all():
                raise ValueError("start_time contains NaN or infinity.")
        self.start_time = start

        # Segments grouped by clip (CSR).
        self.clip_order = np.argsort(clip, kind="stable")
        counts = np.bincount(clip)
        self.clip_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.clip_size = counts[clip]
        self.clip_pos = np.empty(n, dtype=np.int64)  # rank of a segment in its clip
        self.clip_pos[self.clip_order] = np.arange(n) - np.repeat(
            self.clip_indptr[:-1], counts
        )

        # Label sets: indicator with the virtual "no event" class appended.
        ind = np.zeros((n, Y.shape[1] + 1), dtype=bool)
        if Y.shape[1]:
            ind[:, :-1] = Y == 1
        ind[:, -1] = self.labeled & ~ind[:, :-1].any(axis=1)
        self.indicator = ind
        n_words = (ind.shape[1] + 63) // 64
        padded = np.zeros((n, n_words * 64), dtype=bool)
        padded[:, : ind.shape[1]] = ind
        self.masks = np.packbits(padded, axis=1, bitorder="little").view(np.uint64)
        # Segments of each class (CSR) and classes of each segment (CSR).
        seg, cls = np.nonzero(ind)  # sorted by segment
        self.seg_label_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(seg, minlength=n))]
        ).astype(np.int64)
        self.seg_labels = cls.astype(np.int64)
        by_class = np.argsort(cls, kind="stable")
        self.class_members = seg[by_class].astype(np.int64)
        self.class_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(cls, minlength=ind.shape[1]))]
        ).astype(np.int64)
        self.labeled_idx = np.flatnonzero(self.labeled)
        self.unlabeled_idx = np.flatnonzero(~self.labeled)

    def shares_label(self, a, b) -> np.ndarray:
        """Whether segments ``a[i]`` and ``b[i]`` have a label in common."""
        return (self.masks[a] & self.masks[b]).any(axis=1)

    def n_labels(self, a) -> np.ndarray:
        return self.seg_label_indptr[a + 1] - self.seg_label_indptr[a]


def empty_recipe(anchors) -> dict:
    """Recipe arrays for ``anchors`` with the defaults: positive ``-1``, as is."""
    n = len(anchors)
    return {
        "positive": np.full(n, -1, np.int64),
        "transform": np.full(n, -1, np.int8),
        "time_shift": np.zeros(n, np.int32),
        "freq_shift": np.zeros(n, np.int32),
        "seed": np.zeros(n, np.int64),
        "alpha": np.zeros(n, np.float32),
        "ok": np.ones(n, dtype=bool),
    }


def rejection_sample(todo_n, propose, accept, n_rounds=N_REJECTION_ROUNDS):
    """Vectorised rejection sampling in a bounded number of rounds.

    ``propose(rows)`` returns one candidate per row, ``accept(rows, cand)`` a bool mask.
    Returns ``(values, rows_left)``: accepted candidates (``-1`` elsewhere) and the
    rows still without one, for an exact fallback.
    """
    out = np.full(todo_n, -1, dtype=np.int64)
    rows = np.arange(todo_n)
    for _ in range(n_rounds):
        if rows.size == 0:
            break
        cand = propose(rows)
        ok = accept(rows, cand)
        out[rows[ok]] = cand[ok]
        rows = rows[~ok]
    return out, rows


class PositiveRule(BaseEstimator, metaclass=ABCMeta):
    """Base class of positive rules; subclasses implement :meth:`draw`.

    Attributes ``requires_labels`` (anchors must be labelled) and ``needs_features``
    (``fit`` reads the segments' features) describe the rule.
    """

    requires_labels = False
    needs_features = False
    _parameter_constraints: dict = {}

    def fit(self, data: SegmentData, anchors: np.ndarray):
        """Prepare for drawing positives of the segments ``anchors``."""
        return self

    @abstractmethod
    def draw(self, anchors, data: SegmentData, rng) -> dict:
        """Return a recipe dict (see ``empty_recipe``) with ``ok`` = found."""


class NegativeRule(BaseEstimator, metaclass=ABCMeta):
    """Base class of negative rules; subclasses implement :meth:`draw`."""

    requires_labels = False
    needs_features = False
    _parameter_constraints: dict = {}

    def fit(self, data: SegmentData, anchors: np.ndarray):
        """Prepare for drawing negatives of the segments ``anchors``."""
        return self

    @abstractmethod
    def draw(self, anchors, positive, data: SegmentData, rng):
        """Return ``(negative, ok)``: segment indices (``-1`` = mine) and found."""


class TripletSampler(BaseEstimator, metaclass=ABCMeta):
    """Base class of triplet samplers.

    ``fit`` validates the training segments and their labels; ``sample`` draws the
    anchors of one epoch (exact labelled/unlabelled counts) and calls the abstract
    ``_sample(anchors, labeled, rng)``, which returns a :class:`Triplets` for those
    anchors (dropping the ones without a valid positive or negative and counting them
    in ``n_skipped``). Subclasses set ``_labeled_anchors`` / ``_unlabeled_anchors``
    (which anchor pools exist) and may override ``_fit(data)``.

    Fitted attributes (set by ``fit``): ``n_segments_``, ``labels_`` (``int8``
    indicator, unlabelled rows ``-1``), ``classes_``, ``labeled_mask_``,
    ``clip_index_`` (``int64`` clip codes), ``start_time_``.

    Examples
    --------
    A new strategy by subclassing: clips hold two segments; the positive is the other
    segment of the anchor's clip, the negative is mined semi-hard.

    >>> import numpy as np
    >>> from sktriplet.sampling import Triplets, TripletSampler
    >>> class OtherHalf(TripletSampler):
    ...     def _sample(self, anchors, labeled, rng):
    ...         t = Triplets.empty(len(anchors))
    ...         t.anchor[:], t.positive[:] = anchors, anchors ^ 1
    ...         t.labeled[:] = labeled
    ...         return t
    >>> X = np.zeros((6, 4, 2), dtype=np.float32)
    >>> s = OtherHalf().fit(X, clip_index=[0, 0, 1, 1, 2, 2])
    >>> t = s.sample(4, random_state=0)
    >>> bool((s.clip_index_[t.positive] == s.clip_index_[t.anchor]).all())
    True
    """

    _parameter_constraints: dict = {}
    #: Whether the sampler draws labelled anchors (label rules).
    _labeled_anchors = False
    #: Whether it draws anchors treated as unlabelled (when labelled anchors are not
    #: drawn at all, every segment is such an anchor: labels are ignored).
    _unlabeled_anchors = True

    @property
    def requires_labels(self) -> bool:
        """Whether ``fit`` needs at least one labelled segment."""
        return self._labeled_anchors and not self._unlabeled_anchors

    @property
    def uses_semihard(self) -> bool:
        """Whether some triplets have negatives mined semi-hard (``negative == -1``)."""
        return True

    def fit(self, X, y=None, *, clip_index=None, start_time=None):
        """Fit on the training segments.

        Parameters
        ----------
        X : array-like of shape (n_segments, n_frames, n_mels)
            Segments as the network sees them (or their 2-D flattening
            ``(n_segments, n_features)``).
        y : array-like of shape (n_segments,) or (n_segments, n_classes), default=None
            1-D classes or multi-label indicator; ``-1`` (rows) = unlabelled.
        clip_index : array-like of shape (n_segments,), default=None
            Clip of each segment; by default each segment is its own clip.
        start_time : array-like of shape (n_segments,), default=None
            Start of each segment in its clip, in seconds; by default 0.

        Returns
        -------
        self : object
        """
        self._validate_params()
        data = SegmentData(X, y, clip_index, start_time)
        if data.n < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 segments to draw triplets; "
                f"X has {data.n}."
            )
        if self.requires_labels and not data.labeled.any():
            raise ValueError(
                f"{type(self).__name__} uses only labelled anchors, but y has no "
                "labelled segment (y is None or every row is -1)."
            )
        self._fit(data)
        data.X = None
        self._data = data
        self.n_segments_ = data.n
        self.labels_ = data.Y
        self.classes_ = data.classes
        self.labeled_mask_ = data.labeled
        self.clip_index_ = data.clip
        self.start_time_ = data.start_time
        return self

    def _fit(self, data: SegmentData) -> None:
        """Hook for subclasses: prepare from the segment table (features in data.X)."""

    def _anchor_counts(self, n_triplets, labeled_ratio):
        data = self._data
        lab_pool = data.labeled_idx if self._labeled_anchors else data.labeled_idx[:0]
        if not self._labeled_anchors:
            unl_pool = np.arange(data.n)
        elif self._unlabeled_anchors:
            unl_pool = data.unlabeled_idx
        else:
            unl_pool = data.unlabeled_idx[:0]
        name = type(self).__name__
        if not self._labeled_anchors:
            if labeled_ratio not in (None, 0):
                raise ValueError(
                    f"{name} ignores labels (all anchors are unlabelled); "
                    f"labeled_ratio must be None or 0, got {labeled_ratio}."
                )
            return (lab_pool, 0), (unl_pool, n_triplets)
        if not self._unlabeled_anchors:
            if labeled_ratio not in (None, 1):
                raise ValueError(
                    f"{name} uses only labelled anchors; labeled_ratio must be None "
                    f"or 1, got {labeled_ratio}."
                )
            return (lab_pool, n_triplets), (unl_pool, 0)
        if labeled_ratio is None:
            n_lab = int(round(n_triplets * len(lab_pool) / data.n))
        else:
            n_lab = int(round(labeled_ratio * n_triplets))
        n_unl = n_triplets - n_lab
        if n_lab and not len(lab_pool):
            raise ValueError(
                f"labeled_ratio={labeled_ratio} asks for {n_lab} labelled anchors but "
                "there is no labelled segment."
            )
        if n_unl and not len(unl_pool):
            raise ValueError(
                f"labeled_ratio={labeled_ratio} asks for {n_unl} unlabelled anchors "
                "but every segment is labelled; use labeled_ratio=None or 1."
            )
        return (lab_pool, n_lab), (unl_pool, n_unl)

    def sample(self, n_triplets, *, labeled_ratio=None, random_state=None):
        """Draw the triplets of one epoch.

        Parameters
        ----------
        n_triplets : int
            Number of anchors to draw (at least 1). Anchors are drawn without
            replacement while the pool lasts.
        labeled_ratio : float in [0, 1], default=None
            Share of labelled anchors: exactly ``round(labeled_ratio * n_triplets)``.
            None = the share of labelled segments in the data.
        random_state : int, RandomState instance, Generator or None, default=None
            Randomness of this draw.

        Returns
        -------
        triplets : Triplets
            Shuffled triplets; anchors without a valid positive or negative are
            dropped and counted in ``triplets.n_skipped`` (with a warning).
        """
        check_is_fitted(self, "n_segments_")
        if isinstance(n_triplets, bool) or not isinstance(n_triplets, numbers.Integral):
            raise TypeError(
                f"n_triplets must be an int, got {type(n_triplets).__name__}."
            )
        if n_triplets < 1:
            raise ValueError(f"n_triplets must be >= 1, got {n_triplets}.")
        if labeled_ratio is not None:
            if isinstance(labeled_ratio, bool) or not isinstance(
                labeled_ratio, numbers.Real
            ):
                raise TypeError(
                    "labeled_ratio must be None or a float in [0, 1], got "
                    f"{type(labeled_ratio).__name__}."
                )
            if not 0 <= labeled_ratio <= 1:
                raise ValueError(
                    f"labeled_ratio must be in [0, 1], got {labeled_ratio}."
                )
        rng = as_generator(random_state)
        (lab_pool, n_lab), (unl_pool, n_unl) = self._anchor_counts(
            int(n_triplets), labeled_ratio
        )
        anchors = np.concatenate(
            [_draw_pool(lab_pool, n_lab, rng), _draw_pool(unl_pool, n_unl, rng)]
        )
        labeled = np.zeros(len(anchors), dtype=bool)
        labeled[:n_lab] = True
        order = rng.permutation(len(anchors))
        triplets = self._sample(anchors[order], labeled[order], rng)
        if not isinstance(triplets, Triplets):
            raise TypeError(
                f"{type(self).__name__}._sample must return a Triplets, got "
                f"{type(triplets).__name__}."
            )
        n = self.n_segments_
        for field in ("anchor", "positive", "negative"):
            values = getattr(triplets, field)
            if len(values) and (values.min() < -1 or values.max() >= n):
                raise ValueError(
                    f"{type(self).__name__}._sample returned {field} indices outside "
                    f"[-1, {n})."
                )
        if triplets.n_skipped:
            warnings.warn(
                f"{triplets.n_skipped} of {n_triplets} anchors were skipped: no valid "
                "positive or negative exists for them.",
                UserWarning,
                stacklevel=2,
            )
        return triplets

    @abstractmethod
    def _sample(self, anchors, labeled, rng) -> Triplets:
        """Return the triplets of ``anchors`` (``labeled``: use label rules)."""


def _draw_pool(pool, k, rng):
    """``k`` items of ``pool``: without replacement while it lasts, then again."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    reps, rest = divmod(k, len(pool))
    parts = [rng.permutation(pool) for _ in range(reps)]
    if rest:
        parts.append(rng.choice(pool, size=rest, replace=False))
    return np.concatenate(parts).astype(np.int64)
