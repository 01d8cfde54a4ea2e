"""Validation of clip features: ``(n_clips, n_frames, n_features)`` arrays.

scikit-learn's estimator checks only run on estimators that accept 2-D ``X``. So every
sktriplet estimator also accepts a flattened ``(n_clips, n_frames * n_features)`` array
and reshapes it with its ``n_features`` argument (the number of mel bands or embedding
dimensions per frame): frames are the slow axis, ``X2d.reshape(n, -1, n_features)``.

Clips of different lengths come as a list (or tuple) of 2-D arrays
``(n_frames_i, n_features)``: :func:`check_clip_list` pads them with zeros to the
longest clip and returns their lengths, which the estimators carry along so that
padding frames are never read (:func:`real_frames`, :func:`split_clips`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from ._chunks import count_nonfinite, is_file_backed
from ._sklearn_compat import validate_data


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
            "clips of different lengths must each be a 2-D array (n_frames_i, "
            "n_features), passed as a list."
        ) from None


def is_clip_list(X) -> bool:
    """Whether ``X`` is a non-empty list or tuple of 2-D clips (any lengths).

    A list of 1-D rows is a 2-D ``X`` (flattened clips), not a list of clips.
    """
    if not isinstance(X, (list, tuple)) or not X:
        return False
    try:
        return all(np.ndim(clip) == 2 for clip in X)
    except ValueError:  # a clip that is itself a ragged nested list
        return False


def check_clip_list(X, *, name: str = "X", dtype=np.float32):
    """Clips of any lengths as one zero-padded 3-D array and their lengths.

    Parameters
    ----------
    X : list of array-like of shape (n_frames_i, n_features)
        Clips, each with its own number of frames and the same ``n_features``.
    name : str, default="X"
        Argument name used in error messages.
    dtype : numpy dtype, default=np.float32
        Output dtype.

    Returns
    -------
    X3 : ndarray of shape (n_clips, max(n_frames_i), n_features)
        The clips, zero-padded at the end to the longest one.
    lengths : ndarray of shape (n_clips,), dtype int64, or None
        Frames of each clip; ``None`` when all clips have the same length (then
        ``X3`` is ``np.stack(X)``, the 3-D array of the same clips).
    """
    clips = [_check_one_clip(clip, f"{name}[{i}]", dtype) for i, clip in enumerate(X)]
    n_features = clips[0].shape[1]
    for i, clip in enumerate(clips):
        if clip.shape[1] != n_features:
            raise ValueError(
                f"{name}[{i}] has {clip.shape[1]} features per frame (mel bands or "
                f"embedding values), but {name}[0] has {n_features}; every clip of "
                f"a list needs the same number (shapes {name}[0] {clips[0].shape}, "
                f"{name}[{i}] {clip.shape})."
            )
    lengths = np.array([clip.shape[0] for clip in clips], dtype=np.int64)
    X3 = np.zeros((len(clips), lengths.max(), n_features), dtype=dtype)
    for row, clip in zip(X3, clips):
        row[: len(clip)] = clip
    return X3, (None if (lengths == lengths[0]).all() else lengths)


def _check_one_clip(clip, name, dtype):
    clip = np.asarray(clip)
    if clip.dtype.kind not in "iufb":
        raise ValueError(f"{name} must be numeric clip features; got {clip.dtype}.")
    if clip.shape[0] == 0 or clip.shape[1] == 0:
        raise ValueError(
            f"{name} has an empty dimension (shape {clip.shape}); every clip needs "
            "at least one frame and one feature."
        )
    clip = clip.astype(dtype, copy=False)
    if not np.isfinite(clip).all():
        n_bad = int((~np.isfinite(clip)).sum())
        raise ValueError(f"{name} contains NaN or infinity ({n_bad} values).")
    return clip


def check_lengths(lengths, X3) -> np.ndarray:
    """``lengths`` as int64, one per clip of ``X3``, each in ``[1, n_frames]``."""
    n_clips, n_frames = X3.shape[:2]
    lengths = np.asarray(lengths)
    if lengths.shape != (n_clips,) or lengths.dtype.kind not in "iu":
        raise ValueError(
            f"lengths must be {n_clips} integers (one per clip); got shape "
            f"{lengths.shape}, dtype {lengths.dtype}."
        )
    if (lengths < 1).any() or (lengths > n_frames).any():
        raise ValueError(f"lengths must lie in [1, {n_frames}] (frames of X).")
    return lengths.astype(np.int64)


def frame_mask(lengths, n_frames: int) -> np.ndarray:
    """Boolean ``(n_clips, n_frames)``: which frames of a padded array are real."""
    return np.arange(n_frames) < np.asarray(lengths)[:, None]


def real_frames(X3: np.ndarray, lengths) -> np.ndarray:
    """``X3`` itself, or its real frames as one ``(1, n_real_frames, F)`` clip.

    Statistics ``real_frames(X3, lengths).mean(axis=(0, 1))`` then ignore padding,
    and are computed exactly as before for arrays (``lengths=None``).
    """
    if lengths is None:
        return X3
    return X3[frame_mask(lengths, X3.shape[1])][np.newaxis]


def split_clips(X3: np.ndarray, lengths) -> list:
    """The list of clips ``X3[i, :lengths[i]]`` (every row when ``lengths=None``)."""
    if lengths is None:
        return list(X3)
    return [clip[:n] for clip, n in zip(X3, lengths)]


def length_groups(lengths):
    """``(n_frames, rows)`` for each distinct length: clips to process together."""
    lengths = np.asarray(lengths)
    for n_frames in np.unique(lengths):
        yield int(n_frames), np.flatnonzero(lengths == n_frames)


def validate_clips(estimator, X, *, reset, n_features=None, check_nd=False):
    """An estimator's clips ``X`` as ``(X3, lengths, form)``.

    ``form`` is ``"list"`` for a list of 2-D clips (zero-padded by
    :func:`check_clip_list`; ``lengths`` None when all are equally long), ``"2d"``
    for a flattened array (checked with scikit-learn's ``validate_data``: after a 2-D
    fit the number of columns must not change) and ``"3d"`` for a 3-D array
    (checked by scikit-learn's ``check_array`` first when ``check_nd``). With
    ``reset`` the estimator records whether it was fitted on 2-D ``X``
    (``_fit_2d``) and forgets the column names of an earlier 2-D fit otherwise.
    """
    if is_clip_list(X):
        X3, lengths = check_clip_list(X, name="X")
        if reset:
            _forget_2d(estimator)
        return X3, lengths, "list"
    X = as_clip_array(X, "X")
    ndim = len(X.shape)
    # A memory-mapped X is checked by check_clip_array a chunk at a time:
    # check_array would convert (copy) or scan it whole.
    mapped = ndim >= 2 and isinstance(X, np.ndarray) and is_file_backed(X)
    if ndim <= 2:  # 1-D gets scikit-learn's "Reshape your data" error
        if reset or getattr(estimator, "_fit_2d", False):
            X = validate_data(
                estimator,
                X,
                reset=reset,
                dtype=[np.float32, np.float64],
                skip_check_array=mapped,
            )
        elif not mapped:
            X = check_array(X, dtype=[np.float32, np.float64])
        if reset:
            estimator._fit_2d = True
    else:
        if check_nd and not mapped:
            X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64])
        if reset:
            _forget_2d(estimator)
    X3 = check_clip_array(X, n_features=n_features, name="X", keep_mapped=True)
    return X3, None, "2d" if ndim == 2 else "3d"


def _forget_2d(estimator):
    estimator._fit_2d = False
    if hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_


def check_clip_array(
    X,
    *,
    n_features: int | None = None,
    name: str = "X",
    dtype=np.float32,
    lengths=None,
    keep_mapped: bool = False,
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
    lengths : array-like of int of shape (n_clips,), default=None
        Real frames of each clip of a padded ``X``, each in ``[1, n_frames]``;
        only they must be finite. ``None``: every frame is real.
    keep_mapped : bool, default=False
        Return a memory-mapped floating-point ``X`` (``np.load(path,
        mmap_mode="r")``) as a 3-D view of the file, in its own dtype, instead of
        a converted copy; it is checked a chunk of clips at a time, and the caller
        reads it so (:func:`~sktriplet.utils._chunks.iter_chunks`).
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
    if not (keep_mapped and X.dtype.kind == "f" and is_file_backed(X)):
        X = np.ascontiguousarray(X, dtype=dtype)
    if lengths is not None:
        lengths = check_lengths(lengths, X)
    # Chunk by chunk: no boolean array (or copy of the real frames) as big as X.
    n_bad = count_nonfinite(X, lengths=lengths)
    if n_bad:
        raise ValueError(f"{name} contains NaN or infinity ({n_bad} values).")
    return X
