"""Which segments of a weakly labelled clip inherit its labels.

A weak label says that an event occurs *somewhere* in a 10 s clip. When every 0.96 s
segment inherits the clip's labels (the paper's rule), most labelled segments of a
short event's clip hold only background: on the embedded soundscapes 48 % of the
(segment, label) pairs of the labelled clips contain the labelled event (17-24 % for
cats, dogs, dishes and alarms). Events stand out of the background, so a clip's
loudest segments are the likeliest to hold them: the loudest 30 % contain the
labelled event 75 % of the time. :func:`loudest_segments` picks them.
"""

from __future__ import annotations

import numpy as np


def segment_loudness(X3: np.ndarray, n_frames: int, lengths=None) -> np.ndarray:
    """Mean feature value of each ``n_frames`` segment, as :func:`segment` cuts them.

    On log-mel features (dB) this is the segment's mean level; only its order within
    a clip is used, so any increasing transform of the features gives the same
    choice.

    Parameters
    ----------
    X3 : ndarray of shape (n_clips, n_clip_frames, n_features)
        Clip features, not standardized per band.
    n_frames : int
        Frames per segment.
    lengths : array-like of shape (n_clips,), default=None
        Real frames of each clip of a zero-padded ``X3`` (clips of different
        lengths, see :func:`segment`); ``None``: every frame is real.

    Returns
    -------
    ndarray of shape (n_segments,)
        One value per segment, clip by clip (the order of :func:`segment`).
    """
    n_clips, n_clip_frames, _ = X3.shape
    n_blocks = n_clip_frames // n_frames
    frames = X3[:, : n_blocks * n_frames].mean(axis=2, dtype=np.float64)
    blocks = frames.reshape(n_clips, n_blocks, n_frames).mean(axis=2)
    if lengths is None:
        return blocks.reshape(-1)
    n_segments = np.asarray(lengths) // n_frames
    return blocks[np.arange(n_blocks) < n_segments[:, None]]


def loudest_segments(loudness, clip_index, share: float) -> np.ndarray:
    """Mask of the ``share`` loudest segments of each clip (at least one per clip).

    Parameters
    ----------
    loudness : array-like of shape (n_segments,)
        A loudness value per segment (e.g. :func:`segment_loudness`).
    clip_index : array-like of shape (n_segments,)
        Clip of each segment.
    share : float in (0, 1]
        Share of each clip's segments to keep, rounded up.

    Returns
    -------
    ndarray of bool, shape (n_segments,)

    Examples
    --------
    >>> from sktriplet.embedding import loudest_segments
    >>> loudest_segments([1.0, 5.0, 2.0, 3.0, 0.0], [0, 0, 0, 1, 1], 0.3).tolist()
    [False, True, False, True, False]
    """
    loudness = np.asarray(loudness, dtype=np.float64).reshape(-1)
    clip_index = np.asarray(clip_index).reshape(-1)
    if loudness.shape != clip_index.shape:
        raise ValueError(
            f"loudness and clip_index must have the same length; got "
            f"{loudness.shape[0]} and {clip_index.shape[0]}."
        )
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1]; got {share!r}.")
    _, clip = np.unique(clip_index, return_inverse=True)
    clip = clip.reshape(-1)
    order = np.lexsort((-loudness, clip))  # by clip, loudest first
    sizes = np.bincount(clip)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, sizes)
    keep = np.ceil(share * sizes).astype(np.int64)
    return rank < keep[clip]
