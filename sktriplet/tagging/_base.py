"""Shared engine of the clip taggers: validation, skorch training, batched inference.

A tagger is a scikit-learn classifier around a torch module that maps clips
``(batch, n_frames, n_features)`` to clip probabilities (mean over frames of the frame
probabilities, see :mod:`sktriplet.nn`). Training runs through a
:class:`skorch.NeuralNet` built in ``fit``; the trained module is kept on the CPU in
``module_`` so that pickles load anywhere, and inference runs in plain batched torch
on the device chosen when predicting.

Targets follow sktriplet's semi-supervised convention: a multi-label indicator with
all ``-1`` rows for unlabelled clips, or a 1-D class vector with ``-1``. Unlabelled
rows are dropped (they are there for an embedder earlier in a ``Pipeline``).

* 2-D ``y`` (multi-label): sigmoid frame outputs, binary cross-entropy on the clip
  probabilities, ``predict`` thresholds them (``proba > threshold``, per class).
* 1-D ``y`` (one class per clip): softmax frame outputs, so the clip probabilities
  (mean of the frame softmaxes) sum to one; cross-entropy; ``predict`` is the class
  of largest probability and ``threshold`` is not used.
"""

from __future__ import annotations

import copy
import warnings
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..features import pool_frames
from ..metrics import macro_f1_scorer
from ..nn._mean_teacher import MeanTeacher
from ..utils._chunks import is_file_backed, iter_chunks
from ..utils._device import resolve_device
from ..utils._inference import predict_in_chunks
from ..utils._interrupt import ON_INTERRUPT, discard_fitted_state
from ..utils._labels import check_semi_supervised_y, labeled_mask
from ..utils._scaling import fit_standardization, standardize
from ..utils._seeding import private_generator, seeded_init
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import real_frames, validate_clips
from ._training import compute_class_weight_vector, make_tagger_net

#: Share of the training steps over which the consistency weight ramps up.
RAMPUP_SHARE = 0.3

#: Frames per clip that ``frame_pool="auto"`` aims at (10 s clips: 0.1 s a frame).
AUTO_POOL_FRAMES = 100


#: ``mixup="auto"``: this mixup with fewer labelled clips than
#: ``AUTO_MIXUP_BELOW``, none from there on (user guide, "Mixup in the taggers").
AUTO_MIXUP = 0.2
AUTO_MIXUP_BELOW = 150


def resolve_mixup(mixup, n_labelled: int) -> float:
    """The mixup of a fit on ``n_labelled`` labelled clips.

    ``"auto"`` is :data:`AUTO_MIXUP` below :data:`AUTO_MIXUP_BELOW` labelled clips
    and 0 from there on: mixup lifted the tagger with 60 labelled clips and
    lowered it on fine-tuned embeddings with 300.
    """
    if mixup == "auto":
        return AUTO_MIXUP if n_labelled < AUTO_MIXUP_BELOW else 0.0
    return float(mixup)


