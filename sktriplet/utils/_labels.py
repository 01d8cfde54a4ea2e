"""Semi-supervised targets: multi-label indicators or 1-D classes, -1 = unlabelled.

Conventions used everywhere in sktriplet:

* a 2-D ``y`` of shape ``(n, n_classes)`` is a multi-label indicator; a row of all
  ``-1`` is an *unlabelled* clip, a row of all ``0`` is a *labelled clip with no event*;
* a 1-D ``y`` holds one class per row (any integer or string values), ``-1`` marks an
  unlabelled row (scikit-learn's semi-supervised convention).

Both are turned into one internal form: an ``int8`` indicator matrix whose unlabelled
rows are all ``-1``.
"""

from __future__ import annotations

import numpy as np

UNLABELED = -1


def check_semi_supervised_y(y, n_samples: int | None = None, *, name: str = "y"):
    """Validate a semi-supervised target and return it as an indicator matrix.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_classes)
        Multi-label indicator with all ``-1`` rows for unlabelled samples, or a 1-D
        class vector with ``-1`` for unlabelled samples.
    n_samples : int, default=None
        Expected number of rows; a mismatch raises ``ValueError``.
    name : str, default="y"
        Argument name used in error messages.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_classes), dtype int8
        Indicator matrix, unlabelled rows all ``-1``.
    classes : ndarray
        Class labels: column indices for 2-D input, the sorted distinct labels for
        1-D input.
    is_1d : bool
        Whether ``y`` was a 1-D class vector.
    """
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (class per row, -1 = unlabelled) or 2-D (multi-label "
            f"indicator, rows of -1 = unlabelled); got an array with shape {y.shape}."
        )
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {y.shape[0]} rows but X has {n_samples} samples; they must "
            "have the same length."
        )
    if y.ndim == 1:
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity.")
        if y.dtype.kind in "OUS":
            unlabeled = np.array([str(v) == "-1" for v in y], dtype=bool)
        else:
            unlabeled = y == UNLABELED
        classes = np.unique(y[~unlabeled]) if (~unlabeled).any() else y[:0]
        Y = np.full((y.shape[0], len(classes)), UNLABELED, dtype=np.int8)
        if len(classes):
            idx = np.searchsorted(classes, y[~unlabeled])
            Y[~unlabeled] = 0
            Y[np.flatnonzero(~unlabeled), idx] = 1
        return Y, classes, True

    if y.dtype.kind not in "iufb":
        raise TypeError(
            f"{name} as a 2-D indicator matrix must be numeric; got dtype {y.dtype}."
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity.")
    bad = ~np.isin(y, (-1, 0, 1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} must contain only -1 (unlabelled row), 0 and 1; found "
            f"{y[row, col]!r} at row {row}, column {col}."
        )
    Y = y.astype(np.int8)
    neg = Y == UNLABELED
    mixed = neg.any(axis=1) & ~neg.all(axis=1)
    if mixed.any():
        raise ValueError(
            f"{name}: an unlabelled row must be all -1, but row "
            f"{np.flatnonzero(mixed)[0]} mixes -1 with 0/1 "
            f"({int(mixed.sum())} such rows)."
        )
    return Y, np.arange(Y.shape[1]), False


def labeled_mask(Y) -> np.ndarray:
    """Boolean mask of the labelled rows of an indicator (rows not all ``-1``)."""
    Y = np.asarray(Y)
    if Y.ndim == 1:
        return Y != UNLABELED
    if Y.shape[1] == 0:
        return np.zeros(Y.shape[0], dtype=bool)
    return ~(Y == UNLABELED).all(axis=1)
