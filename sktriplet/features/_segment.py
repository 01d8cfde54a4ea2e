"""Cutting clip features into fixed-length segments (0.96 s for triplet training)."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..utils._validation import (
    check_clip_array,
    check_clip_list,
    check_lengths,
    is_clip_list,
)


def segment(
    X,
    n_frames: int = 96,
    hop: int | None = None,
    *,
    frame_seconds: float = 0.010,
    lengths=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut clip features into segments of ``n_frames`` frames.

    With the defaults a 1001-frame (10 s) clip gives 10 non-overlapping segments of
    96 frames (0.96 s); its last 41 frames, shorter than a segment, are dropped. Each
    segment inherits its clip's labels through ``clip_index``: ``y[clip_index]``.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_clip_frames, n_mels), or list of arrays \
of shape (n_clip_frames_i, n_mels)
        Clip features, e.g. from :class:`LogMelExtractor`; a list holds clips of
        different lengths, each cut from its own frames.
    n_frames : int, default=96
        Frames per segment.
    hop : int, default=None
        Frames between the starts of consecutive segments; ``None`` means
        ``n_frames`` (no overlap).
    frame_seconds : float, default=0.010
        Hop between frames in seconds, to express segment start times in seconds.
    lengths : array-like of int of shape (n_clips,), default=None
        Real frames of each clip of a zero-padded 3-D ``X`` (the other form of
        clips of different lengths); segments are cut from them only. ``None``:
        every frame is real.

    Returns
    -------
    segments : ndarray of shape (n_segments, n_frames, n_mels), dtype float32
        The segments, clip by clip in order.
    clip_index : ndarray of shape (n_segments,), dtype int64
        Row of ``X`` each segment was cut from.
    start_time : ndarray of shape (n_segments,), dtype float64
        Start of each segment in its clip, in seconds.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.features import segment
    >>> X = np.zeros((2, 1001, 64), dtype=np.float32)
    >>> segments, clip_index, start_time = segment(X)
    >>> segments.shape, clip_index[:3], start_time[:3]
    ((20, 96, 64), array([0, 0, 0]), array([0.  , 0.96, 1.92]))
    """
    if is_clip_list(X):
        if lengths is not None:
            raise ValueError("lengths is for a padded array X; a list has its own.")
        X, lengths = check_clip_list(X)
    X = check_clip_array(X, lengths=lengths)
    for name, value in (("n_frames", n_frames), ("hop", hop)):
        if value is None and name == "hop":
            continue
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    hop = n_frames if hop is None else int(hop)
    lengths = _check_lengths(X, lengths, n_frames)
    n_starts = (lengths - n_frames) // hop + 1
    clip_index = np.repeat(np.arange(len(X), dtype=np.int64), n_starts)
    first = np.repeat(np.cumsum(n_starts) - n_starts, n_starts)
    starts = (np.arange(len(clip_index)) - first) * hop
    windows = np.lib.stride_tricks.sliding_window_view(X, n_frames, axis=1)
    # sliding_window_view puts the window axis last: (segs, mels, frames).
    segments = np.ascontiguousarray(windows[clip_index, starts].transpose(0, 2, 1))
    start_time = starts * float(frame_seconds)
    return segments, clip_index, start_time


def _check_lengths(X, lengths, n_frames):
    """Real frames of each clip (all of them when ``None``), each >= ``n_frames``."""
    n_clips, n_clip_frames, _ = X.shape
    if lengths is None:
        if n_clip_frames < n_frames:
            raise ValueError(
                f"Clips have {n_clip_frames} frames, fewer than n_frames={n_frames}: "
                "no segment can be cut."
            )
        return np.full(n_clips, n_clip_frames, dtype=np.int64)
    lengths = check_lengths(lengths, X)
    short = np.flatnonzero(lengths < n_frames)
    if len(short):
        raise ValueError(
            f"X[{short[0]}] has {lengths[short[0]]} frames, fewer than "
            f"n_frames={n_frames}: no segment can be cut from it ({len(short)} "
            "clip(s) that short)."
        )
    return lengths
