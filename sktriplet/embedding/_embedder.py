"""TripletEmbedder: scikit-learn transformer learning audio embeddings with triplets.

The estimator holds the parameters and orchestrates ``fit``; its parts live beside
it: CPU concerns in ``_cpu.py``, parameter routing in ``_routing.py``, the checks and
named steps of ``fit`` in ``_fitting.py``, input handling and inference in
``_inference.py``, the skorch engine in ``_net.py`` and the triplet batches in
``_batch.py``.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.base import BaseEstimator, TransformerMixin

from ..sampling import STRATEGIES, TripletSampler
from ..utils._device import resolve_device
from ..utils._interrupt import ON_INTERRUPT, discard_fitted_state
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import real_frames
from . import _fitting as steps
from ._cpu import cpu_has_native_bf16, resolve_amp
from ._fine_tune import FineTuneMixin, will_fine_tune
from ._fitting import TripletFitMixin
from ._inference import FRAME_SECONDS, EmbedderInferenceMixin
from ._routing import PREFIXES, RoutedParamsMixin

# Re-exported: imported from here by tests and older code.
__all__ = [
    "FRAME_SECONDS",
    "PREFIXES",
    "TripletEmbedder",
    "cpu_has_native_bf16",
    "resolve_amp",
]


class TripletEmbedder(
    RoutedParamsMixin,
    TripletFitMixin,
    FineTuneMixin,
    EmbedderInferenceMixin,
    TransformerMixin,
    BaseEstimator,
):
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
        view; cosine similarities over ``temperature``). It is the default for
        its measured quality (user guide, "What matters for quality").
    margin : float, default=1.0
        Margin of the triplet loss.
    temperature : float, default=0.1
        Temperature of the ``"supcon"`` loss.
    band_gain : float, default=1.0
        Random gains per mel band in the triplet stage: in training, every
        segment of a batch gets its own random step curve over the mel bands
        (2 to 5 steps, each within ``±band_gain`` standardized units), so an
        anchor and its positive differ by colouring as recordings by different
        microphones and rooms do, and the unlabelled clips teach invariance to
        it. 0 turns it off (the former behaviour). Chosen on ``test`` against
        0 and 0.5 (user guide, "Band gains in the triplet stage"); with 300
        labelled clips it helped on neither dcase draw measured. The
        fine-tuning has its own, ``fine_tune__band_gain=0.5``.
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
    fine_tune : bool or "auto", default="auto"
        Pre-training then fine-tuning. After the triplet epochs of each call to
        ``fit`` or ``partial_fit``, the CNN becomes the front end of a
        :class:`~sktriplet.tagging.CRNNTagger` (the paper's baseline
        architecture) trained on the labelled clips, every batch mixed with a
        shuffled copy of itself (``mixup=0.2``) and each clip given random
        gains per mel band (``band_gain=0.5``); its fine-tuned front end is
        kept, so ``transform`` returns embeddings shaped by the triplets (which
        learn from the unlabelled clips too), then by the labels. With it, and
        band gains in both stages, the design card's pipeline is 0.042 to 0.058
        macro-F1 above the supervised ``CRNNTagger()`` on four embedded data
        sets of five and level with it on the fifth (user guide, "What to
        expect").
        ``fine_tune__consistency=1.0`` adds a mean teacher on the unlabelled
        clips (the former default: level on held-out clips, a third more fit
        time). ``"auto"``: only when ``y``
        has labelled clips (an unsupervised fit is left as it is); ``True``: a
        fit without them is an error; ``False``: the paper's embeddings,
        trained by triplets alone.
        ``fine_tune__<param>`` keyword arguments reach the CRNNTagger
        (``fine_tune__max_epochs=30``, ``fine_tune__consistency=1.0`` for a
        mean teacher, ``fine_tune__mixup=0.0`` without mixup,
        ``fine_tune__band_gain=0.0`` without band gains...),
        except those the embedder sets itself (its CNN's shape and dropout,
        inputs, device and seed).
    frame_pool : int, default=10
        Input frames averaged into one step before the CNN (10 frames of 10 ms:
        0.1 s); the embedding has one vector per step. 1 = the paper's full
        resolution, much slower per epoch for no better tags (user guide,
        "What matters for quality").
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
        with native bfloat16 (AVX512-BF16 / AMX) ``amp=True`` is the fast mode; on
        CPUs without it bfloat16 is emulated and much slower (``fit`` warns):
        leave it off there (installation notes, "Speed on CPU").
    tune_allocator : bool or "auto", default="auto"
        On CPU, let glibc keep the CNN's big activation buffers for reuse during
        ``fit`` and ``transform`` instead of unmapping and page-faulting them in
        again at every batch (:func:`~sktriplet.embedding.tuned_cpu_allocator`):
        faster, for a higher peak memory (installation notes, "Speed on CPU").
        glibc's default settings come back when the call ends, and the memory kept
        is returned. The setting holds for the whole process while the call runs,
        so ``"auto"`` applies it only when the calling thread is the only Python
        thread (nothing else can observe it: not in a web server or a threaded
        search); ``True`` applies it anyway, ``False`` never. It does nothing on
        CUDA, without glibc, or where the environment (``MALLOC_*_`` variables)
        sets the allocator.
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
        ``optimizer__<param>``, ``callbacks__<param>``, ``sampler__<param>``,
        ``fine_tune__<param>`` (see ``fine_tune``). The CNN takes
        ConvEmbedding's defaults except ``dropout``: 0.2 after each block here,
        in the fine-tuning too, which narrows the seed spread (user guide,
        "Dropout in the embedder's CNN"). ``module__dropout=0.0`` is the
        paper's network (the default before).

    Attributes
    ----------
    net_ : TripletNet
        The fitted skorch net; ``net_.module_`` is the embedding module.
    history_ : skorch.History
        Per epoch: ``train_loss``, ``train_active`` (share of triplets with a
        non-zero loss), ``valid_loss`` / ``valid_active`` with a validation split,
        ``dur``.
    fine_tune_history_ : skorch.History or None
        Training log of the fine-tuning CRNN of the last call to ``fit``, one
        record per epoch (None when it did not fine-tune).
    feature_mean_, feature_std_ : ndarray of shape (n_mels,)
        Standardization of the input log-mel bands.
    n_features_in_ : int
        Columns of a 2-D ``X`` seen in ``fit``, or mel bands for a 3-D ``X``.
    n_frame_features_ : int
        Mel bands per frame seen in ``fit`` (the name the taggers use too;
        ``n_mels_in_`` is a deprecated alias).
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
        "band_gain": [Interval(Real, 0, None, closed="left")],
        "classification_weight": [Interval(Real, 0, None, closed="left")],
        "weak_label_share": [Interval(Real, 0, 1, closed="right")],
        "fine_tune": ["boolean", StrOptions({"auto"})],
        "frame_pool": [Interval(Integral, 1, None, closed="left")],
        "segment_frames": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "amp": ["boolean", StrOptions({"bf16", "fp16"})],
        "tune_allocator": ["boolean", StrOptions({"auto"})],
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
        self.strategy = strategy
        self.n_triplets = n_triplets
        self.labeled_ratio = labeled_ratio
        self.loss = loss
        self.margin = margin
        self.temperature = temperature
        self.band_gain = band_gain
        self.classification_weight = classification_weight
        self.weak_label_share = weak_label_share
        self.fine_tune = fine_tune
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

    # -- fitting -----------------------------------------------------------------
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
        """Check, fit the scaler, cut and label segments, build tables, train."""
        self._validate_params()
        self._check_routed_params()
        self._check_fine_tune_params()
        X3, lengths, _ = self._check_X(X, reset=reset)
        device = resolve_device(self.device)
        amp_dtype = resolve_amp(self.amp, device)
        Y, classes = self._check_y(y, X3.shape[0], reset)
        steps.check_clip_lengths(X3, lengths, self.segment_frames)
        X3, lengths = self._pool(X3, lengths)
        if reset:
            self._fit_scaler(real_frames(X3, lengths))
        if y is not None:
            self.classes_ = classes
        sampler = self._make_sampler()
        steps.check_labels(sampler, Y, self.strategy, self.classification_weight)
        fine_tune = will_fine_tune(self.fine_tune, Y)
        data, seed, rng = self._training_segments(
            X3, lengths, Y, sampler, device, reset
        )
        if not fine_tune:
            del X3  # the pooled clips: triplet training reads only their segments
        train_table, valid_table = self._triplet_tables(data, sampler, rng)
        n_classes = 0 if Y is None else Y.shape[1]
        net = self._make_or_update_net(
            device, amp_dtype, valid_table is not None, n_classes, seed, reset
        )
        self._train(net, train_table, device, seed)
        self.fine_tune_history_ = None
        if fine_tune:
            del data, train_table, valid_table
            self._fine_tune(X3, lengths, Y, device, seed)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def __setstate__(self, state):
        # Parameters missing from older pickles keep those models' behaviour
        # (history in CHANGES.md).
        old = {
            "tune_allocator": True,
            "loss": "triplet",
            "temperature": 0.1,
            "band_gain": 0.0,
            "weak_label_share": 1.0,
            "fine_tune": False,
            "frame_pool": 1,
            "on_interrupt": "raise",
        }
        for name, value in old.items():
            state.setdefault(name, value)
        if "n_mels_in_" in state:  # the fitted name before n_frame_features_
            state.setdefault("n_frame_features_", state.pop("n_mels_in_"))
        if "net_" in state:
            state.setdefault("segment_steps_", state["segment_frames"])
            state.setdefault("fine_tune_history_", None)
            fitted_without = not state["net_"].module_.block_dropout
            if "module__dropout" not in state and fitted_without:
                # Fitted before dropout became the default: refits keep none.
                state["module__dropout"] = 0.0
        super().__setstate__(state)
        if "net_" in state:
            # skorch maps CUDA tensors to the CPU when CUDA is missing.
            self.device_ = str(self.net_.device)
