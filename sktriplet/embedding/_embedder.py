"""TripletEmbedder: scikit-learn transformer learning audio embeddings with triplets."""

from __future__ import annotations

import platform
import warnings
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import ProgressBar

from ..features import pool_frames, segment
from ..nn import ConvEmbedding
from ..sampling import STRATEGIES, TripletSampler, get_sampler
from ..sampling._base import fill_random_states
from ..utils._allocator import tuned_cpu_allocator
from ..utils._device import resolve_device
from ..utils._interrupt import ON_INTERRUPT, discard_fitted_state
from ..utils._labels import check_semi_supervised_y, labeled_mask
from ..utils._seeding import private_generator, seeded_init
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import (
    length_groups,
    real_frames,
    split_clips,
    validate_clips,
)
from ._batch import SegmentTable
from ._net import TripletNet, split_valid
from ._weak_labels import loudest_segments, segment_loudness

#: Hop between log-mel frames (10 ms), for segment start times in seconds.
FRAME_SECONDS = 0.010

#: Prefixes of the routed keyword parameters (``module__n_filters=32`` ...).
PREFIXES = ("module__", "optimizer__", "callbacks__", "sampler__")

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX).

    Non-x86 CPUs count as native: torch has no check for them, and a false alarm
    is worse than none.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: True)() for name in checks)


def resolve_amp(amp, device: str):
    """Autocast dtype for ``amp`` on ``device`` (None = full precision)."""
    if amp is False or amp is None:
        return None
    on_cuda = torch.device(device).type == "cuda"
    if amp == "fp16" and not on_cuda:
        raise ValueError(
            "amp='fp16' needs a CUDA device; on CPU use amp=True or amp='bf16'."
        )
    if on_cuda:
        if amp is True:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return _AMP_DTYPES[amp]
    if not cpu_has_native_bf16():
        warnings.warn(
            f"amp={amp!r} on a CPU without native bfloat16 (no AVX512-BF16 or AMX): "
            "bfloat16 is emulated here, about 9x slower than float32 "
            "(benchmarks/bench_embedder.py). Use amp=False on this machine.",
            UserWarning,
            stacklevel=4,
        )
    return torch.bfloat16