def resolve_frame_pool(frame_pool, n_frames: int) -> int:
    """Frames averaged per step: ``frame_pool``, or ``n_frames // 100`` for "auto".

    "auto" leaves about 100 steps per clip: 10 for 1,001 log-mel frames of a 10 s
    clip, 1 for the 101 frames of a :class:`~sktriplet.embedding.TripletEmbedder`
    that already pools its input. For clips of different lengths ``n_frames`` is
    the median length.
    """
    if frame_pool == "auto":
        return max(1, n_frames // AUTO_POOL_FRAMES)
    return int(frame_pool)


class BaseTagger(ClassifierMixin, BaseEstimator):
    """Base class of the taggers (template method: subclasses build the module)."""

    _parameter_constraints: dict = {
        "n_features": [Interval(Integral, 1, None, closed="left"), None],
        "threshold": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str],
        "callbacks": [list, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "standardize": ["boolean"],
        "pooling": [StrOptions({"mean", "max"})],
        "frame_pool": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "on_interrupt": [StrOptions(set(ON_INTERRUPT))],
        "consistency": [Interval(Real, 0, None, closed="left")],
        "teacher_decay": [Interval(Real, 0, 1, closed="neither")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "mixup": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
    }

    @abstractmethod
    def _module_params(self, n_features, n_classes, activation):
        """Return ``(module_class, kwargs)`` of the network to train."""

    def _init_module(self, module):
        """Hook: set initial weights of the freshly built ``module`` (no-op)."""

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, reset):
        """Pooled 3-D clips and their lengths in steps (None when all are equal)."""
        X3, lengths, _ = validate_clips(
            self, X, reset=reset, n_features=self.n_features
        )
        if reset:
            if not self._fit_2d:
                self.n_features_in_ = X3.shape[2]
            self.n_frame_features_ = X3.shape[2]
            typical = X3.shape[1] if lengths is None else int(np.median(lengths))
            self.frame_pool_ = resolve_frame_pool(self.frame_pool, typical)
        elif X3.shape[2] != self.n_frame_features_:
            raise ValueError(
                f"X has {X3.shape[2]} features per frame, but "
                f"{type(self).__name__} is expecting {self.n_frame_features_} "
                "features per frame (the embedding size seen in fit)."
            )
        # Models pickled before frame_pool existed read every frame.
        size = getattr(self, "frame_pool_", 1)
        X3 = pool_frames(X3, size, keep_partial=True, lengths=lengths)
        return X3, None if lengths is None else -(-lengths // size)

    def _checked_threshold(self, n_classes=None):
        thr = np.asarray(self.threshold, dtype=float)
        if thr.ndim > 1 or (
            thr.ndim == 1 and n_classes is not None and thr.shape[0] != n_classes
        ):
            raise ValueError(
                f"threshold must be a scalar or an array of one value per class "
                f"({n_classes}); got shape {thr.shape}."
            )
        if not np.all((thr > 0) & (thr < 1)):
            raise ValueError(
                f"threshold values must lie in the open interval (0, 1); got {thr}."
            )
        return thr

    # -------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Fit the tagger on the labelled clips of ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_cols), \
or list of arrays of shape (n_frames_i, n_features)
            Clip features (embeddings or log-mel); 2-D input is reshaped with
            ``n_features`` values per frame. A list holds clips of different
            lengths: the network reads each clip's own frames only, in training
            and prediction (user guide, "Clips of any length").
        y : array-like of shape (n_clips, n_classes) or (n_clips,)
            Multi-label indicator with all ``-1`` rows for unlabelled clips, or a
            1-D class vector with ``-1`` for unlabelled clips. Unlabelled rows are
            ignored.

        Returns
        -------
        self : object
            Fitted tagger.
        """
        try:
            return self._fit(X, y)
        except KeyboardInterrupt:
            discard_fitted_state(self)
            raise

    def _fit(self, X, y):
        self._validate_params()
        X3, lengths, Y, classes, is_1d, unlabeled = self._training_data(X, y)
        self._learn_standardization(real_frames(X3, lengths))
        if self.feature_mean_ is not None:  # X3 is this fit's own copy
            for clips in (X3,) if unlabeled is None else (X3, unlabeled[0]):
                np.subtract(clips, self.feature_mean_, out=clips)
                np.divide(clips, self.feature_std_, out=clips)
        self._warn_never_positive(Y, classes)
        self._checked_threshold(None if is_1d else Y.shape[1])
        self.mixup_ = resolve_mixup(self.mixup, len(Y))
        self.module_, self.history_ = self._train(
            X3, lengths, Y, classes, is_1d, unlabeled
        )
        self.classes_ = classes
        self.multilabel_ = not is_1d
        return self

    def _training_data(self, X, y):
        """The labelled clips of ``(X, y)``: clips, lengths, targets, classes, 1-D?,
        and the unlabelled ``(clips, lengths)`` when a mean teacher uses them
        (``consistency > 0`` and unlabelled rows present), else None."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        X3, lengths = self._validate_X(X, reset=True)
        Y, classes, is_1d = check_semi_supervised_y(y, X3.shape[0])
        mask = labeled_mask(Y)
        if not mask.any():
            raise ValueError(
                "y has no labelled row (every row is -1); a tagger needs labelled "
                "clips to learn from."
            )
        if is_1d:
            check_classification_targets(np.asarray(y)[mask])
        elif Y.shape[1] == 0:
            raise ValueError("y has no class column.")
        unlabeled = None
        if self.consistency > 0 and not mask.all():
            unlabeled = (
                _rows_copy(X3, ~mask),
                None if lengths is None else lengths[~mask],
            )
        lengths = None if lengths is None else lengths[mask]
        return _rows_copy(X3, mask), lengths, Y[mask], classes, is_1d, unlabeled

    @staticmethod
    def _warn_never_positive(Y, classes):
        never = np.flatnonzero(Y.sum(axis=0) == 0)
        if len(never):
            warnings.warn(
                f"Class(es) {classes[never].tolist()} are never positive among the "
                "labelled rows of y; the tagger cannot learn them and their F1 is "
                "undefined.",
                UserWarning,
                stacklevel=4,
            )

    def _train(self, X3, lengths, Y, classes, is_1d, unlabeled=None):
        """Train the network on standardized clips; returns (module, history).

        With ``unlabeled`` clips the network is the student of a mean teacher,
        and the teacher is the network returned.
        """
        activation = "softmax" if is_1d else "sigmoid"
        w = compute_class_weight_vector(self.class_weight, Y, classes, is_1d)
        weight = None if w is None else torch.as_tensor(w, dtype=torch.float32)
        target = Y.argmax(axis=1).astype(np.int64) if is_1d else Y.astype(np.float32)
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        module, module_kwargs = self._module_params(X3.shape[2], Y.shape[1], activation)
        net = make_tagger_net(
            module,
            module_kwargs,
            activation=activation,
            weight=weight,
            seed=seed,
            device=device,
            callbacks=self._fit_callbacks(),
            params={**self.get_params(), "mixup": self.mixup_},
        )
        # Another thread's fit neither shifts nor sees this fit's draws (Notes).
        with seeded_init(seed, device):
            net.initialize()
            self._init_module(net.module_)
        if unlabeled is not None:
            # The optimizer already holds the student's parameters.
            net.module_ = MeanTeacher(net.module_, decay=self.teacher_decay)
            net.set_unlabeled(*unlabeled)
            steps_per_epoch = -(-len(X3) // self.batch_size)
            net.rampup_steps = int(RAMPUP_SHARE * self.max_epochs * steps_per_epoch)
        with private_generator(seed):
            net.partial_fit(self._as_net_input(X3, lengths), target)
        module = net.module_
        if isinstance(module, MeanTeacher):
            module = module.teacher.requires_grad_(True)
        return module.to("cpu").eval(), net.history

    def _fit_callbacks(self):
        """Copies of ``callbacks``; those that score inputs get the tagger's steps.

        A callback with a ``set_input_transform(fn)`` method (such as
        :class:`~sktriplet.experiments.BestEpochOnHeldOut`) receives ``fn``, which
        turns clips as given to :meth:`predict` into the network's input
        (validation, frame pooling and standardization learnt in this fit).
        """
        callbacks = copy.deepcopy(self.callbacks)
        for entry in callbacks or []:
            callback = entry[1] if isinstance(entry, tuple) else entry
            if hasattr(callback, "set_input_transform"):
                callback.set_input_transform(self._network_input)
        return callbacks

    def _network_input(self, X):
        """What the network reads: pooled, standardized clips (a dict with their
        ``lengths`` for clips of different lengths)."""
        X3, lengths = self._validate_X(X, reset=False)
        return self._as_net_input(self._standardized(X3), lengths)

    @staticmethod
    def _as_net_input(X3, lengths):
        """skorch input: the array, or ``{"x", "lengths"}`` for padded clips."""
        return X3 if lengths is None else {"x": X3, "lengths": lengths}

    def _learn_standardization(self, frames):
        """Per-feature mean and std of ``frames`` ``(n, n_frames, n_features)``."""
        if not self.standardize:
            self.feature_mean_ = self.feature_std_ = None
            return
        self.feature_mean_, self.feature_std_ = fit_standardization(
            frames, floor="unit"
        )

    # -------------------------------------------------------------- inference
    def _standardized(self, X3):
        return standardize(X3, self.feature_mean_, self.feature_std_)

    def _clip_proba(self, X):
        check_is_fitted(self, "module_")
        X3, lengths = self._validate_X(X, reset=False)
        device = resolve_device(self.device)
        module = self.module_
        if device != "cpu":
            module = copy.deepcopy(module).to(device)
        module.eval()
        chunk = max(self.batch_size, 256)
        if lengths is None:  # standardized a chunk of clips at a time
            proba = np.concatenate(
                [
                    predict_in_chunks(
                        module,
                        self._standardized(part),
                        chunk_size=chunk,
                        device=device,
                    )
                    for _, part in iter_chunks(X3)
                ]
            ).astype(np.float64)
        else:
            proba = predict_in_chunks(
                module,
                self._standardized(X3),
                chunk_size=chunk,
                device=device,
                lengths=lengths,
            ).astype(np.float64)
        if not self.multilabel_:
            proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_proba(self, X):
        """Clip probabilities of every class.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_cols), \
or list of arrays of shape (n_frames_i, n_features)
            Clip features.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
            Mean over frames of the frame probabilities (sigmoid for a multi-label
            fit, softmax - rows summing to one - for a 1-D fit).
        """
        return self._clip_proba(X)

    def decision_function(self, X):
        """Clip logits.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_cols), \
or list of arrays of shape (n_frames_i, n_features)
            Clip features.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_classes) or (n_clips,)
            Multi-label fit: ``logit(predict_proba(X))`` (positive where the
            probability exceeds one half). 1-D fit: ``log(predict_proba(X))``,
            or for two classes the log-odds of the second class, shape
            ``(n_clips,)``.
        """
        proba = np.clip(self._clip_proba(X), 1e-12, 1 - 1e-12)
        if self.multilabel_:
            return np.log(proba) - np.log1p(-proba)
        log_proba = np.log(proba)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X):
        """Predict tags.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_cols), \
or list of arrays of shape (n_frames_i, n_features)
            Clip features.

        Returns
        -------
        y_pred : ndarray of shape (n_clips, n_classes) or (n_clips,)
            Multi-label fit: 0/1 indicator ``predict_proba(X) > threshold``.
            1-D fit: the class of largest probability.
        """
        return self.predict_from_proba(self._clip_proba(X))

    def predict_from_proba(self, proba):
        """The predictions that :meth:`predict` makes from these probabilities.

        Lets a caller that already holds :meth:`predict_proba` (e.g. per file, per
        window) take the tagger's decisions without running the network again.

        Parameters
        ----------
        proba : array-like of shape (n_clips, n_classes)
            Clip probabilities, as :meth:`predict_proba` returns them.

        Returns
        -------
        y_pred : ndarray of shape (n_clips, n_classes) or (n_clips,)
            Multi-label fit: 0/1 indicator ``proba > threshold``. 1-D fit: the
            class of largest probability.
        """
        check_is_fitted(self)
        proba = np.asarray(proba, dtype=float)
        if proba.ndim != 2 or proba.shape[1] != len(self.classes_):
            raise ValueError(
                f"proba must have shape (n_clips, {len(self.classes_)}); got "
                f"{proba.shape}."
            )
        if self.multilabel_:
            thr = self._checked_threshold(len(self.classes_))
            return (proba > thr).astype(np.int64)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Clip-level macro-F1 of :meth:`predict` on the labelled rows of ``y``.

        The same figure as :data:`~sktriplet.metrics.macro_f1_scorer` (the
        default ``scoring`` of a search over taggers): rows of ``-1``
        (unlabelled clips) are left out, as in ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_clips, n_cols), \
or list of arrays of shape (n_frames_i, n_features)
            Clip features.
        y : array-like of shape (n_clips, n_classes) or (n_clips,)
            True tags, with all ``-1`` rows (or ``-1`` values) for unlabelled clips.
        sample_weight : None
            Not supported (macro-F1 weighs classes, not clips).

        Returns
        -------
        score : float
            Macro-F1 in [0, 1].
        """
        if sample_weight is not None:
            raise TypeError(
                f"{type(self).__name__}.score does not take sample_weight: it is "
                "the macro-F1 of the labelled rows (classes weigh equally)."
            )
        return macro_f1_scorer(self, X, y)

    def __setstate__(self, state):
        # Taggers pickled before these parameters existed keep their behaviour.
        old = (
            ("pooling", "mean"),
            ("frame_pool", 1),
            ("weight_decay", 0.0),
            ("on_interrupt", "raise"),
            ("consistency", 0.0),
            ("teacher_decay", 0.99),
            ("input_noise", 0.0),
            ("mixup", 0.0),
        )
        for name, value in old:
            state.setdefault(name, value)
        if "n_frame_features_" in state:
            state.setdefault("frame_pool_", 1)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.non_deterministic = self.random_state is None
        return tags


def _rows_copy(X3, mask):
    """``X3[mask]`` as float32; a memory-mapped ``X3`` is read a chunk at a time."""
    if not is_file_backed(X3) and X3.dtype == np.float32:
        return X3[mask]
    out = np.empty((int(mask.sum()),) + X3.shape[1:], dtype=np.float32)
    pos = 0
    for rows, chunk in iter_chunks(X3):
        keep = chunk[mask[rows]]
        out[pos : pos + len(keep)] = keep
        pos += len(keep)
    return out
