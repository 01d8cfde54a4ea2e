"""The paper's classifier on embedding (or log-mel) sequences."""

from __future__ import annotations

from numbers import Integral, Real

from ..nn import BiGRUTagger
from ..utils._docstring import Substitution
from ..utils._sklearn_compat import Interval
from ._base import BaseTagger
from ._docs import ON_INTERRUPT_PARAM, THREADS_NOTES, mean_teacher_params

__all__ = ["SequenceTagger"]


@Substitution(
    threads_notes=THREADS_NOTES,
    on_interrupt=ON_INTERRUPT_PARAM,
    mean_teacher=mean_teacher_params(0.0, mixup="auto"),
)
class SequenceTagger(BaseTagger):
    """Clip tagger: BiGRU over frame features, dense layer, pooling over frames.

    The classifier of Turpault et al. (ICASSP 2019) applied to sequences of frame
    embeddings (e.g. the output of :class:`sktriplet.embedding.TripletEmbedder`): a
    2-layer bidirectional GRU of 64 cells, a dense layer with one output per class on
    every frame, and the clip prediction pools the frame probabilities (the paper
    takes their mean; the maximum is the default here), trained with binary
    cross-entropy. Applied to log-mel frames it is
    the paper's "classifier on log-mel" reference. Clips of different lengths are
    passed as a list of 2-D arrays: the GRU reads each clip's own frames (packed
    sequences) and the pooling skips the padding.

    Parameters
    ----------
    hidden_size : int, default=64
        GRU cells per direction.
    num_layers : int, default=2
        Stacked BiGRU layers.
    dropout : float, default=0.0
        Dropout between GRU layers and before the dense layer.
    n_features : int, default=None
        Values per frame when ``X`` is passed flattened as 2-D
        ``(n_clips, n_frames * n_features)`` (frames are the slow axis); ``None``
        means one value per frame. Ignored for 3-D ``X`` and lists of clips.
    threshold : float or array-like of shape (n_classes,), default=0.5
        Decision threshold on the clip probabilities, one for all classes or one per
        class, in the open interval (0, 1). Only used after a multi-label fit.
    class_weight : {"balanced"}, dict or None, default="balanced"
        ``"balanced"``: for multi-label ``y`` each class's positive term of the BCE
        is weighted by ``n_negative / n_positive`` (``pos_weight``, counted on the
        labelled rows); for 1-D ``y`` the cross-entropy weights are
        ``n_samples / (n_classes * n_class)``. A dict maps a class (column index for
        multi-label ``y``) to its weight; other classes keep 1.
    max_epochs : int, default=60
        Training epochs.
    batch_size : int, default=16
        Clips per training batch (small batches give the few labelled clips of a
        semi-supervised set enough optimiser steps).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        L2 penalty of Adam on the weights. ``1e-2`` suits the paper's frozen
        embeddings of a few dozen labelled clips (``fine_tune=False``); on the
        embedder's default, fine-tuned embeddings and on log-mel, 0 scored best
        on held-out clips (user guide, "What matters for quality").
    device : str, default="auto"
        Torch device for training and inference; ``"auto"`` picks ``"cuda"`` when
        available. A tagger fitted on a GPU predicts on the CPU after
        ``set_params(device="cpu")`` or after unpickling on a machine without one.
    callbacks : list of skorch callbacks, default=None
        Extra :mod:`skorch.callbacks` for training (copied at each fit).
    %(mean_teacher)s
    %(on_interrupt)s
    verbose : int, default=0
        Print the skorch training log when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and batch shuffling; training is
        reproducible on the CPU for a fixed value.
    standardize : bool, default=True
        Standardize each frame feature with the mean and standard deviation of the
        labelled training frames (``feature_mean_``, ``feature_std_``) before the
        network; log-mel values in dB are far from unit scale.
    pooling : {"max", "mean"}, default="max"
        Clip probability from the frame probabilities: their maximum (a short
        event tags the clip) or, as in the paper, their mean.
    frame_pool : int or "auto", default="auto"
        Frames averaged into one step before the network (``frame_pool_``);
        ``"auto"`` keeps about 100 steps per clip: 10 for the 1,001 log-mel frames
        of a 10 s clip, 1 for the pooled output of a ``TripletEmbedder``; for a
        list of clips of different lengths, 100 steps for the median one. Mean
        pooling in time makes training 10x cheaper at no cost in macro-F1 (user
        guide, "What matters for quality").

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Column indices for a multi-label ``y``, sorted class labels for a 1-D ``y``.
    multilabel_ : bool
        Whether ``y`` was a multi-label indicator (sigmoid outputs) rather than a
        1-D class vector (softmax outputs).
    module_ : sktriplet.nn.BiGRUTagger
        Trained network, on the CPU.
    history_ : skorch.history.History
        Training log (``train_loss`` per epoch).
    n_features_in_ : int
        Columns of a 2-D ``X``, or values per frame of a 3-D ``X``, seen in fit.
    n_frame_features_ : int
        Values per frame (embedding size) seen in fit; ``predict`` requires the same.
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
    CRNNTagger : The convolutional-recurrent baseline trained on log-mel.
    sktriplet.metrics.macro_f1_scorer : The paper's measure as a scorer.

    %(threads_notes)s

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.tagging import SequenceTagger
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 10, 8).astype("float32")
    >>> y = (X.mean(axis=(1, 2))[:, None] > [0.0, 0.1]).astype(int)
    >>> y[::4] = -1  # unlabelled clips are skipped
    >>> clf = SequenceTagger(hidden_size=8, max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape, clf.predict_proba(X[:3]).shape
    ((3, 2), (3, 2))
    """

    _parameter_constraints: dict = {
        **BaseTagger._parameter_constraints,
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_size=64,
        num_layers=2,
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
        consistency=0.0,
        teacher_decay=0.99,
        input_noise=0.0,
        mixup="auto",
        on_interrupt="raise",
    ):
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
        self.consistency = consistency
        self.teacher_decay = teacher_decay
        self.input_noise = input_noise
        self.mixup = mixup
        self.on_interrupt = on_interrupt

    def _module_params(self, n_features, n_classes, activation):
        return BiGRUTagger, {
            "n_features": n_features,
            "n_classes": n_classes,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "activation": activation,
            "pooling": self.pooling,
        }
