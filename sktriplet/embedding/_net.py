"""The skorch engine of :class:`TripletEmbedder`: a ``NeuralNet`` trained on triplets.

Extends skorch through its hooks only: ``get_iterator`` hands out one epoch of
triplet batches (fresh triplets every epoch), ``infer`` embeds a batch's distinct
segments once (under autocast when ``amp`` is set), ``get_loss`` gathers anchors,
positives and label negatives, mines the missing negatives semi-hard among the batch's
own embeddings and applies the triplet loss (or a semi-supervised contrastive loss);
``train_step_single`` and ``train_step`` add gradient scaling for float16 autocast
on CUDA; the extra logged scores are inserted before ``print_log`` by name.
"""

from __future__ import annotations

import contextlib

import torch
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data

from ..nn import TripletLoss, semihard_negatives, triplet_loss
from ..nn._band_gain import add_band_gains
from ..utils._interrupt import InterruptibleNetMixin
from ._batch import SegmentTable


def split_valid(dataset, y=None, **fit_params):
    """skorch ``train_split``: the training table and its held-out table."""
    return dataset, dataset.valid


class TripletNet(InterruptibleNetMixin, NeuralNet):
    """skorch ``NeuralNet`` training an embedding module with the triplet loss.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Must provide ``embed_segments(x)`` (one vector per segment).
    amp_dtype : torch.dtype or None, default=None
        Autocast dtype (``torch.bfloat16`` or ``torch.float16``); None = full precision.
    n_classes : int, default=0
        With ``classification_weight > 0``: classes of a linear head ``head_`` on the
        segment embeddings, trained jointly with a binary cross-entropy on the
        labelled anchors.
    classification_weight : float, default=0.0
        Weight of that classification loss added to the triplet loss.
    segment_frames : int, default=None
        Frames per segment (the head's input size with ``"flatten"`` pooling).
    objective : {"triplet", "supcon"}, default="triplet"
        The triplet loss with semi-hard mining, or the semi-supervised contrastive
        loss (see ``_contrastive_loss``).
    temperature : float, default=0.1
        Temperature of the contrastive loss.
    band_gain : float, default=0.0
        In training, every segment of a batch (anchors, positives, mining
        candidates) gets its own random gain curve over the mel bands, steps
        drawn within ``±band_gain`` (see
        :func:`~sktriplet.nn._band_gain.band_gain_curves`); 0 turns it off.
    on_interrupt : {"raise", "stop"}, default="raise"
        What a KeyboardInterrupt during training does: propagate out of ``fit``,
        or stop training and keep the weights (skorch's behaviour).
    **kwargs
        Any :class:`skorch.NeuralNet` parameter; ``criterion`` defaults to
        :class:`~sktriplet.nn.TripletLoss` (``criterion__margin`` is the margin).
    """

    def __init__(
        self,
        module,
        *args,
        criterion=TripletLoss,
        amp_dtype=None,
        n_classes=0,
        classification_weight=0.0,
        segment_frames=None,
        objective="triplet",
        temperature=0.1,
        band_gain=0.0,
        on_interrupt="raise",
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.on_interrupt = on_interrupt
        self.objective = objective
        self.temperature = temperature
        self.band_gain = band_gain
        self.amp_dtype = amp_dtype
        self.n_classes = n_classes
        self.classification_weight = classification_weight
        self.segment_frames = segment_frames

    def initialize_module(self):
        super().initialize_module()
        if self.classification_weight > 0 and self.n_classes > 0:
            m = self.module_
            n_in = m.dim if m.pooling == "mean" else m.dim * self.segment_frames
            self.head_ = torch.nn.Linear(n_in, self.n_classes).to(self.device)
        return self

    @property
    def _default_callbacks(self):
        # skorch's own hook for default callbacks: the share of active triplets
        # is logged like the losses, and printed by print_log (hence before it).
        callbacks = list(super()._default_callbacks)
        names = [name for name, _ in callbacks]
        at = names.index("print_log") if "print_log" in names else len(callbacks)
        callbacks[at:at] = [
            ("train_active", PassthroughScoring(name="train_active", on_train=True)),
            ("valid_active", PassthroughScoring(name="valid_active")),
        ]
        return callbacks

    def _data_device(self):
        """Where batches go (an accelerated net's ``device`` is None in training)."""
        return self.device

    def _device_type(self) -> str:
        return torch.device(self._data_device()).type

    def autocast(self):
        """Autocast context for the configured ``amp_dtype`` (no-op if None)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self._device_type(), dtype=self.amp_dtype)

    def get_dataset(self, dataset, y=None):
        if isinstance(dataset, SegmentTable):
            return dataset
        return super().get_dataset(dataset, y)

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, SegmentTable):
            return dataset.batches()
        return super().get_iterator(dataset, training=training)

    def infer(self, x, **fit_params):
        xb = x.x.to(self._data_device(), non_blocking=True)
        if self.module_.training:
            # One curve per row: an anchor and its positive are coloured apart.
            xb = add_band_gains(xb, self.band_gain)
        with self.autocast():
            return self._embed_segments(xb)

    def _embed_segments(self, xb):
        return self.module_.embed_segments(xb)

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        batch = X
        emb = y_pred.float()
        device = emb.device
        anchor = batch.anchor.to(device, non_blocking=True)
        positive = batch.positive.to(device, non_blocking=True)
        prefix = "train" if training else "valid"
        if self.objective == "supcon":
            loss, active = self._contrastive_loss(emb, batch, anchor, positive)
        else:
            loss, active = self._triplet_loss(emb, batch, anchor, positive)
        if not torch.isfinite(loss):
            raise RuntimeError(
                f"Training diverged: the {self.objective} loss became "
                f"{float(loss.detach())} at epoch {len(self.history)}. Lower lr, or "
                "turn off amp, or check X for extreme values."
            )
        self.history.record_batch(f"{prefix}_active", float(active))
        head = getattr(self, "head_", None)
        if head is not None:
            class_loss = self._classification_loss(head, emb, batch, anchor, prefix)
            if class_loss is not None:
                loss = loss + self.classification_weight * class_loss
        return loss

    def _classification_loss(self, head, emb, batch, anchor, prefix):
        """Cross-entropy of the labelled anchors' labels (None without any)."""
        labels = batch.labels.to(emb.device, non_blocking=True)
        # labelled anchors; on the device (utils' labeled_mask is numpy)
        rows = torch.nonzero((labels >= 0).all(1)).squeeze(1)
        if not len(rows):
            return None
        class_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            head(emb[anchor[rows]]), labels[rows]
        )
        self.history.record_batch(f"{prefix}_class_loss", float(class_loss.detach()))
        return class_loss

    def _triplet_loss(self, emb, batch, anchor, positive):
        """Triplet loss, the missing negatives mined semi-hard in the batch."""
        device = emb.device
        negative = batch.negative.to(device, non_blocking=True).clone()
        mine = negative < 0
        if bool(mine.any()):
            rows = torch.nonzero(mine).squeeze(1)
            neg, _ = semihard_negatives(
                emb[anchor[rows]],
                emb[positive[rows]],
                emb[: batch.n_real],
                batch.valid.to(device, non_blocking=True)[rows],
            )
            negative[rows] = neg
        keep = negative >= 0
        if not bool(keep.all()):
            anchor, positive, negative = anchor[keep], positive[keep], negative[keep]
        loss, active = triplet_loss(
            emb[anchor],
            emb[positive],
            emb[negative],
            margin=self.criterion_.margin,
            reduction=self.criterion_.reduction,
            return_active=True,
        )
        if len(anchor) == 0:
            loss = emb.sum() * 0.0  # keeps the graph: backward is a no-op
        return loss, active

    def _contrastive_loss(self, emb, batch, anchor, positive):
        """Semi-supervised contrastive loss (supervised contrastive on labels).

        Each anchor is contrasted, by cosine similarity over ``temperature``, with
        its positive and with the batch's real segments it may be compared with:
        its negatives (``valid``) and, for a labelled anchor, the other clips'
        segments sharing one of its labels (``shared``), which count as positives
        too (Khosla et al., 2020). An unlabelled anchor has only its transformed
        view as positive (SimCLR's rule). The logged share of active anchors is
        the share whose hardest negative is closer than their positive.
        """
        device = emb.device
        z = torch.nn.functional.normalize(emb, dim=1)
        za = z[anchor]
        s_ap = (za * z[positive]).sum(1, keepdim=True) / self.temperature
        s_ac = za @ z[: batch.n_real].T / self.temperature
        valid = batch.valid.to(device, non_blocking=True)
        shared = batch.shared.to(device, non_blocking=True)
        logits = torch.cat(
            [s_ap, s_ac.masked_fill(~(valid | shared), float("-inf"))], dim=1
        )
        log_prob = torch.log_softmax(logits, dim=1)
        pos = torch.cat([torch.ones_like(s_ap, dtype=torch.bool), shared], dim=1)
        loss = -(log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1)).mean()
        with torch.no_grad():
            hardest = s_ac.masked_fill(~valid, float("-inf")).max(1).values
            active = (hardest > s_ap[:, 0]).float().mean()
        return loss, active

    def train_step_single(self, batch, **fit_params):
        """skorch's step; with a gradient scaler the loss is scaled for backward."""
        scaler = getattr(self, "_grad_scaler", None)
        if scaler is None:
            return super().train_step_single(batch, **fit_params)
        for part in (self.module_, self.criterion_, getattr(self, "head_", None)):
            if part is not None:
                part.train()
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        """skorch's step, or with a gradient scaler one scaled optimizer step.

        ``GradScaler.step`` takes no closure, so the scaled path computes the
        gradients first (:meth:`train_step_single`) and then steps.
        """
        scaler = getattr(self, "_grad_scaler", None)
        if scaler is None:
            return super().train_step(batch, **fit_params)
        self.optimizer_.zero_grad()
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=list(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        scaler.step(self.optimizer_)
        scaler.update()
        return step

    def initialize(self):
        super().initialize()
        use_scaler = self.amp_dtype == torch.float16 and self._device_type() == "cuda"
        self._grad_scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_grad_scaler", None)
        return state
