"""Hide labels to build label-scarcity studies (the paper's Table 3)."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from ..utils._labels import UNLABELED, check_semi_supervised_y, labeled_mask

__all__ = ["mask_labels"]


def _n_kept(labeled, n_labelled):
    if isinstance(labeled, (bool, np.bool_)):
        raise TypeError(
            f"labeled must be a float in [0, 1] or an int; got {labeled!r}."
        )
    if isinstance(labeled, numbers.Integral):
        if not 0 <= labeled <= n_labelled:
            raise ValueError(
                f"labeled={labeled} rows requested but y has {n_labelled} labelled "
                "rows; pass an int in [0, n_labelled] or a fraction in [0, 1]."
            )
        return int(labeled)
    if isinstance(labeled, numbers.Real):
        if not 0.0 <= labeled <= 1.0:
            raise ValueError(
                f"labeled as a fraction must be in [0, 1]; got {labeled!r}."
            )
        return int(round(labeled * n_labelled))
    raise TypeError(f"labeled must be a float in [0, 1] or an int; got {labeled!r}.")


def _stratified_pick(Y, k, rng):
    """Pick ``k`` rows of the 0/1 matrix ``Y`` spreading them over its columns.

    Greedy iterative stratification: each step serves the column whose count is
    furthest below its proportional target ``k * n_c / n`` (a column with no pick yet
    is served first once its target reaches one half), then draws one of its
    remaining rows at random among those whose other labels overshoot the fewest
    targets. Rows with no positive form a column of their own.
    """
    n = Y.shape[0]
    Y = np.column_stack([Y, Y.sum(axis=1) == 0]).astype(bool)
    counts = Y.sum(axis=0)
    target = k * counts / n
    current = np.zeros(Y.shape[1])
    available = np.ones(n, dtype=bool)
    chosen = []
    for _ in range(k):
        open_cols = Y[available].any(axis=0)
        deficit = target - current
        starved = (current == 0) & (target >= 0.5)
        priority = np.where(starved, np.maximum(deficit, 1.0), deficit)
        priority = np.where(open_cols, priority, -np.inf)
        best = np.flatnonzero(priority == priority.max())
        col = best[rng.randint(len(best))] if len(best) > 1 else best[0]
        rows = np.flatnonzero(available & Y[:, col])
        # prefer rows whose other labels do not push full columns over target
        overshoot = (Y[rows] & (current + 1 > target + 0.5)).sum(axis=1)
        rows = rows[overshoot == overshoot.min()]
        row = rows[rng.randint(len(rows))]
        chosen.append(row)
        available[row] = False
        current += Y[row]
    return np.asarray(chosen, dtype=np.int64)


def mask_labels(y, labeled, random_state=None, stratify=True):
    """Return a copy of ``y`` in which only some labelled rows keep their labels.

    Parameters
    ----------
    y : array-like of shape (n_samples, n_classes) or (n_samples,)
        Multi-label indicator (rows of ``-1`` are unlabelled) or 1-D class vector
        (``-1`` = unlabelled). Rows already unlabelled stay unlabelled.
    labeled : float in [0, 1] or int
        A float keeps exactly ``round(labeled * n_labelled)`` of the ``n_labelled``
        labelled rows (Python's ``round``, halves to even); an int keeps exactly
        ``labeled`` rows.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are kept.
    stratify : bool, default=True
        Spread the kept rows over classes in proportion to the class frequencies
        (greedy iterative stratification, which also handles multi-label rows and
        gives every class at least one kept row when the budget allows). ``False``
        draws the kept rows uniformly at random.

    Returns
    -------
    y_masked : ndarray
        Same shape and dtype as ``y``; the hidden rows are set to ``-1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.model_selection import mask_labels
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    >>> y_masked = mask_labels(y, 0.3, random_state=0)
    >>> int((y_masked != -1).sum()), sorted(set(y_masked[y_masked != -1].tolist()))
    (3, [0, 1, 2])
    """
    Y, _, is_1d = check_semi_supervised_y(y)
    if not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify must be a bool; got {stratify!r}.")
    rng = check_random_state(random_state)
    labelled = np.flatnonzero(labeled_mask(Y))
    k = _n_kept(labeled, len(labelled))
    if stratify and len(labelled):
        keep = labelled[_stratified_pick(Y[labelled], k, rng)]
    else:
        keep = rng.choice(labelled, size=k, replace=False)
    hide = np.setdiff1d(labelled, keep)
    y_masked = np.array(y, copy=True)
    if y_masked.dtype.kind == "U":  # string labels: "-1" marks unlabelled rows
        if y_masked.dtype.itemsize < np.dtype("U2").itemsize:
            y_masked = y_masked.astype("U2")
        y_masked[hide] = "-1"
    else:
        y_masked[hide] = UNLABELED
    return y_masked
