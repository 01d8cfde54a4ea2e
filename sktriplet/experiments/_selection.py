"""Model selection on a held-out subset, as in the paper (best epoch on ``test``)."""

from __future__ import annotations

import copy

import numpy as np
from skorch.callbacks import Callback

from ..metrics import macro_f1_score


class BestEpochOnHeldOut(Callback):
    """Keep the tagger weights of the epoch with the best held-out macro-F1.

    After every epoch the clip probabilities of ``X`` are thresholded at
    ``threshold`` and scored against ``y`` with :func:`macro_f1_score`; at the end
    of training the best epoch's weights are restored. The score is logged to the
    history as ``heldout_f1``.

    Parameters
    ----------
    X : ndarray of shape (n_clips, n_frames, n_features)
        Held-out features (the paper selects on DCASE's ``test`` subset).
    y : ndarray of shape (n_clips, n_classes)
        Held-out multi-label indicator.
    threshold : float, default=0.5
        Decision threshold on the clip probabilities.
    preprocess : callable, default=None
        Applied to ``X`` before the tagger's own steps, once, at the end of the
        first epoch: the steps before the tagger in a
        :class:`~sklearn.pipeline.Pipeline`, fitted by then (for instance
        ``lambda X: pipe[:-1].transform(X)``), so that ``X`` can be given as the
        pipeline's input. ``None`` takes ``X`` as the tagger's input.
    """

    def __init__(self, X, y, threshold=0.5, preprocess=None):
        self.X = X
        self.y = y
        self.threshold = threshold
        self.preprocess = preprocess

    def set_input_transform(self, transform):
        """Called by the taggers: how to turn ``X`` into the network's input.

        The taggers pool and standardize clips before their network; scoring the
        raw ``X`` would pick the best epoch on inputs the network never sees.
        """
        self.input_transform_ = transform

    def initialize(self):
        self.inputs_ = None
        self.best_score_ = -np.inf
        self.best_state_ = None
        self.best_epoch_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        if getattr(self, "inputs_", None) is None:
            X = self.X if self.preprocess is None else self.preprocess(self.X)
            transform = getattr(self, "input_transform_", None)
            self.inputs_ = X if transform is None else transform(X)
        proba = net.predict_proba(self.inputs_)
        score = macro_f1_score(self.y, (proba >= self.threshold).astype(int))
        net.history.record("heldout_f1", score)
        if score > self.best_score_:
            self.best_score_ = score
            self.best_epoch_ = len(net.history)
            self.best_state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
