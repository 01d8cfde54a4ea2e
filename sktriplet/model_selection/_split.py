"""Cross-validation over the labelled rows of a semi-supervised target."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator, KFold

from ..utils._labels import check_semi_supervised_y, labeled_mask

__all__ = ["LabeledKFold"]


class LabeledKFold(BaseCrossValidator):
    """K-fold splitter that folds only the labelled rows.

    The labelled rows (``y`` rows not all ``-1``) are split into ``n_splits`` folds
    as :class:`sklearn.model_selection.KFold` would; each fold is a test set once.
    Every unlabelled row is in every training set (a semi-supervised estimator can
    use it) and in no test set (it cannot be scored).

    Parameters
    ----------
    n_splits : int, default=3
        Number of folds, at least 2.
    shuffle : bool, default=False
        Shuffle the labelled rows before folding.
    random_state : int, RandomState instance or None, default=None
        Order of the shuffled rows (only used when ``shuffle=True``).

    See Also
    --------
    sktriplet.model_selection.mask_labels : Hide labels to build such a ``y``.
    sktriplet.metrics.macro_f1_scorer : Scorer that ignores unlabelled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.model_selection import LabeledKFold
    >>> y = np.array([0, 1, -1, 0, 1, -1])
    >>> for train, test in LabeledKFold(n_splits=2).split(np.zeros(6), y):
    ...     print(train, test)
    [2 3 4 5] [0 1]
    [0 1 2 5] [3 4]
    """

    def __init__(self, n_splits=3, *, shuffle=False, random_state=None):
        if isinstance(n_splits, (bool, np.bool_)) or not isinstance(
            n_splits, numbers.Integral
        ):
            raise ValueError(
                f"n_splits must be an integer >= 2; got {n_splits!r}."
            )
        if n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2; got {n_splits}.")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {shuffle!r}.")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate ``(train, test)`` index arrays.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data (only its length is used).
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Semi-supervised target; required.
        groups : None
            Ignored.

        Yields
        ------
        train : ndarray of int
            Unlabelled rows plus the labelled rows of the other folds.
        test : ndarray of int
            Labelled rows of this fold.
        """
        if y is None:
            raise ValueError(
                "LabeledKFold needs y to tell labelled rows from unlabelled ones; "
                "got y=None."
            )
        n_samples = len(X) if not hasattr(X, "shape") else X.shape[0]
        Y, _, _ = check_semi_supervised_y(y, n_samples)
        mask = labeled_mask(Y)
        labelled = np.flatnonzero(mask)
        unlabelled = np.flatnonzero(~mask)
        if len(labelled) < self.n_splits:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number of "
                f"labelled rows: {len(labelled)}."
            )
        kfold = KFold(
            self.n_splits,
            shuffle=self.shuffle,
            random_state=self.random_state if self.shuffle else None,
        )
        for train, test in kfold.split(labelled):
            yield (
                np.sort(np.concatenate([unlabelled, labelled[train]])),
                labelled[test],
            )

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits, ``n_splits``."""
        return self.n_splits
