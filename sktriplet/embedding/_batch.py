"""Turning a sampler's triplets into tensors: one epoch of batches at a time.

A batch embeds every distinct real segment it needs once (anchors, index positives,
label negatives) plus the generated positives; negatives marked ``-1`` are mined
semi-hard among the batch's own real-segment embeddings, so no forward pass is spent
on a negative that the loss does not use.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ..nn import semihard_valid_mask
from ..sampling import make_positives


@dataclass
class TripletBatch:
    """Tensors of one batch of triplets.

    Attributes
    ----------
    x : torch.Tensor of shape (n_real + n_generated, n_frames, n_mels)
        Distinct real segments of the batch, then the generated positives.
    anchor, positive, negative : torch.Tensor of shape (n_triplets,), int64
        Rows of ``x`` (``negative == -1``: mine a semi-hard negative).
    valid : torch.Tensor of shape (n_triplets, n_real), bool
        Which real segments may serve as a mined negative of each triplet: not from
        the anchor's clip, not the positive, and not known to share a label with a
        labelled anchor.
    n_real : int
        Number of distinct real segments (the mining candidates ``x[:n_real]``).
    labels : torch.Tensor of shape (n_triplets, n_classes), float32
        Label indicator of each anchor, all ``-1`` where the anchor is not treated
        as labelled (for a joint classification loss).
    shared : torch.Tensor of shape (n_triplets, n_real), bool
        Real segments of other clips that share a label with a labelled anchor,
        besides its positive (the extra positives of a supervised contrastive loss).
    """

    x: torch.Tensor
    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor
    valid: torch.Tensor
    n_real: int
    labels: torch.Tensor
    shared: torch.Tensor

    def _tensors(self):
        return (self.x, self.anchor, self.positive, self.negative, self.valid)

    def _apply(self, convert) -> TripletBatch:
        return TripletBatch(
            *map(convert, self._tensors()),
            n_real=self.n_real,
            labels=convert(self.labels),
            shared=convert(self.shared),
        )

    def __len__(self) -> int:
        return int(self.anchor.shape[0])

    def to(self, device, non_blocking=False) -> TripletBatch:
        """Copy of the batch on ``device``."""
        return self._apply(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> TripletBatch:
        """Copy of the batch in page-locked memory (fast host-to-GPU copies)."""
        return self._apply(lambda t: t.pin_memory())


class SegmentTable:
    """Standardized training segments, their clips and label sets, and a sampler.

    What :class:`TripletNet` trains on (its ``get_dataset`` passes it through): an
    epoch is ``n_triplets`` triplets (its ``len``); batches come from
    :meth:`batches`, which draws fresh triplets from the fitted ``sampler`` every
    time it is iterated (once per epoch). It is not indexable: triplets are drawn
    per epoch, not stored.

    Parameters
    ----------
    segments : ndarray of shape (n_segments, n_frames, n_mels), float32
        Standardized segments (what the network sees).
    clip : ndarray of shape (n_segments,), int64
        Clip of each segment.
    labels : ndarray of shape (n_segments, n_classes), int8
        Label indicator of each segment, all ``-1`` rows for unlabelled segments.
    sampler : TripletSampler
        Sampler fitted on ``segments``.
    n_triplets, batch_size : int
        Triplets per epoch and per batch.
    labeled_ratio : float or None
        Passed to ``sampler.sample``.
    rng : numpy.random.Generator
        Source of each epoch's triplets.
    feature_mean, feature_std : ndarray of shape (n_mels,)
        Standardization, for example mixing in the linear power domain.
    fixed : bool, default=False
        Draw the triplets once and reuse them (validation).
    pin_memory : bool, default=False
        Put batches in page-locked memory.
    prefetch : bool, default=False
        Assemble the next batch in a background thread (for GPU training).
    valid : SegmentTable or None, default=None
        Held-out table for a validation loss.
    """

    def __init__(
        self,
        segments,
        clip,
        labels,
        sampler,
        *,
        n_triplets,
        batch_size,
        labeled_ratio,
        rng,
        feature_mean,
        feature_std,
        fixed=False,
        pin_memory=False,
        prefetch=False,
        valid=None,
    ):
        self.segments = segments
        self.clip = clip
        self.labels = labels
        self.sampler = sampler
        self.n_triplets = n_triplets
        self.batch_size = batch_size
        self.labeled_ratio = labeled_ratio
        self.rng = rng
        self.feature_mean = feature_mean
        self.feature_std = feature_std
        self.fixed = fixed
        self.pin_memory = pin_memory
        self.prefetch = prefetch
        self.valid = valid
        self._triplets = None

    def __len__(self) -> int:
        return self.n_triplets

    def draw(self):
        """The triplets of one epoch (cached when ``fixed``)."""
        if self.fixed and self._triplets is not None:
            return self._triplets
        triplets = self.sampler.sample(
            self.n_triplets, labeled_ratio=self.labeled_ratio, random_state=self.rng
        )
        if self.fixed:
            self._triplets = triplets
        return triplets

    def batches(self):
        """Iterable over one epoch of ``(TripletBatch, None)`` pairs."""
        return _EpochBatches(self)

    def make_batch(self, triplets) -> TripletBatch:
        """Assemble the tensors of ``triplets`` (see :class:`TripletBatch`)."""
        return make_batch(
            self.segments,
            self.clip,
            self.labels,
            triplets,
            feature_mean=self.feature_mean,
            feature_std=self.feature_std,
            pin_memory=self.pin_memory,
        )


class _EpochBatches:
    """One epoch: triplets drawn when iteration starts, batches built lazily."""

    def __init__(self, table: SegmentTable):
        self.table = table

    def __len__(self) -> int:
        return -(-self.table.n_triplets // self.table.batch_size)

    def __iter__(self):
        table = self.table
        triplets = table.draw()
        bs = table.batch_size
        chunks = [triplets[s : s + bs] for s in range(0, len(triplets), bs)]
        if not table.prefetch or len(chunks) < 2:
            for chunk in chunks:
                yield table.make_batch(chunk), None
            return
        # Build the next batch on the CPU while the device trains on this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(table.make_batch, chunks[0])
            for chunk in chunks[1:]:
                batch = future.result()
                future = pool.submit(table.make_batch, chunk)
                yield batch, None
            yield future.result(), None


def make_batch(
    segments,
    clip,
    labels,
    triplets,
    *,
    feature_mean=None,
    feature_std=None,
    pin_memory=False,
) -> TripletBatch:
    """Tensors of ``triplets``: each distinct real segment once, then generated."""
    t = triplets
    n = len(t)
    index_pos = np.flatnonzero(t.transform == -1)
    label_neg = np.flatnonzero(t.negative >= 0)
    real = np.concatenate([t.anchor, t.positive[index_pos], t.negative[label_neg]])
    uniq, inv = np.unique(real, return_inverse=True)
    n_real = len(uniq)
    gen_rows = np.flatnonzero(t.transform != -1)

    anchor = inv[:n]
    positive = np.empty(n, dtype=np.int64)
    positive[index_pos] = inv[n : n + len(index_pos)]
    positive[gen_rows] = n_real + np.arange(len(gen_rows))
    negative = np.full(n, -1, dtype=np.int64)
    negative[label_neg] = inv[n + len(index_pos) :]

    x = np.empty((n_real + len(gen_rows),) + segments.shape[1:], dtype=np.float32)
    np.take(segments, uniq, axis=0, out=x[:n_real])
    if len(gen_rows):
        x[n_real:] = make_positives(
            segments,
            t,
            gen_rows,
            feature_mean=feature_mean,
            feature_std=feature_std,
        )

    # Mining candidates: the batch's real segments, not from the anchor's clip, not
    # the positive, not known to share a label with a labelled anchor.
    anchor_labels = labels[t.anchor]
    anchor_labels[~t.labeled] = -1  # anchors drawn as unlabelled ignore their labels
    valid = semihard_valid_mask(clip[t.anchor], clip[uniq], anchor_labels, labels[uniq])
    # Other clips' segments excluded for sharing a label are extra positives.
    other_clip = torch.from_numpy(clip[t.anchor][:, None] != clip[uniq][None, :])
    shared = other_clip & ~valid
    shared[index_pos, positive[index_pos]] = False
    valid[index_pos, positive[index_pos]] = False

    batch = TripletBatch(
        torch.from_numpy(x),
        torch.from_numpy(anchor.astype(np.int64)),
        torch.from_numpy(positive),
        torch.from_numpy(negative),
        valid,
        n_real,
        torch.from_numpy(anchor_labels.astype(np.float32)),
        shared,
    )
    return batch.pin_memory() if pin_memory else batch
