"""The paper's four positive transforms and :func:`make_positives`.

A transform *draws* a recipe (which partner segment, which shift, which noise seed);
:func:`make_positives` turns recipes into arrays, deterministically, so that a batch
can be assembled lazily and reproduced.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator

from ..utils._sklearn_compat import Interval
from ._data import SegmentData
from ._recipes import empty_recipe, rejection_sample
from ._triplets import TRANSFORM_CODES, Triplets


class Transform(BaseEstimator, metaclass=ABCMeta):
    """Base class of positive transforms (used through :class:`TransformPositive`)."""

    #: Code stored in ``Triplets.transform`` (``-1``: the positive is a segment).
    code = -1
    _parameter_constraints: dict = {}

    @abstractmethod
    def draw(self, anchors, data: SegmentData, rng) -> dict:
        """Recipe for positives of ``anchors`` (``ok`` False where impossible)."""


class GaussianNoise(Transform):
    """Positive = anchor plus white Gaussian noise (paper: ``sigma=0.5``).

    Parameters
    ----------
    sigma : float, default=0.5
        Noise standard deviation, in units of the (standardized) features.

    Examples
    --------
    >>> from sktriplet.sampling import GaussianNoise
    >>> GaussianNoise(sigma=0.5).code
    0
    """

    code = TRANSFORM_CODES["gaussian_noise"]
    _parameter_constraints = {"sigma": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, sigma=0.5):
        self.sigma = sigma

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        r["transform"][:] = self.code
        r["seed"][:] = rng.integers(0, np.iinfo(np.int64).max, size=len(anchors))
        r["alpha"][:] = self.sigma
        return r


class TimeFrequencyShift(Transform):
    """Positive = anchor shifted circularly in time and, zero-filled, in frequency.

    The time shift is drawn in ``0 .. n_frames - 1`` frames, the frequency shift in
    ``[-max_shift_bins, max_shift_bins]`` mel bins (paper: 10).

    Parameters
    ----------
    max_shift_bins : int, default=10
        Largest frequency shift, in bins.

    Examples
    --------
    >>> from sktriplet.sampling import TimeFrequencyShift
    >>> TimeFrequencyShift().max_shift_bins
    10
    """

    code = TRANSFORM_CODES["time_frequency_shift"]
    _parameter_constraints = {
        "max_shift_bins": [Interval(Integral, 0, None, closed="left")]
    }

    def __init__(self, max_shift_bins=10):
        self.max_shift_bins = max_shift_bins

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        n = len(anchors)
        r["transform"][:] = self.code
        r["time_shift"][:] = rng.integers(0, data.n_frames, size=n)
        s = self.max_shift_bins
        r["freq_shift"][:] = rng.integers(-s, s + 1, size=n)
        return r


class TemporalProximity(Transform):
    """Positive = another segment of the anchor's clip starting within ``max_seconds``.

    Parameters
    ----------
    max_seconds : float, default=10.0
        Largest distance between the start times of anchor and positive.

    Examples
    --------
    >>> from sktriplet.sampling import TemporalProximity
    >>> TemporalProximity(max_seconds=2.0).max_seconds
    2.0
    """

    code = -1
    _parameter_constraints = {"max_seconds": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, max_seconds=10.0):
        self.max_seconds = max_seconds

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        size = data.clip_size[anchors]
        start = data.clip_indptr[data.clip[anchors]]
        pos = data.clip_pos[anchors]
        t0 = data.start_time[anchors]
        has_other = size > 1
        eps = 1e-9

        def propose(rows):
            k = rng.integers(0, np.maximum(size[rows] - 1, 1))
            k = k + (k >= pos[rows])  # skip the anchor itself
            return data.clip_order[start[rows] + np.minimum(k, size[rows] - 1)]

        def accept(rows, cand):
            return (
                has_other[rows]
                & (cand != anchors[rows])
                & (np.abs(data.start_time[cand] - t0[rows]) <= self.max_seconds + eps)
            )

        out, left = rejection_sample(len(anchors), propose, accept)
        for i in left:  # exact fallback: enumerate the clip
            if not has_other[i]:
                continue
            seg = data.clip_order[start[i] : start[i] + size[i]]
            seg = seg[
                (seg != anchors[i])
                & (np.abs(data.start_time[seg] - t0[i]) <= self.max_seconds + eps)
            ]
            if seg.size:
                out[i] = rng.choice(seg)
        r["positive"][:] = out
        r["ok"][:] = out >= 0
        return r


class ExampleMixing(Transform):
    """Positive = anchor mixed with a random segment of another clip.

    ``x_a + alpha * (E(x_a) / E(x_n)) * x_n`` on linear power spectra (features are
    log-mel in dB, converted by :func:`make_positives`), ``E`` the segment energy.

    Parameters
    ----------
    alpha : float, default=0.25
        Mixing weight (paper: 0.25).

    Examples
    --------
    >>> from sktriplet.sampling import ExampleMixing
    >>> ExampleMixing().code
    2
    """

    code = TRANSFORM_CODES["example_mixing"]
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, alpha=0.25):
        self.alpha = alpha

    def draw(self, anchors, data, rng):
        r = empty_recipe(anchors)
        clip = data.clip[anchors]
        out, left = rejection_sample(
            len(anchors),
            lambda rows: rng.integers(0, data.n, size=len(rows)),
            lambda rows, cand: data.clip[cand] != clip[rows],
        )
        for i in left:
            other = np.flatnonzero(data.clip != clip[i])
            if other.size:
                out[i] = rng.choice(other)
        r["positive"][:] = out
        r["transform"][:] = self.code
        r["alpha"][:] = self.alpha
        r["ok"][:] = out >= 0
        return r


def make_positives(
    X,
    triplets: Triplets,
    rows=None,
    *,
    feature_mean=None,
    feature_std=None,
    sigma=None,
):
    """Materialise the positives of ``triplets`` from their recipes.

    Deterministic: the same triplets give the same arrays.

    Parameters
    ----------
    X : ndarray of shape (n_segments, n_frames, n_mels)
        The segments the sampler was fitted on.
    triplets : Triplets
        Output of a sampler's ``sample``.
    rows : array-like of int, default=None
        Which triplets (default: all).
    feature_mean, feature_std : float or ndarray, default=None
        Broadcastable to ``(n_frames, n_mels)``. If given, ``X`` is standardized
        dB (``x_db = x * std + mean``); example mixing converts to dB, then to
        linear power, mixes, and back.
    sigma : float, default=None
        Override of the Gaussian-noise standard deviation stored in the recipe.

    Returns
    -------
    positives : ndarray of shape (len(rows), n_frames, n_mels), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.sampling import Triplets, make_positives
    >>> X = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    >>> t = Triplets.empty(1)
    >>> t.anchor[:], t.positive[:] = 0, 1
    >>> make_positives(X, t)[0].tolist() == X[1].tolist()
    True
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"X must be 3-D (n_segments, n_frames, n_mels); got {X.ndim}-D."
        )
    if rows is None:
        rows = np.arange(len(triplets))
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    n_frames, n_mels = X.shape[1:]
    out = np.empty((len(rows), n_frames, n_mels), dtype=np.float32)
    anchor = triplets.anchor[rows]
    positive = triplets.positive[rows]
    code = triplets.transform[rows]

    sel = np.flatnonzero(code == -1)
    if sel.size:
        if (positive[sel] < 0).any():
            raise ValueError("A triplet with transform -1 has no positive segment.")
        out[sel] = X[positive[sel]]

    sel = np.flatnonzero(code == TRANSFORM_CODES["gaussian_noise"])
    for i in sel:
        noise = np.random.default_rng(int(triplets.seed[rows[i]])).standard_normal(
            (n_frames, n_mels), dtype=np.float32
        )
        s = triplets.alpha[rows[i]] if sigma is None else sigma
        out[i] = X[anchor[i]] + np.float32(s) * noise

    sel = np.flatnonzero(code == TRANSFORM_CODES["time_frequency_shift"])
    if sel.size:
        ts = triplets.time_shift[rows[sel]].astype(np.int64)
        fs = triplets.freq_shift[rows[sel]].astype(np.int64)
        t_idx = (np.arange(n_frames)[None, :] - ts[:, None]) % n_frames
        f_src = np.arange(n_mels)[None, :] - fs[:, None]
        f_ok = (f_src >= 0) & (f_src < n_mels)
        x = X[anchor[sel]]
        x = np.take_along_axis(x, t_idx[:, :, None], axis=1)
        x = np.take_along_axis(x, np.clip(f_src, 0, n_mels - 1)[:, None, :], axis=2)
        out[sel] = np.where(f_ok[:, None, :], x, 0.0)

    sel = np.flatnonzero(code == TRANSFORM_CODES["example_mixing"])
    if sel.size:
        xa = X[anchor[sel]].astype(np.float64)
        xn = X[positive[sel]].astype(np.float64)
        if feature_std is not None or feature_mean is not None:
            std = 1.0 if feature_std is None else np.asarray(feature_std, np.float64)
            mean = 0.0 if feature_mean is None else np.asarray(feature_mean, np.float64)
            xa, xn = xa * std + mean, xn * std + mean
        pa, pn = 10.0 ** (xa / 10.0), 10.0 ** (xn / 10.0)
        ea = pa.sum(axis=(1, 2), keepdims=True)
        en = np.maximum(pn.sum(axis=(1, 2), keepdims=True), 1e-30)
        alpha = triplets.alpha[rows[sel]].astype(np.float64)[:, None, None]
        mix = 10.0 * np.log10(np.maximum(pa + alpha * (ea / en) * pn, 1e-10))
        if feature_std is not None or feature_mean is not None:
            mix = (mix - mean) / std
        out[sel] = mix
    unknown = ~np.isin(code, [-1, *TRANSFORM_CODES.values()])
    if unknown.any():
        raise ValueError(f"Unknown transform code {int(code[unknown][0])}.")
    return out
