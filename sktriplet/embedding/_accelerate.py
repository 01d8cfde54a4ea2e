"""Data-parallel training of the embedder with Hugging Face Accelerate.

:class:`AcceleratedTripletEmbedder` is :class:`TripletEmbedder` with checks that
every process holds the same data, the main process's seeds shared by all, and the
skorch engine of ``_accelerated_net.py``. ``accelerate`` is imported only when a
fit starts: the fitted model pickles and loads without it.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from ..sampling import seed_unset_random_states
from ..utils._device import resolve_device
from ..utils._sklearn_compat import HasMethods
from ._accelerated_net import AcceleratedTripletNet
from ._cpu import resolve_amp
from ._embedder import TripletEmbedder

_MIXED_PRECISION = {None: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}


def _input_size(X, y) -> tuple:
    """Clips, values and label shape of a raw ``X`` and ``y``."""
    if isinstance(X, (list, tuple)):
        values = sum(int(np.size(clip)) for clip in X)
    else:
        values = int(np.prod(np.shape(X)))
    return len(X), values, None if y is None else tuple(np.shape(y))


def _fingerprint(X3, lengths, Y) -> int:
    """CRC-32 of the data the triplets index (same data <=> same triplets)."""
    crc = 0
    for part in (X3, lengths, Y):
        if part is not None:
            crc = zlib.crc32(np.ascontiguousarray(part).data, crc)
    return crc


def check_same_data(accelerator, summary, what: str) -> None:
    """Raise unless every process passes the same ``summary`` of its data."""
    if accelerator.num_processes == 1:
        return
    from accelerate.utils import gather_object

    summaries = gather_object([summary])
    if all(s == summaries[0] for s in summaries):
        return
    each = "; ".join(f"process {i}: {s}" for i, s in enumerate(summaries))
    raise ValueError(
        f"The {len(summaries)} processes were given different data ({what}: "
        f"{each}). Data-parallel training needs the same X and y on every "
        "process: all processes draw the same triplets from the whole data set "
        "and each trains on its own share of them. Load the full data set in "
        "every process (do not split it between processes)."
    )


class AcceleratedTripletEmbedder(TripletEmbedder):
    """:class:`TripletEmbedder` trained data-parallel on several processes or GPUs.

    Training runs through Hugging Face Accelerate (skorch's
    :class:`~skorch.hf.AccelerateMixin`); launch the script with ``accelerate
    launch`` (``--cpu --num_processes 4`` for four CPU processes, or one process
    per GPU), or run it in one plain process like :class:`TripletEmbedder`. Needs
    the ``accelerate`` package (``pip install sktriplet[accelerate]``).

    Every process must be given the same ``X`` and ``y`` (checked when ``fit``
    starts: different sizes or contents raise a ``ValueError``). All processes
    draw the same ``n_triplets`` triplets per epoch from the main process's seeds;
    each global step of ``batch_size * num_processes`` triplets is cut into one
    share per process (shares differ by at most one triplet), so each triplet of
    an epoch is used exactly once. The missing negatives are mined among the
    process's own batch of ``batch_size`` triplets, as in a single-process fit
    with that ``batch_size``; gradients are averaged over the processes, so their
    weights stay identical. The logged losses are means over the processes. A
    single-process :class:`TripletEmbedder` with ``batch_size * num_processes``
    trains on the same steps (it mines in the larger batch, and its BatchNorm
    statistics are those of the larger batch).

    The fitted estimator pickles without any accelerate state (the
    ``accelerator`` parameter is not saved: a loaded model has
    ``accelerator=None``) and transforms in a plain process; ``transform`` is not
    distributed.

    Parameters
    ----------
    strategy : {"s1", "s2", "s3", "s4", "s5"} or TripletSampler, default="s2"
        As for :class:`TripletEmbedder`, like every parameter but ``accelerator``.
    accelerator : accelerate.Accelerator or None, default=None
        The accelerator to train with. None: ``fit`` makes one from the launch
        environment (``accelerate launch``, ``torchrun``), on the CPU when
        ``device="cpu"``, with mixed precision from ``amp``. With an accelerator,
        ``device`` must be ``"auto"`` and ``amp`` False: the accelerator's
        ``device`` and ``mixed_precision`` apply.
    batch_size : int, default=64
        Triplets per batch of each process (the mining pool); a step holds
        ``batch_size * num_processes`` triplets.
    fine_tune : bool or "auto", default="auto"
        As in :class:`TripletEmbedder`. The fine-tuning is not data-parallel:
        every process runs it on the whole data set on its own device, and all
        keep the main process's weights.
    **kwargs
        The other :class:`TripletEmbedder` parameters.

    Attributes
    ----------
    net_ : AcceleratedTripletNet
        The fitted skorch net, unwrapped (``net_.module_`` is the embedding).
    device_ : str
        Device of the process that pickled the model (``"cpu"``, ``"cuda:0"``).

    See Also
    --------
    TripletEmbedder : The same estimator on one process.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.embedding import AcceleratedTripletEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 200, 16)).astype(np.float32)
    >>> emb = AcceleratedTripletEmbedder(
    ...     strategy="s1", n_triplets=16, batch_size=8, segment_frames=40,
    ...     max_epochs=1, device="cpu", random_state=0, module__n_filters=4)
    >>> emb.fit_transform(X).shape  # one process here; see accelerate launch
    (6, 20, 4)
    """

    _parameter_constraints: dict = {
        **TripletEmbedder._parameter_constraints,
        "accelerator": [HasMethods(["prepare", "backward"]), None],
    }

    def __init__(
        self,
        strategy="s2",
        *,
        accelerator=None,
        n_triplets=2048,
        labeled_ratio="auto",
        loss="supcon",
        margin=1.0,
        temperature=0.1,
        band_gain=1.0,
        classification_weight=0.0,
        weak_label_share=0.3,
        fine_tune="auto",
        frame_pool=10,
        segment_frames=96,
        n_mels=64,
        max_epochs=30,
        batch_size=64,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        amp=False,
        tune_allocator="auto",
        device="auto",
        callbacks=None,
        validation_fraction=None,
        warm_start=False,
        on_interrupt="raise",
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        super().__init__(
            strategy,
            n_triplets=n_triplets,
            labeled_ratio=labeled_ratio,
            loss=loss,
            margin=margin,
            temperature=temperature,
            band_gain=band_gain,
            classification_weight=classification_weight,
            weak_label_share=weak_label_share,
            fine_tune=fine_tune,
            frame_pool=frame_pool,
            segment_frames=segment_frames,
            n_mels=n_mels,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            amp=amp,
            tune_allocator=tune_allocator,
            device=device,
            callbacks=callbacks,
            validation_fraction=validation_fraction,
            warm_start=warm_start,
            on_interrupt=on_interrupt,
            verbose=verbose,
            random_state=random_state,
            **kwargs,
        )
        self.accelerator = accelerator

    def _make_accelerator(self):
        """``accelerator``, or one made from the launch environment."""
        if self.accelerator is not None:
            if self.device != "auto":
                raise ValueError(
                    f"device={self.device!r} with an accelerator: the accelerator "
                    "places the model (accelerator.device); leave device='auto'."
                )
            if self.amp is not False:
                raise ValueError(
                    f"amp={self.amp!r} with an accelerator: set mixed_precision on "
                    "the Accelerator instead and leave amp=False."
                )
            return self.accelerator
        try:
            from accelerate import Accelerator
        except ImportError as exc:
            raise ImportError(
                "AcceleratedTripletEmbedder needs the accelerate package: pip "
                "install 'sktriplet[accelerate]' (or pip install accelerate)."
            ) from exc
        device = resolve_device(self.device)
        return Accelerator(
            cpu=torch.device(device).type == "cpu",
            mixed_precision=_MIXED_PRECISION[resolve_amp(self.amp, device)],
        )

    def _fit(self, X, y, *, reset):
        self._validate_params()
        accelerator = self._make_accelerator()
        # First, before any check that a process could fail alone.
        clips, values, y_shape = _input_size(X, y)
        check_same_data(
            accelerator, (clips, values, y_shape), "clips, values, shape of y"
        )
        self._accelerator = accelerator
        try:
            return super()._fit(X, y, reset=reset)
        finally:
            del self._accelerator

    def _training_segments(self, X3, lengths, Y, sampler, device, reset):
        check_same_data(
            self._accelerator, _fingerprint(X3, lengths, Y), "CRC-32 of X and y"
        )
        data, seed, rng = super()._training_segments(
            X3, lengths, Y, sampler, device, reset
        )
        # Every process takes the main process's seeds (random_state=None draws
        # differ): the same initial weights and the same triplets everywhere.
        from accelerate.utils import broadcast_object_list

        shared = [data.base_seed, seed, rng.bit_generator.state]
        if self._accelerator.num_processes > 1:
            broadcast_object_list(shared, from_process=0)
        data.base_seed, seed = shared[0], shared[1]
        rng.bit_generator.state = shared[2]
        return data, seed, rng

    def _triplet_table(self, data, idx, sampler, rng, fixed, valid=None):
        # The sampler's own unseeded rules must draw alike on every process,
        # also with random_state=None.
        seed_unset_random_states(sampler, data.base_seed)
        return super()._triplet_table(data, idx, sampler, rng, fixed, valid=valid)

    def _make_net(self, device, amp_dtype, with_valid, n_classes):
        plain = super()._make_net(device, amp_dtype, with_valid, n_classes)
        params = plain.get_params(deep=False)
        params["device"] = None  # the accelerator places the modules
        if not self._accelerator.is_main_process:  # one progress bar
            params["callbacks"] = [
                cb
                for cb in params["callbacks"]
                if not (isinstance(cb, tuple) and cb[0] == "progress_bar")
            ]
        return AcceleratedTripletNet(accelerator=self._accelerator, **params)

    def _make_or_update_net(
        self, device, amp_dtype, with_valid, n_classes, seed, reset
    ):
        if not reset:
            self.net_.accelerator = self._accelerator
            self.net_.device = None
        return super()._make_or_update_net(
            device, amp_dtype, with_valid, n_classes, seed, reset
        )

    def _train(self, net, train_table, device, seed):
        super()._train(net, train_table, device, seed)
        self.device_ = str(self.net_.device)

    def _fine_tune(self, X3, lengths, Y, device, seed):
        # Not data-parallel: every process fine-tunes on the whole data set on its
        # own device, then all take the main process's weights (runs on several
        # GPUs need not agree to the bit).
        super()._fine_tune(X3, lengths, Y, str(self._accelerator.device), seed)
        if self._accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            module = self.net_.module_
            shared = [{k: v.cpu() for k, v in module.state_dict().items()}]
            broadcast_object_list(shared, from_process=0)
            module.load_state_dict(shared[0])

    def __getstate__(self):
        state = super().__getstate__()
        state["accelerator"] = None
        state.pop("_accelerator", None)
        return state
