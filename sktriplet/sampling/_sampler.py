"""The base class of triplet samplers: fit on segments, sample one epoch."""

from __future__ import annotations

import numbers
import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._data import SegmentData
from ._random import as_generator, draw_pool
from ._triplets import Triplets


class TripletSampler(BaseEstimator, metaclass=ABCMeta):
    """Base class of triplet samplers.

    ``fit`` validates the training segments and their labels; ``sample`` draws the
    anchors of one epoch (exact labelled/unlabelled counts) and calls the abstract
    ``_sample(anchors, labeled, rng)``, which returns a :class:`Triplets` for those
    anchors (dropping the ones without a valid positive or negative and counting them
    in ``n_skipped``). Subclasses set ``_labeled_anchors`` / ``_unlabeled_anchors``
    (which anchor pools exist, read through the public properties
    ``uses_labeled_anchors`` / ``uses_unlabeled_anchors``) and may override
    ``_fit(data)``.

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
    >>> s.uses_labeled_anchors, s.uses_unlabeled_anchors  # labels are ignored
    (False, True)
    """

    _parameter_constraints: dict = {}
    #: Whether the sampler draws labelled anchors (label rules).
    _labeled_anchors = False
    #: Whether it draws anchors treated as unlabelled (when labelled anchors are not
    #: drawn at all, every segment is such an anchor: labels are ignored).
    _unlabeled_anchors = True

    @property
    def uses_labeled_anchors(self) -> bool:
        """Whether ``sample`` draws labelled anchors (with the label rules).

        Read-only; subclasses decide it with the ``_labeled_anchors`` attribute.
        """
        return bool(self._labeled_anchors)

    @property
    def uses_unlabeled_anchors(self) -> bool:
        """Whether ``sample`` draws anchors treated as unlabelled.

        When no labelled anchors are drawn at all (``uses_labeled_anchors`` is
        False), every segment is such an anchor and labels are ignored. Read-only;
        subclasses decide it with the ``_unlabeled_anchors`` attribute.
        """
        return bool(self._unlabeled_anchors)

    @property
    def requires_labels(self) -> bool:
        """Whether ``fit`` needs at least one labelled segment."""
        return self.uses_labeled_anchors and not self.uses_unlabeled_anchors

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
            [draw_pool(lab_pool, n_lab, rng), draw_pool(unl_pool, n_unl, rng)]
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
