"""Clip-level macro-F1, the evaluation measure of the paper.

F1 is computed *per class over the whole evaluation set* (true positives, false
positives and false negatives of a class summed over all clips), then the class F1s
are averaged without weights. Rows of ``y_true`` that are unlabelled (all ``-1`` in an
indicator matrix, ``-1`` in a 1-D class vector) are dropped before counting, so the
same semi-supervised ``y`` used for fitting can be scored directly.

A class with no true and no predicted positive has an undefined F1 (0/0). Its value is
``zero_division``: ``0.0`` by default (the class counts as a failure, scikit-learn's
default), ``1.0``, or ``np.nan`` to leave the class out of the mean.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..utils._labels import check_semi_supervised_y, labeled_mask

__all__ = ["macro_f1_score", "classification_report", "macro_f1_scorer"]


def _check_zero_division(zero_division):
    if isinstance(zero_division, numbers.Real) and not isinstance(
        zero_division, bool
    ):
        if np.isnan(zero_division) or zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(
        f"zero_division must be 0.0, 1.0 or np.nan; got {zero_division!r}."
    )


def _to_indicators(y_true, y_pred):
    """Return labelled rows of both targets as indicator matrices, and the classes."""
    if y_true is None or y_pred is None:
        raise ValueError("y_true and y_pred are required; got None.")
    Y_true, classes, is_1d = check_semi_supervised_y(y_true, name="y_true")
    y_pred = np.asarray(y_pred)
    if y_pred.shape[0] != Y_true.shape[0]:
        raise ValueError(
            f"y_true has {Y_true.shape[0]} rows but y_pred has {y_pred.shape[0]}; "
            "they must have the same length."
        )
    mask = labeled_mask(Y_true)
    if not mask.any():
        raise ValueError(
            "y_true has no labelled row (every row is -1); the F1 score is undefined."
        )
    if is_1d:
        if y_pred.ndim != 1:
            raise ValueError(
                "y_true is a 1-D class vector, so y_pred must be 1-D too; got shape "
                f"{y_pred.shape}."
            )
        true = np.asarray(y_true)[mask]
        pred = y_pred[mask]
        try:
            classes = np.union1d(true, pred)
        except TypeError as exc:
            raise TypeError(
                f"y_true and y_pred hold labels of incompatible types: {exc}"
            ) from None
        T = (true[:, None] == classes[None, :]).astype(np.int64)
        P = (pred[:, None] == classes[None, :]).astype(np.int64)
        return T, P, classes
    if y_pred.ndim != 2 or y_pred.shape[1] != Y_true.shape[1]:
        raise ValueError(
            f"y_true is a multi-label indicator with {Y_true.shape[1]} classes, so "
            f"y_pred must have shape (n_samples, {Y_true.shape[1]}); got "
            f"{y_pred.shape}."
        )
    P = y_pred[mask]
    if not np.isin(P, (0, 1)).all():
        raise ValueError(
            "y_pred must be a 0/1 indicator matrix (predictions have no unlabelled "
            "rows); found other values."
        )
    return Y_true[mask].astype(np.int64), P.astype(np.int64), classes


def _per_class(T, P, zero_division):
    tp = (T & P).sum(axis=0).astype(float)
    fp = ((1 - T) & P).sum(axis=0).astype(float)
    fn = (T & (1 - P)).sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), zero_division)
        recall = np.where(tp + fn > 0, tp / (tp + fn), zero_division)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), zero_division)
    support = T.sum(axis=0).astype(np.int64)
    return precision, recall, f1, support


def _nanmean(values):
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return float("nan")
    return float(np.nanmean(values))


def macro_f1_score(y_true, y_pred, *, zero_division=0.0):
    """Clip-level macro-averaged F1 score, ignoring unlabelled rows.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_classes) or (n_samples,)
        Multi-label indicator with all ``-1`` rows for unlabelled clips, or a 1-D
        class vector with ``-1`` for unlabelled clips.
    y_pred : array-like of the same shape as ``y_true``
        Predicted 0/1 indicator matrix, or predicted classes for a 1-D ``y_true``.
    zero_division : {0.0, 1.0, np.nan}, default=0.0
        F1 of a class with no true and no predicted positive; ``np.nan`` leaves such
        classes out of the mean.

    Returns
    -------
    float
        Unweighted mean over classes of the class-wise F1. For a 1-D target the
        classes are the labels seen in ``y_true`` or ``y_pred``.

    See Also
    --------
    classification_report : Per-class precision, recall, F1 and support.
    macro_f1_scorer : The same measure as a ``scoring=`` object.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.metrics import macro_f1_score
    >>> y_true = np.array([[1, 0], [0, 1], [-1, -1], [1, 1]])
    >>> y_pred = np.array([[1, 0], [0, 0], [1, 1], [1, 1]])
    >>> round(macro_f1_score(y_true, y_pred), 4)
    0.8333
    """
    zero_division = _check_zero_division(zero_division)
    T, P, _ = _to_indicators(y_true, y_pred)
    _, _, f1, _ = _per_class(T, P, zero_division)
    if f1.size == 0:
        raise ValueError("y_true has no class column; the F1 score is undefined.")
    return _nanmean(f1)


def classification_report(
    y_true,
    y_pred,
    *,
    target_names=None,
    digits=2,
    output_dict=False,
    zero_division=0.0,
):
    """Per-class precision, recall, F1 and support, with the macro average.

    Counts are taken over the labelled rows only, as in :func:`macro_f1_score`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_classes) or (n_samples,)
        Semi-supervised target (``-1`` rows ignored).
    y_pred : array-like of the same shape as ``y_true``
        Predictions.
    target_names : list of str, default=None
        Display names of the classes (columns, or sorted labels of a 1-D target).
    digits : int, default=2
        Decimals shown in the text table.
    output_dict : bool, default=False
        Return a dict ``{name: {"precision", "recall", "f1-score", "support"}}``
        with a ``"macro avg"`` entry instead of a string.
    zero_division : {0.0, 1.0, np.nan}, default=0.0
        Value of an undefined ratio (see :func:`macro_f1_score`).

    Returns
    -------
    str or dict

    Examples
    --------
    >>> from sktriplet.metrics import classification_report
    >>> y_true = [[1, 0], [0, 1], [-1, -1]]
    >>> y_pred = [[1, 0], [1, 1], [0, 0]]
    >>> print(classification_report(y_true, y_pred, target_names=["dog", "cat"]))
               precision    recall  f1-score   support
    <BLANKLINE>
          dog       0.50      1.00      0.67         1
          cat       1.00      1.00      1.00         1
    <BLANKLINE>
    macro avg       0.75      1.00      0.83         2
    """
    zero_division = _check_zero_division(zero_division)
    T, P, classes = _to_indicators(y_true, y_pred)
    precision, recall, f1, support = _per_class(T, P, zero_division)
    if target_names is None:
        names = [str(c) for c in classes]
    else:
        names = [str(n) for n in target_names]
        if len(names) != len(classes):
            raise ValueError(
                f"target_names has {len(names)} names but there are {len(classes)} "
                "classes."
            )
    rows = {
        name: {
            "precision": float(p),
            "recall": float(r),
            "f1-score": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(names, precision, recall, f1, support)
    }
    macro = {
        "precision": _nanmean(precision),
        "recall": _nanmean(recall),
        "f1-score": _nanmean(f1),
        "support": int(T.shape[0]),
    }
    if output_dict:
        rows["macro avg"] = macro
        return rows
    width = max([len(n) for n in names] + [len("macro avg"), digits])
    header = ["precision", "recall", "f1-score", "support"]
    fmt = "{:>{width}s} " + " {:>9}" * len(header) + "\n"
    out = fmt.format("", *header, width=width) + "\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name, vals in rows.items():
        out += row_fmt.format(
            name, vals["precision"], vals["recall"], vals["f1-score"],
            vals["support"], width=width, digits=digits,
        )
    out += "\n" + row_fmt.format(
        "macro avg", macro["precision"], macro["recall"], macro["f1-score"],
        macro["support"], width=width, digits=digits,
    )
    return out.rstrip("\n")


def _take_rows(X, index):
    """Rows ``index`` of an array, a DataFrame or a list (e.g. of file paths)."""
    if hasattr(X, "iloc"):
        return X.iloc[index]
    if hasattr(X, "shape") and hasattr(X, "__getitem__"):
        return X[index]
    return [X[i] for i in index]


class _MacroF1Scorer:
    """Scorer ``(estimator, X, y) -> macro-F1`` on the labelled rows of ``y``.

    Unlabelled rows are dropped *before* predicting, so they cost nothing and never
    reach :func:`sklearn.metrics.f1_score`-style code that rejects ``-1``.
    """

    def __init__(self, zero_division=0.0):
        self.zero_division = zero_division

    def __call__(self, estimator, X, y_true, **kwargs):
        Y, _, _ = check_semi_supervised_y(y_true, name="y_true")
        index = np.flatnonzero(labeled_mask(Y))
        if index.size == 0:
            raise ValueError(
                "The test fold has no labelled row; macro-F1 is undefined. Use "
                "sktriplet.model_selection.LabeledKFold to build folds of "
                "labelled rows."
            )
        y_true = np.asarray(y_true)[index]
        y_pred = estimator.predict(_take_rows(X, index))
        return macro_f1_score(y_true, y_pred, zero_division=self.zero_division)

    def __repr__(self):
        return f"make_scorer(macro_f1_score, zero_division={self.zero_division!r})"


macro_f1_scorer = _MacroF1Scorer()
"""Scorer for ``scoring=`` in ``GridSearchCV``/``cross_validate``: clip-level
macro-F1 of ``estimator.predict`` on the labelled rows of the test fold."""
