"""The skorch engine of :class:`AcceleratedTripletEmbedder`: sharded triplet steps.

Every process draws the same triplets of an epoch (same seeds); each global step of
``batch_size * num_processes`` triplets is cut into one share per process
(:func:`shard_bounds`), so each triplet is used exactly once across the processes.
The batches are not a ``DataLoader``, so ``accelerator.prepare`` would leave them
alone: they are sharded here. Each process embeds its share, mines its missing
negatives in its own batch and back-propagates; DistributedDataParallel averages
the gradients, so the weights stay identical everywhere.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.callbacks import LRScheduler
from skorch.hf import AccelerateMixin

from ._batch import SegmentTable
from ._net import TripletNet


def _print_on_main(*args, **kwargs) -> None:
    """``print`` on the main process only (a log sink pickled without accelerate)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0:
        print(*args, **kwargs)


class _SegmentEmbedding(torch.nn.Module):
    """The embedding module with ``embed_segments`` as its ``forward``.

    DistributedDataParallel averages the gradients of calls through the wrapped
    module's ``forward`` only; training embeds segments, not frames.
    """

    def __init__(self, embedding: torch.nn.Module):
        super().__init__()
        self.embedding = embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding.embed_segments(x)


def shard_bounds(n_triplets: int, batch_size: int, n_processes: int) -> list:
    """``(start, stop)`` of each process's share of each global step.

    A step holds ``batch_size * n_processes`` triplets, cut into ``n_processes``
    shares differing by at most one triplet. A last step with fewer triplets than
    processes joins the step before, so that no process gets an empty batch (every
    process must take part in every step) and no triplet is dropped.
    """
    size = batch_size * n_processes
    starts = list(range(0, n_triplets, size))
    if len(starts) > 1 and n_triplets - starts[-1] < n_processes:
        starts.pop()
    if n_triplets < n_processes:
        raise ValueError(
            f"The epoch has {n_triplets} triplets, fewer than the {n_processes} "
            "processes; raise n_triplets."
        )
    ends = starts[1:] + [n_triplets]
    steps = []
    for start, end in zip(starts, ends):
        cut = np.linspace(start, end, n_processes + 1).astype(int)
        steps.append(list(zip(cut[:-1].tolist(), cut[1:].tolist())))
    return steps


class _ShardedEpoch:
    """One epoch of a process: its share of every global step's triplets."""

    def __init__(self, table: SegmentTable, rank: int, n_processes: int):
        self.table = table
        self.rank = rank
        self.n_processes = n_processes

    def __len__(self) -> int:
        return len(
            shard_bounds(len(self.table), self.table.batch_size, self.n_processes)
        )

    def __iter__(self):
        table = self.table
        triplets = table.draw()  # the same on every process: same seeds
        steps = shard_bounds(len(triplets), table.batch_size, self.n_processes)
        for shares in steps:
            start, stop = shares[self.rank]
            yield table.make_batch(triplets[start:stop]), None


