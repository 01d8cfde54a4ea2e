"""Cutting clip features into fixed-length segments (0.96 s for triplet training)."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..utils._validation import check_clip_array


def segment(
    X,
    n_frames: int = 96,
    hop: int | None = None,
    *,
    frame_seconds: float = 0.010,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut clip features into segments of ``n_frames`` frames.

    With the defaults a 1001-frame (10 s) clip gives 10 non-overlapping segments of
    96 frames (0.96 s); its last 41 frames, shorter than a segment, are dropped. Each
    segment inherits its clip's labels through ``clip_index``: ``y[clip_index]``.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_clip_frames, n_mels)
        Clip features, e.g. from :class:`LogMelExtractor`.
    n_frames : int, default=96
        Frames per segment.
    hop : int, default=None
        Frames between the starts of consecutive segments; ``None`` means
        ``n_frames`` (no overlap).
    frame_seconds : float, default=0.010
        Hop between frames in seconds, to express segment start times in seconds.

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
    X = check_clip_array(X)
    for name, value in (("n_frames", n_frames), ("hop", hop)):
        if value is None and name == "hop":
            continue
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    hop = n_frames if hop is None else int(hop)
    n_clips, n_clip_frames, n_mels = X.shape
    if n_clip_frames < n_frames:
        raise ValueError(
            f"Clips have {n_clip_frames} frames, fewer than n_frames={n_frames}: "
            "no segment can be cut."
        )
    starts = np.arange(0, n_clip_frames - n_frames + 1, hop)
    windows = np.lib.stride_tricks.sliding_window_view(X, n_frames, axis=1)[:, starts]
    # sliding_window_view puts the window axis last: (clips, segs, mels, frames).
    segments = np.ascontiguousarray(
        windows.transpose(0, 1, 3, 2).reshape(-1, n_frames, n_mels)
    )
    clip_index = np.repeat(np.arange(n_clips, dtype=np.int64), len(starts))
    start_time = np.tile(starts * float(frame_seconds), n_clips)
    return segments, clip_index, start_time
