"""Averaging frames of feature sequences, to shorten what a recurrent tagger reads."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..utils._sklearn_compat import Interval
from ..utils._validation import check_clip_array


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
        n = X3.shape[1] // self.size * self.size
        pooled = X3[:, :n].reshape(len(X3), -1, self.size, X3.shape[2]).mean(axis=2)
        return pooled.astype(np.float32, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
