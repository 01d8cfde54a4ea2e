"""Validation of clip features: ``(n_clips, n_frames, n_features)`` arrays.

scikit-learn's estimator checks only run on estimators that accept 2-D ``X``. So every
sktriplet estimator also accepts a flattened ``(n_clips, n_frames * n_features)`` array
and reshapes it with its ``n_features`` argument (the number of mel bands or embedding
dimensions per frame): frames are the slow axis, ``X2d.reshape(n, -1, n_features)``.
"""

from __future__ import annotations

import numpy as np


def as_clip_array(X, name: str = "X"):
    """``X`` as an array (arrays and DataFrames untouched); clear error if ragged."""
    if hasattr(X, "shape"):
        return X
    try:
        return np.asarray(X)
    except ValueError:  # numpy's "inhomogeneous shape"
        shapes = []
        for clip in X:
            shape = np.shape(clip) if not isinstance(clip, (list, tuple)) else None
            shapes.append(
                str(shape) if shape is not None else f"list of {len(clip)} items"
            )
        seen = list(dict.fromkeys(shapes))
        raise ValueError(
            f"{name} is a sequence of {len(shapes)} clips of different shapes "
            f"({', '.join(seen[:4])}{', ...' if len(seen) > 4 else ''}); "
            "sktriplet estimators take clips of one length: pad or crop them to a "
            "common number of frames first (LogMelExtractor(duration=...) does)."
        ) from None


def check_clip_array(
    X,
    *,
    n_features: int | None = None,
    name: str = "X",
    dtype=np.float32,
) -> np.ndarray:
    """Return ``X`` as a finite float 3-D array ``(n_clips, n_frames, n_features)``.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_values)
        Clip features. A 2-D array is reshaped with ``n_features`` values per frame
        (``n_features=None`` means one value per frame).
    n_features : int, default=None
        Values per frame used to reshape 2-D input.
    name : str, default="X"
        Argument name used in error messages.
    dtype : numpy dtype, default=np.float32
        Output dtype.
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a sparse matrix; sktriplet needs dense clip features."
        )
    X = np.asarray(as_clip_array(X, name))
    if X.dtype.kind not in "iufb":
        raise ValueError(f"{name} must be numeric clip features; got dtype {X.dtype}.")
    if X.ndim == 2:
        per_frame = 1 if n_features is None else int(n_features)
        if X.shape[1] % per_frame:
            raise ValueError(
                f"{name} is 2-D with {X.shape[1]} columns, which is not a multiple of "
                f"n_features={per_frame}; pass (n_clips, n_frames, n_features) or a "
                "flattened array whose rows are frames of n_features values."
            )
        X = X.reshape(X.shape[0], -1, per_frame)
    elif X.ndim != 3:
        raise ValueError(
            f"{name} must be a 3-D array (n_clips, n_frames, n_features) of clip "
            f"features, or its 2-D flattening; got {X.ndim}-D with shape {X.shape}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(
            f"{name} has an empty dimension (shape {X.shape}); need at least one "
            "clip, one frame and one feature."
        )
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        n_bad = int((~np.isfinite(X)).sum())
        raise ValueError(f"{name} contains NaN or infinity ({n_bad} values).")
    return X
