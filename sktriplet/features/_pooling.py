"""Averaging frames of feature sequences, to shorten what a recurrent tagger reads."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..utils._sklearn_compat import Interval
from ..utils._validation import check_clip_array


def pool_frames(X3: np.ndarray, size: int, *, keep_partial: bool = False) -> np.ndarray:
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

    Returns
    -------
    ndarray of shape (n_clips, n_blocks, n_features), float32

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
    if size == 1:
        return X3
    n_clips, n_frames, n_features = X3.shape
    n_full = n_frames // size * size
    pooled = X3[:, :n_full].reshape(n_clips, -1, size, n_features).mean(axis=2)
    if keep_partial and n_full < n_frames:
        tail = X3[:, n_full:].mean(axis=1, keepdims=True)
        pooled = np.concatenate([pooled, tail], axis=1)
    return pooled.astype(np.float32, copy=False)


class FramePooling(TransformerMixin, BaseEstimator):
    """Mean over non-overlapping blocks of ``size`` frames of each sequence.

    The paper's taggers average their frame predictions into a clip prediction, so
    averaging blocks of, say, 10 embedding frames (0.1 s) before the tagger keeps
    what it decides on while making its recurrent layers ten times cheaper: the
    difference between minutes and seconds per fit on a CPU. Trailing frames that do
    not fill a block are dropped. ``size=1`` passes sequences through unchanged.

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
        X : array-like of shape (n_clips, n_frames, n_features)
        y : ignored

        Returns
        -------
        self : FramePooling
        """
        self._validate_params()
        X3 = check_clip_array(X, n_features=self.n_features)
        self.n_features_in_ = X3.shape[2]
        return self

    def transform(self, X):
        """Average blocks of ``size`` frames.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features)

        Returns
        -------
        ndarray of shape (n_clips, n_frames // size, n_features), dtype float32
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "n_features_in_")
        X3 = check_clip_array(X, n_features=self.n_features)
        if X3.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {X3.shape[2]} values per frame, but FramePooling was fitted "
                f"with {self.n_features_in_}."
            )
        if X3.shape[1] < self.size:
            raise ValueError(
                f"X has {X3.shape[1]} frames, fewer than size={self.size}."
            )
        return pool_frames(X3, self.size)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
