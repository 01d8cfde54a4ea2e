"""The paper's CRNN baseline, trained on log-mel spectrograms."""

from __future__ import annotations

from numbers import Integral, Real

import torch

from ..nn import CRNN
from ..utils._docstring import Substitution
from ..utils._sklearn_compat import Interval
from ._base import BaseTagger
from ._docs import ON_INTERRUPT_PARAM, THREADS_NOTES, mean_teacher_params

__all__ = ["CRNNTagger"]


@Substitution(
    threads_notes=THREADS_NOTES,
    on_interrupt=ON_INTERRUPT_PARAM,
    mean_teacher=mean_teacher_params(0.0, mixup=0.2),
)
class CRNNTagger(BaseTagger):
    """Convolutional recurrent clip tagger on log-mel (the paper's baseline).

    Three convolution blocks (64 filters 3x3, batch norm, ReLU, max pooling of 4 along
    frequency only), a 1-layer bidirectional GRU of 64 cells and a dense layer with
    one output per class on every frame; the clip prediction pools the frame
    probabilities (their maximum by default, the mean in the DCASE 2018 baseline).
    Same API and ``-1`` handling as :class:`SequenceTagger`; in a list of clips of
    different lengths the convolutions run on the clips of one length together, so
    no clip reads another's padding.

    Parameters
    ----------
    n_filters : int, default=64
        Channels of each convolution.
    n_conv : int, default=3
        Convolution blocks.
    pool_freq : int, default=4
        Max-pooling factor along frequency after each block (never below one bin).
    hidden_size : int, default=64
        GRU cells per direction.
    num_layers : int, default=1
        Stacked BiGRU layers.
    dropout : float, default=0.0
        Dropout after each convolution block and before the dense layer.
    n_features : int, default=None
        Mel bands per frame when ``X`` is passed flattened as 2-D
        ``(n_clips, n_frames * n_mels)``; ``None`` means one value per frame.
        Ignored for 3-D ``X`` and lists of clips.
    threshold : float or array-like of shape (n_classes,), default=0.5
        Decision threshold on the clip probabilities (multi-label fit only).
    class_weight : {"balanced"}, dict or None, default="balanced"
        See :class:`SequenceTagger`.
    max_epochs : int, default=60
        Training epochs.
    batch_size : int, default=16
        Clips per training batch (small batches give the few labelled clips of a
        semi-supervised set enough optimiser steps).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        L2 penalty of Adam on the weights.
    device : str, default="auto"
        Torch device; ``"auto"`` picks ``"cuda"`` when available.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (copied at each fit).
    %(mean_teacher)s
    band_gain : float, default=0.5
        Random gains per mel band (FilterAugment, Nam et al., 2022): when
        positive, each clip of a training batch, after mixup, gets a random step
        curve added over its mel bands (2 to 5 bands with boundaries drawn at
        random, each shifted by a gain drawn uniformly within ``±band_gain``
        standardized units), as if heard through another microphone or room.
        ``0`` trains on the clips as they are (the default before). Measured
        in the user guide ("Random gains per mel band").
    %(on_interrupt)s
    verbose : int, default=0
        Print the skorch training log when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and batch shuffling.
    standardize : bool, default=True
        Standardize each mel band with the statistics of the labelled training
        frames before the network.
    pooling : {"max", "mean"}, default="max"
        Clip probability from the frame probabilities (see :class:`SequenceTagger`).
    frame_pool : int or "auto", default="auto"
        Frames averaged into one step before the network; ``"auto"`` keeps about
        100 steps per clip (per median clip for a list of clips of different
        lengths; see :class:`SequenceTagger`).
    cnn_init : torch.nn.Module, dict or None, default=None
        Pre-training then fine-tuning: a :class:`~sktriplet.nn.ConvEmbedding` (for
        instance ``embedder.net_.module_`` of a fitted
        :class:`~sktriplet.embedding.TripletEmbedder` with the same ``frame_pool``)
        or its state dict, whose weights initialise the convolutional front end
        before the whole network is trained on the labelled clips. It must have
        this tagger's ``n_filters``, ``n_conv``, ``pool_freq`` and mel bands
        (its dropout may differ: the embedder's CNN has dropout 0.2 by default).
        ``None`` starts from a random initialisation.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Column indices (multi-label ``y``) or sorted class labels (1-D ``y``).
    multilabel_ : bool
        Whether the fit was multi-label.
    module_ : sktriplet.nn.CRNN
        Trained network, on the CPU.
    history_ : skorch.history.History
        Training log.
    n_features_in_ : int
        Columns of a 2-D ``X``, or values per frame of a 3-D ``X``, seen in fit.
    n_frame_features_ : int
        Mel bands per frame seen in fit.
    frame_pool_ : int
        Frames averaged into one step (``frame_pool`` resolved in fit).
    mixup_ : float
        The mixup of the fit (``mixup`` resolved in fit).
    feature_mean_, feature_std_ : ndarray of shape (n_frame_features,) or None
        Standardization statistics (None when ``standardize=False``).
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X``, when it had string column names.

    See Also
    --------
    SequenceTagger : The BiGRU classifier on embeddings.

    %(threads_notes)s

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.tagging import CRNNTagger
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(20, 12, 16).astype("float32")
    >>> y = np.array(["dog", "cat"] * 10)
    >>> clf = CRNNTagger(n_filters=4, hidden_size=4, max_epochs=1, random_state=0)
    >>> clf.fit(X, y).predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **BaseTagger._parameter_constraints,
        "n_filters": [Interval(Integral, 1, None, closed="left")],
        "n_conv": [Interval(Integral, 1, None, closed="left")],
        "pool_freq": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "cnn_init": [None, torch.nn.Module, dict],
        "band_gain": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_filters=64,
        n_conv=3,
        pool_freq=4,
        hidden_size=64,
        num_layers=1,
        dropout=0.0,
        *,
        n_features=None,
        threshold=0.5,
        class_weight="balanced",
        max_epochs=60,
        batch_size=16,
        lr=1e-3,
        weight_decay=0.0,
        device="auto",
        callbacks=None,
        verbose=0,
        random_state=None,
        standardize=True,
        pooling="max",
        frame_pool="auto",
        cnn_init=None,
        consistency=0.0,
        teacher_decay=0.99,
        input_noise=0.0,
        mixup=0.2,
        band_gain=0.5,
        on_interrupt="raise",
    ):
        self.n_filters = n_filters
        self.n_conv = n_conv
        self.pool_freq = pool_freq
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.n_features = n_features
        self.threshold = threshold
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self.standardize = standardize
        self.pooling = pooling
        self.frame_pool = frame_pool
        self.cnn_init = cnn_init
        self.consistency = consistency
        self.teacher_decay = teacher_decay
        self.input_noise = input_noise
        self.mixup = mixup
        self.band_gain = band_gain
        self.on_interrupt = on_interrupt

    def __setstate__(self, state):
        # Taggers pickled before band_gain existed trained without it.
        state.setdefault("band_gain", 0.0)
        super().__setstate__(state)

    def _init_module(self, module):
        """Copy ``cnn_init``'s weights into the convolutional front end."""
        if self.cnn_init is None:
            return
        state = (
            self.cnn_init.state_dict()
            if isinstance(self.cnn_init, torch.nn.Module)
            else self.cnn_init
        )
        try:
            module.cnn.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(
                "cnn_init does not fit the CRNN's convolutional front end (it needs "
                f"n_filters={self.n_filters}, n_conv={self.n_conv}, "
                f"pool_freq={self.pool_freq} and the input's mel bands): {exc}"
            ) from exc

    def _module_params(self, n_features, n_classes, activation):
        return CRNN, {
            "n_mels": n_features,
            "n_classes": n_classes,
            "n_filters": self.n_filters,
            "n_conv": self.n_conv,
            "pool_freq": self.pool_freq,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "activation": activation,
            "pooling": self.pooling,
        }
