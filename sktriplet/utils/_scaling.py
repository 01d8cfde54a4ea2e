"""Per-feature standardization of clip frames, learnt on real (unpadded) frames."""

from __future__ import annotations

import numpy as np

from ._chunks import iter_chunks

#: Rules for a feature of (nearly) constant value, whose std cannot divide:
#: ``"relative"`` floors every std at ``1e-6 * max(std.max(), 1)`` (the embedder);
#: ``"unit"`` replaces a std of at most ``1e-6`` by 1 (the taggers).
STD_FLOORS = ("relative", "unit")


def fit_standardization(frames, *, floor="relative"):
    """Per-feature mean and std of ``frames``, float32.

    Parameters
    ----------
    frames : ndarray of shape (n_clips, n_frames, n_features)
        Real frames only (see :func:`~sktriplet.utils._validation.real_frames`);
        read a chunk of clips at a time, in two passes (mean, then the squared
        deviations from it), so a memory-mapped file is never copied whole.
    floor : {"relative", "unit"}, default="relative"
        How a std too small to divide by is replaced (see ``STD_FLOORS``).

    Returns
    -------
    mean, std : ndarray of shape (n_features,)
        Statistics computed in float64, returned as float32.
    """
    if floor not in STD_FLOORS:
        raise ValueError(f"floor must be one of {STD_FLOORS}; got {floor!r}.")
    n_values = frames.shape[0] * frames.shape[1]
    total = np.zeros(frames.shape[2], dtype=np.float64)
    for _, chunk in iter_chunks(frames):
        total += chunk.sum(axis=(0, 1), dtype=np.float64)
    mean = total / n_values
    squares = np.zeros_like(total)
    for _, chunk in iter_chunks(frames, dtype=np.float64):
        squares += np.square(chunk - mean).sum(axis=(0, 1))
    std = np.sqrt(squares / n_values)
    if floor == "relative":
        std = np.maximum(std, 1e-6 * max(std.max(), 1.0))
    else:
        std = np.where(std > 1e-6, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def standardize(X3, mean, std):
    """``(X3 - mean) / std`` per feature; ``X3`` unchanged when ``mean`` is None."""
    if mean is None:
        return X3
    return (X3 - mean) / std
