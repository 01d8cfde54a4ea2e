"""The fitted table of training segments that the rules draw from."""

from __future__ import annotations

import numpy as np

from ..utils._labels import check_semi_supervised_y, labeled_mask
from ..utils._validation import check_clip_array


class SegmentData:
    """Everything the rules need about the training segments (no features kept).

    Labels are stored as bit masks (``uint64`` words) over the classes plus one
    virtual "no event" class that labelled rows without any event carry, so that
    "shares a label" is a bitwise and; unlabelled rows have an all-zero mask.
    """

    def __init__(self, X, y=None, clip_index=None, start_time=None):
        X = check_clip_array(X, name="X")
        n = X.shape[0]
        self.n = n
        self.n_frames, self.n_mels = X.shape[1], X.shape[2]
        self.X = X  # released by TripletSampler.fit once the rules are fitted
        if y is None:
            Y = np.full((n, 0), -1, dtype=np.int8)
            classes = np.arange(0)
        else:
            Y, classes, _ = check_semi_supervised_y(y, n, name="y")
        self.Y = Y
        self.classes = classes
        self.labeled = labeled_mask(Y) if Y.shape[1] else np.zeros(n, dtype=bool)

        if clip_index is None:
            clip = np.arange(n, dtype=np.int64)
        else:
            clip_index = np.asarray(clip_index)
            if clip_index.shape != (n,):
                raise ValueError(
                    f"clip_index must have shape ({n},) like the number of segments "
                    f"in X; got {clip_index.shape}."
                )
            _, clip = np.unique(clip_index, return_inverse=True)
            clip = clip.astype(np.int64).reshape(-1)
        self.clip = clip
        if start_time is None:
            start = np.zeros(n, dtype=np.float64)
        else:
            start = np.asarray(start_time, dtype=np.float64)
            if start.shape != (n,):
                raise ValueError(
                    f"start_time must have shape ({n},) like the number of segments "
                    f"in X; got {start.shape}."
                )
            if not np.isfinite(start).all():
                raise ValueError("start_time contains NaN or infinity.")
        self.start_time = start

        # Segments grouped by clip (CSR).
        self.clip_order = np.argsort(clip, kind="stable")
        counts = np.bincount(clip)
        self.clip_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.clip_size = counts[clip]
        self.clip_pos = np.empty(n, dtype=np.int64)  # rank of a segment in its clip
        self.clip_pos[self.clip_order] = np.arange(n) - np.repeat(
            self.clip_indptr[:-1], counts
        )

        # Label sets: indicator with the virtual "no event" class appended.
        ind = np.zeros((n, Y.shape[1] + 1), dtype=bool)
        if Y.shape[1]:
            ind[:, :-1] = Y == 1
        ind[:, -1] = self.labeled & ~ind[:, :-1].any(axis=1)
        self.indicator = ind
        n_words = (ind.shape[1] + 63) // 64
        padded = np.zeros((n, n_words * 64), dtype=bool)
        padded[:, : ind.shape[1]] = ind
        self.masks = np.packbits(padded, axis=1, bitorder="little").view(np.uint64)
        # Segments of each class (CSR) and classes of each segment (CSR).
        seg, cls = np.nonzero(ind)  # sorted by segment
        self.seg_label_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(seg, minlength=n))]
        ).astype(np.int64)
        self.seg_labels = cls.astype(np.int64)
        by_class = np.argsort(cls, kind="stable")
        self.class_members = seg[by_class].astype(np.int64)
        self.class_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(cls, minlength=ind.shape[1]))]
        ).astype(np.int64)
        self.labeled_idx = np.flatnonzero(self.labeled)
        self.unlabeled_idx = np.flatnonzero(~self.labeled)

    def shares_label(self, a, b) -> np.ndarray:
        """Whether segments ``a[i]`` and ``b[i]`` have a label in common."""
        return (self.masks[a] & self.masks[b]).any(axis=1)

    def n_labels(self, a) -> np.ndarray:
        return self.seg_label_indptr[a + 1] - self.seg_label_indptr[a]
