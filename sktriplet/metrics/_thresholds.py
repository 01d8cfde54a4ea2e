"""Per-class decision thresholds chosen on held-out labelled clips."""

from __future__ import annotations

import numpy as np

from ..utils._labels import labeled_mask

#: Candidate thresholds of :func:`select_thresholds` when none are given.
DEFAULT_GRID = np.round(np.arange(0.02, 0.99, 0.02), 2)


def select_thresholds(y_true, proba, *, grid=None, default=0.5) -> np.ndarray:
    """The threshold of each class that maximises its F1 on held-out clips.

    The usual DCASE practice: a tagger's probabilities on labelled clips kept out
    of training (a validation or ``test`` subset) fix one threshold per class, which
    the tagger then uses through ``set_params(threshold=...)``. Thresholds chosen
    on the clips they are scored on overstate F1; score on other clips.

    Parameters
    ----------
    y_true : array-like of shape (n_clips, n_classes)
        Multi-label 0/1 indicator; all ``-1`` rows (unlabelled clips) are left out.
    proba : array-like of shape (n_clips, n_classes)
        Clip probabilities of the same clips (``predict_proba``).
    grid : array-like of float, default=None
        Candidate thresholds in the open interval (0, 1); ``None`` means 0.02,
        0.04, ..., 0.98.
    default : float, default=0.5
        Threshold of a class with no positive clip in ``y_true`` (its F1 is
        undefined whatever the threshold).

    Returns
    -------
    thresholds : ndarray of shape (n_classes,)
        A clip is tagged with class ``c`` when ``proba[:, c] > thresholds[c]``.
        Among equally good candidates the one closest to ``default`` is kept.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.metrics import select_thresholds
    >>> y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    >>> proba = np.array([[0.3, 0.1], [0.4, 0.9], [0.1, 0.2], [0.2, 0.6]])
    >>> select_thresholds(y, proba, grid=[0.25, 0.5, 0.75])
    array([0.25, 0.5 ])
    """
    Y = np.asarray(y_true)
    P = np.asarray(proba, dtype=float)
    if Y.ndim != 2 or P.shape != Y.shape:
        raise ValueError(
            "y_true and proba must be 2-D arrays of the same shape (n_clips, "
            f"n_classes); got {Y.shape} and {P.shape}."
        )
    grid = DEFAULT_GRID if grid is None else np.asarray(grid, dtype=float).ravel()
    if grid.size == 0 or not np.all((grid > 0) & (grid < 1)):
        raise ValueError("grid must hold thresholds in the open interval (0, 1).")
    keep = labeled_mask(Y)
    Y, P = Y[keep].astype(bool), P[keep]
    # Closest to the default first, so that argmax keeps it among ties.
    grid = grid[np.argsort(np.abs(grid - default), kind="stable")]
    thresholds = np.full(Y.shape[1], float(default))
    for c in np.flatnonzero(Y.any(axis=0)):
        tagged = P[:, c, None] > grid
        tp = (tagged & Y[:, c, None]).sum(axis=0)
        wrong = (tagged != Y[:, c, None]).sum(axis=0)  # false positives + negatives
        thresholds[c] = grid[np.argmax(2 * tp / (2 * tp + wrong))]
    return thresholds
