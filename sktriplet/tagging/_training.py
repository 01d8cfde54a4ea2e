"""The taggers' training pieces: class weights, the clip loss, the skorch net."""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn

from ..utils._interrupt import InterruptibleNetMixin

_EPS = 1e-7


def compute_class_weight_vector(class_weight, Y, classes, is_1d):
    """Per-class loss weights, or ``None``.

    Multi-label ``Y`` (labelled rows only): the BCE ``pos_weight``;
    ``"balanced"`` gives ``n_negative / n_positive`` per class (1 for a class with no
    positive). 1-D targets: cross-entropy class weights; ``"balanced"`` gives
    ``n_samples / (n_classes * n_class)``. A dict maps a class label (column index
    for multi-label) to its weight; classes not named keep weight 1.
    """
    if class_weight is None:
        return None
    n_rows, n_classes = Y.shape
    pos = Y.sum(axis=0).astype(np.float64)
    if isinstance(class_weight, str):  # "balanced"
        if is_1d:
            return n_rows / (n_classes * np.maximum(pos, 1))
        w = (n_rows - pos) / np.maximum(pos, 1)
        w[pos == 0] = 1.0
        return w
    w = np.ones(n_classes)
    for key, value in class_weight.items():
        hit = np.flatnonzero(classes == key)
        if not len(hit):
            raise ValueError(
                f"class_weight has a weight for {key!r}, which is not a class of y "
                f"(classes: {classes.tolist()})."
            )
        w[hit[0]] = value
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ValueError("class_weight values must be finite and >= 0.")
    return w


class ClipLoss(nn.Module):
    """Loss on clip probabilities: weighted BCE (sigmoid) or cross-entropy (softmax).

    Parameters
    ----------
    activation : {"sigmoid", "softmax"}
        How the clip probabilities were produced.
    weight : torch.Tensor of shape (n_classes,), default=None
        ``pos_weight`` of each class for BCE, class weight for cross-entropy.
    """

    def __init__(self, activation="sigmoid", weight=None):
        super().__init__()
        self.activation = activation
        self.register_buffer("weight", None if weight is None else weight.float())

    def forward(self, proba, target):
        proba = proba.clamp(_EPS, 1 - _EPS)
        if self.activation == "softmax":
            return nn.functional.nll_loss(torch.log(proba), target, weight=self.weight)
        pos = target * torch.log(proba)
        if self.weight is not None:
            pos = pos * self.weight
        return -(pos + (1 - target) * torch.log1p(-proba)).mean()


class TaggerNet(InterruptibleNetMixin, NeuralNet):
    """skorch ``NeuralNet`` of the taggers: a KeyboardInterrupt ends ``fit``.

    ``on_interrupt="raise"`` lets it propagate, ``"stop"`` keeps skorch's
    behaviour (see :class:`~sktriplet.utils._interrupt.InterruptibleNetMixin`).
    """

    def __init__(self, *args, on_interrupt="raise", **kwargs):
        super().__init__(*args, **kwargs)
        self.on_interrupt = on_interrupt


def make_tagger_net(
    module, module_kwargs, *, activation, weight, seed, device, callbacks, params
) -> TaggerNet:
    """The skorch net of a tagger with parameters ``params`` (its ``get_params``)."""
    return TaggerNet(
        module=module,
        on_interrupt=params["on_interrupt"],
        **{f"module__{k}": v for k, v in module_kwargs.items()},
        criterion=ClipLoss,
        criterion__activation=activation,
        criterion__weight=weight,
        optimizer=torch.optim.Adam,
        optimizer__weight_decay=params["weight_decay"],
        lr=params["lr"],
        max_epochs=params["max_epochs"],
        batch_size=params["batch_size"],
        train_split=None,
        iterator_train__shuffle=True,
        iterator_train__generator=torch.Generator().manual_seed(seed),
        callbacks=callbacks,
        verbose=params["verbose"],
        device=device,
    )
