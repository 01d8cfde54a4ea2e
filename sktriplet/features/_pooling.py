"""Averaging frames of feature sequences, to shorten what a recurrent tagger reads."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..utils._chunks import iter_chunks
from ..utils._sklearn_compat import Interval
from ..utils._validation import (
    check_clip_array,
    check_clip_list,
    is_clip_list,
    length_groups,
    split_clips,
)


def pool_frames(
    X3: np.ndarray, size: int, *, keep_partial: bool = False, lengths=None
) -> np.ndarray:
    """Mean over consecutive blocks of ``size`` frames of ``(n_clips, n_frames, F)``.

    Parameters
    ----------
    X3 : ndarray of shape (n_clips, n_frames, n_features)
        Frame sequences.
    size : int
        Frames per block; 1 returns ``X3`` unchanged.
    keep_partial : bool, default=False
        Whether trailing frames that do not fill a block are averaged into one more
        block (so that no clip is left without a block) or dropped.
    lengths : array-like of shape (n_clips,), default=None
        Real frames of each clip of a zero-padded ``X3`` (clips of different
        lengths); each clip is pooled from its own frames only, as it would be
        alone, into ``ceil(n / size)`` blocks (``keep_partial=True``) or
        ``n // size``, and the result is zero-padded again. ``None``: every
        frame is real.

    Returns
    -------
    ndarray of shape (n_clips, n_blocks, n_features), float32
        ``X3`` itself when ``size=1`` and it is float32 (or a float32 copy).

    Notes
    -----
    Clips are pooled a chunk of clips at a time, so a memory-mapped ``X3``
    (``np.load(path, mmap_mode="r")``, float32 or float16) is read in pieces and
    never copied whole; only the pooled result is held in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.features import pool_frames
    >>> X = np.arange(5, dtype=np.float32).reshape(1, 5, 1)
    >>> pool_frames(X, 2)[0, :, 0].tolist()
    [0.5, 2.5]
    >>> pool_frames(X, 2, keep_partial=True)[0, :, 0].tolist()
    [0.5, 2.5, 4.0]
    """
    if size == 1 and X3.dtype == np.float32:
        return X3
    if lengths is not None:
        return _pool_by_length(X3, size, keep_partial, np.asarray(lengths))
    n_clips, n_frames, n_features = X3.shape
    n_blocks = -(-n_frames // size) if keep_partial else n_frames // size
    out = np.empty((n_clips, n_blocks, n_features), dtype=np.float32)
    for rows, chunk in iter_chunks(X3):
        out[rows] = _pool_chunk(chunk, size, keep_partial)
    return out


def _pool_chunk(X3, size, keep_partial):
    """:func:`pool_frames` of an in-memory float32 chunk of clips."""
    if size == 1:
        return X3
    n_clips, n_frames, n_features = X3.shape
    n_full = n_frames // size * size
    pooled = X3[:, :n_full].reshape(n_clips, -1, size, n_features).mean(axis=2)
    if keep_partial and n_full < n_frames:
        tail = X3[:, n_full:].mean(axis=1, keepdims=True)
        pooled = np.concatenate([pooled, tail], axis=1)
    return pooled


def _pool_by_length(X3, size, keep_partial, lengths):
    """:func:`pool_frames` of padded clips, clips of one length at a time."""
    blocks = -(-lengths // size) if keep_partial else lengths // size
    out = np.zeros((len(X3), blocks.max(), X3.shape[2]), dtype=np.float32)
    for n_frames, rows in length_groups(lengths):
        pooled = pool_frames(X3[rows, :n_frames], size, keep_partial=keep_partial)
        out[rows, : pooled.shape[1]] = pooled
    return out


class FramePooling(TransformerMixin, BaseEstimator):
    """Mean over non-overlapping blocks of ``size`` frames of each sequence.

    The paper's taggers average their frame predictions into a clip prediction, so
    averaging blocks of, say, 10 embedding frames (0.1 s) before the tagger keeps
    what it decides on while making its recurrent layers ten times cheaper: the
    difference between minutes and seconds per fit on a CPU. Trailing frames that do
    not fill a block are dropped. ``size=1`` passes sequences through unchanged.
    A list of clips of different lengths gives a list, each clip pooled alone.

    Parameters
    ----------
    size : int, default=10
        Frames per block.
    n_features : int, default=None
        Values per frame when ``X`` is passed flattened as 2-D; ``None`` means one.

    Attributes
    ----------
    n_features_in_ : int
        Values per frame seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.features import FramePooling
    >>> X = np.arange(24, dtype=np.float32).reshape(1, 12, 2)
    >>> FramePooling(size=5).fit_transform(X)
    array([[[ 4.,  5.],
            [14., 15.]]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, size=10, *, n_features=None):
        self.size = size
        self.n_features = n_features

    def fit(self, X, y=None):
        """Check the parameters and record the frame size.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features), or list of arrays \
of shape (n_frames_i, n_features)
            Frame sequences; a list holds clips of different lengths.
        y : ignored

        Returns
        -------
        self : FramePooling
        """
        self._validate_params()
        X3, _ = self._check_X(X)
        self.n_features_in_ = X3.shape[2]
        return self

    def _check_X(self, X):
        if is_clip_list(X):
            return check_clip_list(X)
        return check_clip_array(X, n_features=self.n_features, keep_mapped=True), None

    def transform(self, X):
        """Average blocks of ``size`` frames.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features), or list of arrays \
of shape (n_frames_i, n_features)
            Frame sequences; each clip needs at least ``size`` frames.

        Returns
        -------
        ndarray of shape (n_clips, n_frames // size, n_features), dtype float32, \
or list of arrays of shape (n_frames_i // size, n_features)
            A list when ``X`` is a list.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "n_features_in_")
        X3, lengths = self._check_X(X)
        if X3.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {X3.shape[2]} values per frame, but FramePooling was fitted "
                f"with {self.n_features_in_}."
            )
        if lengths is None and X3.shape[1] < self.size:
            raise ValueError(
                f"X has {X3.shape[1]} frames, fewer than size={self.size}."
            )
        if lengths is not None and (lengths < self.size).any():
            i = int(np.argmax(lengths < self.size))
            raise ValueError(
                f"X[{i}] has {lengths[i]} frames, fewer than size={self.size}."
            )
        pooled = pool_frames(X3, self.size, lengths=lengths)
        if not is_clip_list(X):
            return pooled
        return split_clips(pooled, None if lengths is None else lengths // self.size)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