class TripletEmbedder(TransformerMixin, BaseEstimator):
    """Audio embedding learnt from (semi-)supervised triplets.

    The paper's CNN (:class:`~sktriplet.nn.ConvEmbedding`) is trained on 0.96 s
    log-mel segments with triplets drawn by a strategy of :mod:`sktriplet.sampling`
    (Turpault, Serizel & Vincent, ICASSP 2019), under the paper's triplet loss
    (``loss="triplet"``) or, by default, a semi-supervised contrastive loss on the
    same anchors and positives (``loss="supcon"``). Training runs in a skorch
    ``NeuralNet`` (``net_``): fresh triplets every epoch; each batch embeds its
    distinct segments once and mines the missing negatives semi-hard among its own
    embeddings. Inputs are standardized per mel band with statistics learnt in
    ``fit``. Clips of different lengths are passed as a list of 2-D arrays
    (``transform`` then returns a list; user guide, "Clips of any length").

    Parameters
    ----------
    strategy : {"s1", "s2", "s3", "s4", "s5"} or TripletSampler, default="s2"
        Triplet strategy (see :func:`sktriplet.sampling.get_sampler`) or a sampler
        object. ``sampler__<param>`` keyword arguments are passed to it.
    n_triplets : int, default=2048
        Triplets drawn per epoch.
    labeled_ratio : float in [0, 1], "auto" or None, default="auto"
        Share of triplets with a labelled anchor; None = the strategy's natural
        share (the labelled segments' share of all segments, 3 % on the embedded
        data); "auto" = 0.5 for the strategies that draw both labelled and
        unlabelled anchors (S2, S3) when both kinds of segments exist, else None.
    loss : {"supcon", "triplet"}, default="supcon"
        ``"triplet"``: the paper's triplet loss with semi-hard negatives mined in
        the batch. ``"supcon"``: a semi-supervised contrastive loss on the same
        batches, drawn by the same strategy (a labelled anchor's positives are its
        positive and every segment of another clip sharing a label; an unlabelled
        anchor's only positive is its positive of the strategy, e.g. a transformed
        view; cosine similarities over ``temperature``). Measured level with the
        triplet loss with 60 labelled clips and 0.08 macro-F1 above it with 300,
        hence the default (user guide, "What matters for quality").
    margin : float, default=1.0
        Margin of the triplet loss.
    temperature : float, default=0.1
        Temperature of the ``"supcon"`` loss.
    classification_weight : float, default=0.0
        When positive, a linear classification head on the segment embeddings is
        trained jointly: this weight times the binary cross-entropy of the labelled
        anchors' clip labels is added to the triplet loss (needs labels; logged as
        ``train_class_loss``).
    weak_label_share : float in (0, 1], default=0.3
        Share of each labelled clip's segments that inherit its labels: the
        loudest ones (:func:`loudest_segments`); its other segments are treated
        as unlabelled. A weak label says an event is somewhere in the clip; with
        1.0 (the paper's rule) every segment inherits it, and most of those hold
        only background.
    frame_pool : int, default=10
        Input frames averaged into one step before the CNN (10 frames of 10 ms:
        0.1 s); the embedding has one vector per step. 1 = the paper's full
        resolution, about 15x slower per epoch (53 s against 3.4 s on one core)
        for no better tags.
    segment_frames : int, default=96
        Input frames per training segment (96 frames of 10 ms = 0.96 s); the
        segment has ``ceil(segment_frames / frame_pool)`` steps.
    n_mels : int, default=64
        Mel bands per frame, used only to reshape a 2-D (flattened) ``X``.
    max_epochs : int, default=30
        Epochs per call to ``fit`` / ``partial_fit``.
    batch_size : int, default=64
        Triplets per batch.
    lr : float, default=1e-3
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.Adam
        ``optimizer__<param>`` keyword arguments are passed to it.
    amp : bool or {"bf16", "fp16"}, default=False
        Automatic mixed precision. ``True`` = bfloat16 on CPU, bfloat16 (or float16
        where bfloat16 is missing) on CUDA; float16 uses gradient scaling. On CPUs
        with native bfloat16 (AVX512-BF16 / AMX) ``amp=True`` is the fast mode (on 2
        cores of a Xeon with AMX: 5.4x the triplets/s of a plain PyTorch loop
        against 3.1x in fp32, 1,330 segments/s of inference); on CPUs without
        it bfloat16 is emulated and about 9x slower (``fit`` warns): leave it off
        there. See ``benchmarks/bench_embedder.py``.
    tune_allocator : bool, default=True
        On CPU, let glibc keep the CNN's big activation buffers for reuse during
        ``fit`` and ``transform`` instead of unmapping and page-faulting them in
        again at every batch (:func:`~sktriplet.embedding.tuned_cpu_allocator`):
        1.6x the training and 1.5x the inference speed on 2 cores, for a higher
        peak memory (2.6 GB against 1.4 GB for the paper's CNN with batch 64).
        glibc's default settings come back when the call ends, and the memory kept
        is returned. It does nothing on CUDA, without glibc, or where the
        environment (``MALLOC_*_`` variables) sets the allocator.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``...
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (``EarlyStopping``, ``Checkpoint``...);
        ``callbacks__<name>__<param>`` keyword arguments reach them.
    validation_fraction : float in (0, 1) or None, default=None
        Share of clips held out (with their own fixed triplets) for a validation
        triplet loss ``valid_loss`` in ``history_`` (needed by ``EarlyStopping``).
    warm_start : bool, default=False
        Whether ``fit`` continues from the current weights instead of restarting.
    on_interrupt : {"raise", "stop"}, default="raise"
        What a KeyboardInterrupt (Ctrl-C) during training does. ``"raise"``: it
        propagates out of ``fit``, and an interrupted first fit leaves the
        estimator unfitted, so a half-trained model is never mistaken for a
        finished one. ``"stop"``: training stops there and the model keeps the
        weights of that moment, with a warning (skorch's behaviour). A callback's
        request to stop (``EarlyStopping``) ends training normally either way.
    verbose : int, default=0
        Per-epoch log table and progress bar when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the triplets and dropout (identical embeddings on CPU for
        an int). It also seeds the sampler's rules whose own ``random_state`` is
        left at ``None`` (e.g. the S3 nearest-positive remedies).
    **kwargs
        ``module__<param>`` for :class:`~sktriplet.nn.ConvEmbedding` (``n_filters``,
        ``n_blocks``, ``pool_freq``, ``dropout``, ``pooling``, ``channels_last``),
        ``optimizer__<param>``, ``callbacks__<param>``, ``sampler__<param>``.

    Attributes
    ----------
    net_ : TripletNet
        The fitted skorch net; ``net_.module_`` is the embedding module.
    history_ : skorch.History
        Per epoch: ``train_loss``, ``train_active`` (share of triplets with a
        non-zero loss), ``valid_loss`` / ``valid_active`` with a validation split,
        ``dur``.
    feature_mean_, feature_std_ : ndarray of shape (n_mels,)
        Standardization of the input log-mel bands.
    n_features_in_ : int
        Columns of a 2-D ``X`` seen in ``fit``, or mel bands for a 3-D ``X``.
    n_mels_in_ : int
        Mel bands per frame seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names of a 2-D ``X`` given as a DataFrame with string column names.
    classes_ : ndarray
        Classes of ``y`` (only when ``y`` was given).
    embedding_dim_ : int
        Size of a frame embedding (``transform``).
    segment_steps_ : int
        Steps (pooled frames) per training segment.
    segment_dim_ : int
        Size of a segment embedding (``transform_segments``).
    device_ : str
        Device the net was trained on.

    See Also
    --------
    sktriplet.nn.ConvEmbedding : The embedding network.
    sktriplet.sampling.get_sampler : The triplet strategies.

    Notes
    -----
    Fits running at once in several threads are independent. Each builds its
    network and optimizer holding a process-wide lock, from torch's global
    generator seeded with its own seed and put back afterwards; its training draws
    triplets from its own numpy generator and dropout masks from a
    :class:`torch.Generator` private to the fit. With an int ``random_state`` a fit
    gives bit-identical embeddings on the CPU whatever other sktriplet fits run in
    other threads or processes (user guide, "Reproducibility and threads").

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.embedding import TripletEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 200, 16)).astype(np.float32)  # 6 clips of 2 s
    >>> emb = TripletEmbedder(strategy="s1", n_triplets=16, batch_size=8,
    ...                       segment_frames=40, max_epochs=1, random_state=0,
    ...                       module__n_filters=4)
    >>> emb.fit_transform(X).shape  # one vector per 10 frames
    (6, 20, 4)
    >>> emb.transform_segments(X).shape  # 5 segments of 0.4 s per clip
    (30, 4)
    """

    _parameter_constraints: dict = {
        # Names are case-insensitive, as in get_sampler.
        "strategy": [
            StrOptions(set(STRATEGIES) | {name.upper() for name in STRATEGIES}),
            TripletSampler,
        ],
        "n_triplets": [Interval(Integral, 1, None, closed="left")],
        "labeled_ratio": [
            Interval(Real, 0, 1, closed="both"),
            StrOptions({"auto"}),
            None,
        ],
        "loss": [StrOptions({"triplet", "supcon"})],
        "margin": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "classification_weight": [Interval(Real, 0, None, closed="left")],
        "weak_label_share": [Interval(Real, 0, 1, closed="right")],
        "frame_pool": [Interval(Integral, 1, None, closed="left")],
        "segment_frames": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "amp": ["boolean", StrOptions({"bf16", "fp16"})],
        "tune_allocator": ["boolean"],
        "device": [str],
        "callbacks": [list, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "warm_start": ["boolean"],
        "on_interrupt": [StrOptions(set(ON_INTERRUPT))],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        strategy="s2",
        *,
        n_triplets=2048,
        labeled_ratio="auto",
        loss="supcon",
        margin=1.0,
        temperature=0.1,
        classification_weight=0.0,
        weak_label_share=0.3,
        frame_pool=10,
        segment_frames=96,
        n_mels=64,
        max_epochs=30,
        batch_size=64,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        amp=False,
        tune_allocator=True,
        device="auto",
        callbacks=None,
        validation_fraction=None,
        warm_start=False,
        on_interrupt="raise",
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        self.strategy = strategy
        self.n_triplets = n_triplets
        self.labeled_ratio = labeled_ratio
        self.loss = loss
        self.margin = margin
        self.temperature = temperature
        self.classification_weight = classification_weight
        self.weak_label_share = weak_label_share
        self.frame_pool = frame_pool
        self.segment_frames = segment_frames
        self.n_mels = n_mels
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.amp = amp
        self.tune_allocator = tune_allocator
        self.device = device
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.on_interrupt = on_interrupt
        self.verbose = verbose
        self.random_state = random_state
        for key, value in kwargs.items():
            setattr(self, key, value)

    # -- parameters --------------------------------------------------------------
    def _routed_params(self, prefix=None) -> dict:
        """Keyword parameters beyond the signature (``prefix`` ones only if given)."""
        names = set(self._get_param_names())
        extra = {
            key: value
            for key, value in vars(self).items()
            if key not in names and not key.startswith("_") and not key.endswith("_")
        }
        if prefix is None:
            return extra
        return {k: v for k, v in extra.items() if k.startswith(prefix)}

    def _check_routed_params(self):
        unknown = [k for k in self._routed_params() if not k.startswith(PREFIXES)]
        if unknown:
            raise TypeError(
                f"TripletEmbedder got unexpected parameter(s) {unknown}; routed "
                f"parameters must start with one of {PREFIXES}."
            )

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._routed_params())
        return params

    def set_params(self, **params):
        routed = {
            k: v
            for k, v in params.items()
            if k.startswith(PREFIXES) or k in self._routed_params()
        }
        for key, value in routed.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in routed}
        if rest:
            super().set_params(**rest)
        return self

    def _sub_params(self, prefix) -> dict:
        n = len(prefix)
        return {k[n:]: v for k, v in self._routed_params(prefix).items()}

    # -- fitting -----------------------------------------------------------------
    def _check_X(self, X, *, reset):
        """3-D float32 clips, their lengths and the form of ``X``.

        A list of 2-D clips (form ``"list"``) is zero-padded to the longest; its
        ``lengths`` are None when all clips have the same length. A 2-D ``X`` (form
        ``"2d"``) is checked like scikit-learn's and reshaped. After a 2-D ``fit`` a
        2-D ``X`` must keep the number of columns (``n_features_in_``); any ``X``
        must keep the mel bands (``n_mels_in_``).
        """
        X3, lengths, form = validate_clips(
            self, X, reset=reset, n_features=self.n_mels, check_nd=True
        )
        if reset:
            self.n_mels_in_ = X3.shape[2]
            if not self._fit_2d:
                self.n_features_in_ = X3.shape[2]
        elif X3.shape[2] != self.n_mels_in_:
            raise ValueError(
                f"X has {X3.shape[2]} mel bands per frame, but TripletEmbedder was "
                f"fitted with {self.n_mels_in_}; transform needs the same n_mels "
                "as fit."
            )
        return X3, lengths, form

    def _make_sampler(self):
        return get_sampler(self.strategy, **self._sub_params("sampler__"))

    def _check_labels(self, sampler, Y):
        name = self.strategy if isinstance(self.strategy, str) else "the sampler"
        has_labels = Y is not None and labeled_mask(Y).any()
        # Supervised and semi-supervised samplers draw labelled anchors.
        uses_labels = sampler.requires_labels or bool(
            getattr(sampler, "_labeled_anchors", False)
        )
        if uses_labels and not has_labels:
            raise ValueError(
                f"strategy={name!r} uses labels, but y has no labelled row "
                "(y is None or every row is -1); pass labels or choose an "
                "unsupervised strategy."
            )

    def fit(self, X, y=None):
        """Train the embedding on clips ``X`` (and clip labels ``y``).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_mels) or (n_clips, n_values), \
or list of arrays of shape (n_frames_i, n_mels)
            Log-mel features; a 2-D ``X`` is reshaped with ``n_mels`` bands per frame.
            A list holds clips of different lengths: segments are cut from each
            clip's own frames and the standardization is learnt on real frames
            only. Every clip needs at least ``segment_frames`` frames (else a
            ``ValueError`` names the clip).
        y : array-like of shape (n_clips, n_classes) or (n_clips,), default=None
            Multi-label indicator with all ``-1`` rows for unlabelled clips, or a 1-D
            class vector with ``-1`` for unlabelled clips, or None.

        Returns
        -------
        self : object
        """
        warm = self.warm_start and hasattr(self, "net_")
        return self._fit_or_discard(X, y, reset=not warm)

    def partial_fit(self, X, y=None):
        """Train ``max_epochs`` more epochs from the current weights.

        Same arguments as :meth:`fit`; the first call fits from scratch. ``y``
        must have the label columns of the first call.
        """
        return self._fit_or_discard(X, y, reset=not hasattr(self, "net_"))

    def _fit_or_discard(self, X, y, *, reset):
        """``_fit``; an interrupted fit from scratch leaves the estimator unfitted."""
        try:
            return self._fit(X, y, reset=reset)
        except KeyboardInterrupt:
            if reset:
                discard_fitted_state(self)
            raise

    def _fit(self, X, y, *, reset):
        self._validate_params()
        self._check_routed_params()
        X3, lengths, _ = self._check_X(X, reset=reset)
        n_clips = X3.shape[0]
        device = resolve_device(self.device)
        amp_dtype = resolve_amp(self.amp, device)
        Y = None
        if y is not None:
            Y, classes, _ = check_semi_supervised_y(y, n_clips, name="y")
        if not reset and y is not None:
            self._check_same_classes(classes)
        if n_clips < 2:
            raise ValueError(
                f"X has {n_clips} sample (clip); triplet training needs at least 2 "
                "clips (negatives come from other clips)."
            )
        self._check_clip_lengths(X3, lengths)
        X3, lengths = self._pool(X3, lengths)
        steps = self._segment_steps()
        if reset:
            self._learn_standardization(real_frames(X3, lengths))
        if y is not None:
            self.classes_ = classes
        sampler = self._make_sampler()
        self._check_labels(sampler, Y)
        n_classes = 0 if Y is None else Y.shape[1]
        if self.classification_weight > 0 and not (
            Y is not None and n_classes and labeled_mask(Y).any()
        ):
            raise ValueError(
                f"classification_weight={self.classification_weight} trains a "
                "classification head on labelled clips, but y has no labelled row."
            )

        Xs = self._standardize(X3)
        segments, clip_index, start_time = self._segment(Xs, lengths)
        if len(segments) < self.batch_size:
            raise ValueError(
                f"X gives {len(segments)} segments of {self.segment_frames} frames, "
                f"fewer than one batch (batch_size={self.batch_size}); lower "
                "batch_size or pass more clips."
            )
        seg_labels = (
            np.full((len(segments), 0), -1, np.int8) if Y is None else Y[clip_index]
        )
        if self.weak_label_share < 1 and Y is not None:
            loud = segment_loudness(X3, steps, lengths)
            quiet = ~loudest_segments(loud, clip_index, self.weak_label_share)
            seg_labels[quiet & labeled_mask(seg_labels)] = -1
        labeled_ratio = self._resolve_labeled_ratio(sampler, seg_labels)

        rs = check_random_state(self.random_state)
        base_seed = int(rs.randint(np.iinfo(np.int32).max))
        epochs_done = 0 if reset else len(self.net_.history)
        rng = np.random.default_rng([base_seed, epochs_done])
        torch_seed = int(rng.integers(np.iinfo(np.int32).max))
        on_cuda = torch.device(device).type == "cuda"

        def table(idx, fixed, valid=None):
            sampler_i = sampler if not fixed else self._make_sampler()
            if self.random_state is not None:
                fill_random_states(sampler_i, base_seed)
            sampler_i.fit(
                segments[idx],
                seg_labels[idx],
                clip_index=clip_index[idx],
                start_time=start_time[idx],
            )
            return SegmentTable(
                segments[idx],
                clip_index[idx],
                seg_labels[idx],
                sampler_i,
                n_triplets=self.n_triplets,
                batch_size=self.batch_size,
                labeled_ratio=labeled_ratio,
                rng=np.random.default_rng(rng.integers(np.iinfo(np.int32).max))
                if fixed
                else rng,
                feature_mean=self.feature_mean_,
                feature_std=self.feature_std_,
                fixed=fixed,
                pin_memory=on_cuda,
                prefetch=on_cuda,
                valid=valid,
            )

        valid_table = None
        train_idx = np.arange(len(segments))
        if self.validation_fraction is not None:
            n_valid = int(round(self.validation_fraction * n_clips))
            if not 1 <= n_valid < n_clips - 1:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} holds out "
                    f"{n_valid} of {n_clips} clips; need at least 1 validation clip "
                    "and 2 training clips."
                )
            valid_clips = rng.permutation(n_clips)[:n_valid]
            is_valid = np.isin(clip_index, valid_clips)
            train_idx = np.flatnonzero(~is_valid)
            try:
                valid_table = table(np.flatnonzero(is_valid), fixed=True)
                n_valid_triplets = len(valid_table.draw())
            except ValueError as exc:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction}: the held-out "
                    f"clips cannot give triplets: {exc}"
                ) from exc
            if n_valid_triplets == 0:
                # The validation loss would never be logged and callbacks reading
                # valid_loss (EarlyStopping) would fail at the end of epoch 1.
                raise ValueError(
                    f"validation_fraction={self.validation_fraction}: the {n_valid} "
                    f"held-out clips give no triplet for strategy "
                    f"{self.strategy!r} (no valid positive or negative for any of "
                    "their anchors). Raise validation_fraction, pass more clips "
                    "(labelled ones for label-based strategies), or set "
                    "validation_fraction=None."
                )
        train_table = table(train_idx, fixed=False, valid=valid_table)

        # Another thread's fit neither shifts nor sees this fit's draws (Notes).
        with seeded_init(torch_seed, device):
            if reset:
                self.net_ = self._make_net(
                    device, amp_dtype, valid_table is not None, n_classes
                )
                self.net_.initialize()
            else:
                self.net_.set_params(
                    on_interrupt=self.on_interrupt,
                    max_epochs=self.max_epochs,
                    verbose=self.verbose,
                    train_split=split_valid if valid_table is not None else None,
                )
        with private_generator(torch_seed), self._allocator_scope(device):
            self.net_.partial_fit(train_table)
        self.device_ = device
        module = self.net_.module_
        self.embedding_dim_ = int(module.dim)
        self.segment_steps_ = steps
        self.segment_dim_ = int(
            module.dim * (steps if module.pooling == "flatten" else 1)
        )
        self.history_ = self.net_.history
        return self

    def _check_same_classes(self, classes):
        """Continued training must see the label columns of the first fit."""
        fitted = getattr(self, "classes_", None)
        if classes is None or fitted is None:
            return
        if len(classes) != len(fitted) or not np.array_equal(classes, fitted):
            raise ValueError(
                f"y has {len(classes)} label columns (classes {list(classes)}), but "
                f"the embedder was fitted with {len(fitted)} (classes_ = "
                f"{list(fitted)}); partial_fit and warm_start need the same "
                "columns. Call fit with warm_start=False to start over."
            )

    def _segment_steps(self) -> int:
        return -(-self.segment_frames // self.frame_pool)

    def _check_clip_lengths(self, X3, lengths):
        """Every clip must give at least one segment of ``segment_frames``."""
        if lengths is None and X3.shape[1] < self.segment_frames:
            raise ValueError(
                f"Clips have {X3.shape[1]} frames, fewer than segment_frames="
                f"{self.segment_frames}: no training segment can be cut."
            )
        short = [] if lengths is None else np.flatnonzero(lengths < self.segment_frames)
        if len(short):
            raise ValueError(
                f"X[{short[0]}] has {lengths[short[0]]} frames, fewer than "
                f"segment_frames={self.segment_frames}: no segment can be cut from "
                f"it ({len(short)} clip(s) of X that short: "
                f"{short[:5].tolist()}{'...' if len(short) > 5 else ''}). Drop "
                "them or pad them, e.g. with LogMelExtractor(duration=...); "
                "transform embeds clips of any length."
            )

    def _learn_standardization(self, frames):
        """Per-band mean and std of ``frames`` ``(n, n_frames, n_mels)``."""
        mean = frames.mean(axis=(0, 1), dtype=np.float64)
        std = frames.std(axis=(0, 1), dtype=np.float64)
        self.feature_mean_ = mean.astype(np.float32)
        self.feature_std_ = np.maximum(std, 1e-6 * max(std.max(), 1.0)).astype(
            np.float32
        )

    def _pool(self, X3, lengths=None):
        """Mean of every ``frame_pool`` input frames (a shorter tail is one step).

        Returns the pooled clips and their lengths in steps (None if all equal).
        """
        pooled = pool_frames(X3, self.frame_pool, keep_partial=True, lengths=lengths)
        return pooled, None if lengths is None else -(-lengths // self.frame_pool)

    def _segment(self, Xs, lengths=None):
        return segment(
            Xs,
            n_frames=self._segment_steps(),
            frame_seconds=FRAME_SECONDS * self.frame_pool,
            lengths=lengths,
        )

    def _resolve_labeled_ratio(self, sampler, seg_labels):
        """``labeled_ratio`` with "auto" resolved (see the class docstring)."""
        if self.labeled_ratio != "auto":
            return self.labeled_ratio
        mixes = getattr(sampler, "_labeled_anchors", False) and getattr(
            sampler, "_unlabeled_anchors", False
        )
        labeled = labeled_mask(seg_labels) if seg_labels.shape[1] else None
        if mixes and labeled is not None and labeled.any() and not labeled.all():
            return 0.5
        return None

    def _make_net(self, device, amp_dtype, with_valid, n_classes):
        callbacks = list(self.callbacks or [])
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        module_params = {"n_mels": self.n_mels_in_, **self._sub_params("module__")}
        kwargs = {f"module__{k}": v for k, v in module_params.items()}
        kwargs.update(
            {f"optimizer__{k}": v for k, v in self._sub_params("optimizer__").items()}
        )
        kwargs.update(
            {f"callbacks__{k}": v for k, v in self._sub_params("callbacks__").items()}
        )
        return TripletNet(
            ConvEmbedding,
            criterion__margin=self.margin,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=split_valid if with_valid else None,
            callbacks=callbacks,
            device=device,
            amp_dtype=amp_dtype,
            n_classes=n_classes,
            classification_weight=self.classification_weight,
            segment_frames=self._segment_steps(),
            objective=self.loss,
            temperature=self.temperature,
            on_interrupt=self.on_interrupt,
            verbose=self.verbose,
            **kwargs,
        )

    # -- inference ---------------------------------------------------------------
    def _allocator_scope(self, device):
        """Tuned glibc allocator for a CPU run (see ``tune_allocator``)."""
        if self.tune_allocator and torch.device(device).type == "cpu":
            return tuned_cpu_allocator()
        return nullcontext()

    def _standardize(self, X3):
        return (X3 - self.feature_mean_) / self.feature_std_

    def _run(self, x, pooled):
        """Module outputs for standardized ``x`` ``(n, frames, mels)``, in chunks."""
        net = self.net_
        module = net.module_
        module.eval()
        device = torch.device(net.device)
        # Big chunks keep a GPU busy; on CPU small ones stay in cache (inference
        # 1.5x faster with 32 segments than with 256, bench_embedder.py --inference).
        chunk = max(256, self.batch_size) if device.type == "cuda" else 32
        out = []
        with (
            torch.inference_mode(),
            net.autocast(),
            self._allocator_scope(device),
        ):
            for start in range(0, len(x), chunk):
                xb = torch.from_numpy(np.ascontiguousarray(x[start : start + chunk]))
                xb = xb.to(device, non_blocking=True)
                e = module.embed_segments(xb) if pooled else module(xb)
                out.append(e.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def transform(self, X):
        """Embedding sequences of clips ``X``, one vector per ``frame_pool`` frames.

        Clips are pooled and cut into segments as in training (a shorter trailing
        piece is embedded on its own), so every step gets a vector: a 1,001-frame
        clip gives 101 vectors with ``frame_pool=10``, and a clip shorter than a
        segment is embedded whole. A clip's embedding does not depend on the other
        clips of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_mels) or (n_clips, n_values), \
or list of arrays of shape (n_frames_i, n_mels)
            Log-mel features; a list holds clips of any lengths (at least one
            frame each).

        Returns
        -------
        E : ndarray of shape (n_clips, ceil(n_frames / frame_pool), embedding_dim) \
or list of arrays of shape (ceil(n_frames_i / frame_pool), embedding_dim)
            Embedding sequence, float32; flattened to
            ``(n_clips, n_steps * embedding_dim_)`` when ``X`` was 2-D, a list of one
            sequence per clip, with its own length, when ``X`` was a list.
        """
        check_is_fitted(self, "net_")
        X3, lengths, form = self._check_X(X, reset=False)
        X3, lengths = self._pool(X3, lengths)
        E = self._embed_steps(self._standardize(X3), lengths)
        if form == "list":
            return split_clips(E, lengths)
        return E.reshape(len(E), -1) if form == "2d" else E

    def _embed_steps(self, Xs, lengths):
        """Frame embeddings of pooled, standardized clips (zero past their lengths).

        Whole segments of all clips run together, then the shorter trailing pieces,
        those of one length together.
        """
        n, n_steps, _ = Xs.shape
        lengths = np.full(n, n_steps) if lengths is None else lengths
        size = self._segment_steps()
        k = lengths // size
        E = np.zeros((n, n_steps, self.embedding_dim_), dtype=np.float32)
        clip = np.repeat(np.arange(n), k)
        if len(clip):
            first = np.repeat(np.cumsum(k) - k, k)
            steps = ((np.arange(len(clip)) - first) * size)[:, None] + np.arange(size)
            E[clip[:, None], steps] = self._run(Xs[clip[:, None], steps], pooled=False)
        for r, rows in length_groups(lengths % size):
            if r:
                steps = (k[rows] * size)[:, None] + np.arange(r)
                tails = Xs[rows[:, None], steps]
                E[rows[:, None], steps] = self._run(tails, pooled=False)
        return E

    def transform_segments(self, X, *, return_index=False):
        """One embedding per training segment (0.96 s by default).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_mels) or (n_clips, n_values), \
or list of arrays of shape (n_frames_i, n_mels)
            Log-mel features; trailing frames shorter than a segment are dropped.
            A list holds clips of different lengths, each of at least
            ``segment_frames`` frames (else a ``ValueError`` names the clip).
        return_index : bool, default=False
            Also return each segment's clip (row of ``X``) and start time (s).

        Returns
        -------
        S : ndarray of shape (n_segments, segment_dim)
            Segment embeddings, clip by clip (the vectors the triplet loss compares).
        clip_index : ndarray of shape (n_segments,)
            Only with ``return_index=True``.
        start_time : ndarray of shape (n_segments,)
            Only with ``return_index=True``.
        """
        check_is_fitted(self, "net_")
        X3, lengths, _ = self._check_X(X, reset=False)
        if lengths is not None:
            self._check_clip_lengths(X3, lengths)
        X3, lengths = self._pool(X3, lengths)
        segments, clip_index, start_time = self._segment(self._standardize(X3), lengths)
        S = self._run(segments, pooled=True)
        return (S, clip_index, start_time) if return_index else S

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def __setstate__(self, state):
        # Models pickled before these parameters existed keep their behaviour.
        old = {
            "tune_allocator": True,
            "loss": "triplet",
            "temperature": 0.1,
            "weak_label_share": 1.0,
            "frame_pool": 1,
            "on_interrupt": "raise",
        }
        for name, value in old.items():
            state.setdefault(name, value)
        if "net_" in state:
            state.setdefault("segment_steps_", state["segment_frames"])
        super().__setstate__(state)
        if "net_" in state:
            # skorch maps CUDA tensors to the CPU when CUDA is missing.
            self.device_ = str(self.net_.device)