class AcceleratedTripletNet(AccelerateMixin, TripletNet):
    """:class:`TripletNet` trained data-parallel through ``accelerate``.

    Each process trains on its share of every step's triplets (see
    :func:`shard_bounds`); the scores it logs per batch (``train_loss``,
    ``train_active``, ``valid_loss``...) are the means across processes, so all
    processes keep the same history (callbacks such as ``EarlyStopping`` decide
    alike). After training the modules and the optimizer are unwrapped and
    ``device`` is the accelerator's device; the pickled net holds no accelerator.

    Parameters
    ----------
    module : torch.nn.Module class
        As for :class:`TripletNet`.
    accelerator : accelerate.Accelerator
        Places the modules and synchronises the processes.
    **kwargs
        Any :class:`TripletNet` parameter.
    """

    def __init__(self, module, *args, accelerator, **kwargs):
        # Not AccelerateMixin's "auto" (the accelerator's print): it would put the
        # accelerator into pickles; on_train_begin picks the process-aware sink.
        kwargs.setdefault("callbacks__print_log__sink", print)
        super().__init__(module, *args, accelerator=accelerator, **kwargs)

    def _data_device(self):
        return self.accelerator.device if self.device is None else self.device

    def _embed_segments(self, xb):
        if self._wrapped_with_accelerator:  # through DDP's forward
            return self.module_(xb)
        return self.module_.embed_segments(xb)

    def _initialize_accelerator(self):
        """Prepare the modules, the optimizer and the LR schedulers.

        Not AccelerateMixin's: that one also prepares the criterion, which has no
        parameter (DistributedDataParallel refuses it); the embedding module is
        prepared as a :class:`_SegmentEmbedding`.
        """
        if self._wrapped_with_accelerator:
            return self
        prepare = self.accelerator.prepare
        self.module_ = prepare(_SegmentEmbedding(self.module_))
        if getattr(self, "head_", None) is not None:
            self.head_ = prepare(self.head_)
        self.optimizer_ = prepare(self.optimizer_)
        for _, callback in self.callbacks_:
            if isinstance(callback, LRScheduler):
                callback.policy_ = prepare(callback.policy_)
        self._wrapped_with_accelerator = True
        return self

    def _unwrap_accelerator(self):
        """Plain modules, optimizer and LR schedulers (no accelerator state).

        Wrapped ones hold the accelerator, which would follow them into pickles.
        """
        if not self._wrapped_with_accelerator:
            return
        from accelerate.optimizer import AcceleratedOptimizer
        from accelerate.scheduler import AcceleratedScheduler

        unwrap = self.accelerator.unwrap_model
        self.module_ = unwrap(self.module_, keep_fp32_wrapper=False).embedding
        if getattr(self, "head_", None) is not None:
            self.head_ = unwrap(self.head_, keep_fp32_wrapper=False)
        while isinstance(self.optimizer_, AcceleratedOptimizer):
            self.optimizer_ = self.optimizer_.optimizer
        for _, callback in self.callbacks_:
            while isinstance(getattr(callback, "policy_", None), AcceleratedScheduler):
                callback.policy_ = callback.policy_.scheduler
        self._wrapped_with_accelerator = False

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # skorch wraps only in initialize: continued training (partial_fit,
        # warm_start) after an unwrapped fit must wrap again.
        self._initialize_accelerator()
        # skorch's PrintLog prints with any sink but print whatever ``verbose``.
        print_log = dict(self.callbacks_).get("print_log")
        if print_log is not None and print_log.sink in (print, _print_on_main):
            print_log.sink = _print_on_main if self.verbose else print
        return super().on_train_begin(net, X=X, y=y, **kwargs)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self._share_buffers()
        super().on_train_end(net, X=X, y=y, **kwargs)
        # Inference (in this process) places data on the net's device; "cpu",
        # not accelerate's "cpu:0", which torch.load cannot map.
        device = torch.device(self.accelerator.device)
        self.device = "cpu" if device.type == "cpu" else str(device)
        return self

    def _share_buffers(self):
        """Give every process the main process's buffers (BatchNorm statistics).

        DistributedDataParallel sends them before each forward pass, but the last
        training pass updates each process's copy with its own batch.
        """
        if self.accelerator.num_processes == 1:
            return
        from accelerate.utils import broadcast

        for module in (self.module_, getattr(self, "head_", None)):
            for buffer in [] if module is None else module.buffers():
                buffer.copy_(broadcast(buffer.detach().clone(), from_process=0))

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, SegmentTable):
            acc = self.accelerator
            return _ShardedEpoch(dataset, acc.process_index, acc.num_processes)
        return super().get_iterator(dataset, training=training)

    def train_step(self, batch, **fit_params):
        return self._mean_over_processes(
            super().train_step(batch, **fit_params), "train"
        )

    def validation_step(self, batch, **fit_params):
        step = super().validation_step(batch, **fit_params)
        return self._mean_over_processes(step, "valid")

    def evaluation_step(self, batch, training=False):
        # Not AccelerateMixin's, which gathers the predictions of all processes:
        # predicting is local (one process may predict alone, after training).
        return super(AccelerateMixin, self).evaluation_step(batch, training=training)

    def _mean_over_processes(self, step, prefix):
        """The batch's loss and logged scores averaged over the processes.

        One collective call per batch, made by every process in the same order.
        The shares of a step differ by at most one triplet, so the mean of the
        processes' batch means is the mean over the step's triplets (exactly
        when the shares are equal).
        """
        record = self.history[-1]["batches"][-1]
        active, class_loss = f"{prefix}_active", f"{prefix}_class_loss"
        values = torch.tensor(
            [
                float(step["loss"].detach()),
                record.get(active, 0.0),
                record.get(class_loss, 0.0),
                float(class_loss in record),
            ],
            dtype=torch.float64,
            device=self._data_device(),
        )
        total = self.accelerator.reduce(values, reduction="sum").cpu()
        n = self.accelerator.num_processes
        record[active] = float(total[1]) / n
        if total[3] > 0:  # processes whose batch had labelled anchors
            record[class_loss] = float(total[2] / total[3])
        step["loss"] = (total[0] / n).float()
        return step

    def _classification_loss(self, head, emb, batch, anchor, prefix):
        loss = super()._classification_loss(head, emb, batch, anchor, prefix)
        if loss is None and self.accelerator.num_processes > 1:
            # The head's gradients are averaged at every step: it must take part
            # even without labelled anchors (zero loss, zero gradients).
            loss = head(emb[:0]).sum()
        return loss

    def __getstate__(self):
        state = super().__getstate__()
        state["accelerator"] = None
        return state
