"""Positive and negative rules: one base with the template method.

A rule is fitted on the segment table and the anchors it will serve (public
:meth:`~BaseRule.fit` validates, the private ``_fit`` hook prepares), then draws
for batches of anchors.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator

from ._data import SegmentData


class BaseRule(BaseEstimator, metaclass=ABCMeta):
    """Base of :class:`PositiveRule` and :class:`NegativeRule`.

    ``fit`` validates the parameters and the anchors, then calls the ``_fit`` hook
    (nothing to prepare by default). The class attribute ``requires_labels`` says
    whether the anchors must be labelled.
    """

    requires_labels = False
    _parameter_constraints: dict = {}

    def fit(self, data: SegmentData, anchors):
        """Prepare for drawing for the segments ``anchors``.

        Parameters
        ----------
        data : SegmentData
            The training segments (their features in ``data.X`` during ``fit``).
        anchors : array-like of int, shape (n_anchors,)
            Segments the rule will draw for.

        Returns
        -------
        self : object
        """
        self._validate_params()
        anchors = np.asarray(anchors)
        if anchors.ndim != 1 or (anchors.size and anchors.dtype.kind not in "iu"):
            raise ValueError(
                f"anchors must be a 1-D array of segment indices, got shape "
                f"{anchors.shape} and dtype {anchors.dtype}."
            )
        anchors = anchors.astype(np.int64, copy=False)
        if anchors.size and (anchors.min() < 0 or anchors.max() >= data.n):
            raise ValueError(f"anchors must be segment indices in [0, {data.n}).")
        self._fit(data, anchors)
        return self

    def _fit(self, data: SegmentData, anchors: np.ndarray) -> None:
        """Hook for subclasses: prepare from the segment table and the anchors."""


class PositiveRule(BaseRule):
    """Base class of positive rules; subclasses implement :meth:`draw`.

    ``fit`` validates and calls the ``_fit(data, anchors)`` hook; the class
    attribute ``requires_labels`` says whether the anchors must be labelled.
    """

    @abstractmethod
    def draw(self, anchors, data: SegmentData, rng) -> dict:
        """Return a recipe dict (see ``empty_recipe``) with ``ok`` = found."""


class NegativeRule(BaseRule):
    """Base class of negative rules; subclasses implement :meth:`draw`.

    ``fit`` validates and calls the ``_fit(data, anchors)`` hook; the class
    attribute ``requires_labels`` says whether the anchors must be labelled.
    """

    @abstractmethod
    def draw(self, anchors, positive, data: SegmentData, rng):
        """Return ``(negative, ok)``: segment indices (``-1`` = mine) and found."""
