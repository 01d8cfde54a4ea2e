"""The taggers' training pieces: class weights, the clip loss, the skorch net."""

from __future__ import annotations

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn

from ..nn._band_gain import add_band_gains
from ..nn._mean_teacher import consistency_loss
from ..nn._tagger import frame_mask
from ..utils._interrupt import InterruptibleNetMixin
from ..utils._seeding import current_generator

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

    After :meth:`set_unlabeled` the net trains a mean teacher: ``module_`` must
    then be a :class:`~sktriplet.nn._mean_teacher.MeanTeacher`; each step adds
    ``consistency`` (ramped up over ``rampup_steps``) times the consistency loss of
    a batch of unlabelled clips, both networks reading the clips with their own
    Gaussian noise of standard deviation ``input_noise`` (the student's labelled
    clips get noise too), and moves the teacher after the optimizer step.

    With ``mixup > 0`` each training batch is mixed with a shuffled copy of itself
    (Zhang et al., 2018): ``lam * x + (1 - lam) * x[perm]`` with ``lam`` drawn from
    Beta(``mixup``, ``mixup``) per batch, and the loss is the same mixture of the
    losses on the two targets (for the binary cross-entropy, exactly the loss on
    the mixed targets). A mean teacher's batch of unlabelled clips is mixed the
    same way, and both networks read the mixed clips.
    """

    def __init__(
        self,
        *args,
        on_interrupt="raise",
        consistency=0.0,
        input_noise=0.0,
        rampup_steps=0,
        mixup=0.0,
        band_gain=0.0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.on_interrupt = on_interrupt
        self.consistency = consistency
        self.input_noise = input_noise
        self.rampup_steps = rampup_steps
        self.mixup = mixup
        self.band_gain = band_gain
        self.unlabeled_ = None

    def set_unlabeled(self, X3, lengths=None):
        """Clips ``(n, n_frames, n_features)`` (network input) for consistency."""
        self.unlabeled_ = (torch.as_tensor(X3), lengths)
        return self

    def train_step_single(self, batch, **fit_params):
        if self.unlabeled_ is None and self.mixup <= 0 and self.band_gain <= 0:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi, mixed = self._mixed(Xi)
        Xi = self._with_band_gains(Xi)
        if self.unlabeled_ is not None:
            # The noise is the mean teacher's (both networks read noisy clips);
            # mixup alone trains on the clips as they are, mixed.
            Xi = self._with_noise(Xi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        if mixed is not None:
            lam, perm = mixed
            loss = lam * loss + (1.0 - lam) * self.get_loss(
                y_pred, yi[perm], X=Xi, training=True
            )
        if self.unlabeled_ is not None:
            x_u, lengths_u = self._unlabeled_batch(len(yi))
            (x_u, lengths_u), _ = self._mixed((x_u, lengths_u))
            x_u = self._with_band_gains(x_u)
            pair = self.module_
            agreement = consistency_loss(
                pair.student,
                pair.teacher,
                (self._with_noise(x_u), self._with_noise(x_u)),
                lengths_u,
            )
            weight = self._consistency_weight(pair.n_updates)
            self.history.record_batch("consistency", agreement.item())
            loss_total = loss + weight * agreement
        else:
            loss_total = loss
        loss_total.backward()
        return {"loss": loss, "y_pred": y_pred}

    def _mixed(self, X):
        """``X`` mixed with a shuffled copy of itself, and ``(lam, perm)``.

        ``X`` is a tensor, the ``{"x", "lengths"}`` dict of a padded batch, or an
        ``(x, lengths)`` pair; a mixed clip is as long as the longer of its two,
        the shorter one continuing as zeros (the mean of standardized inputs).
        Returns ``(X, None)`` unchanged when ``mixup`` is off.
        """
        if self.mixup <= 0:
            return X, None
        if isinstance(X, dict):
            (x, lengths), mixed = self._mixed((X["x"], X.get("lengths")))
            return {**X, "x": x, "lengths": lengths}, mixed
        x, lengths = X if isinstance(X, tuple) else (X, None)
        generator = current_generator("cpu")
        draw = int(torch.randint(2**31 - 1, (1,), generator=generator))
        lam = float(np.random.default_rng(draw).beta(self.mixup, self.mixup))
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        if lengths is not None:
            # A shorter clip's padding is never read: it mixes in as zeros.
            real = frame_mask(lengths, x.shape[1])
            x = torch.where(real.view(*real.shape, *[1] * (x.dim() - 2)), x, 0.0)
            lengths = torch.maximum(lengths, lengths[perm])
        x = lam * x + (1.0 - lam) * x[perm]
        out = (x, lengths) if isinstance(X, tuple) else x
        return out, (lam, perm)

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        if self.unlabeled_ is not None:
            self.module_.update_teacher()
        return step

    def _consistency_weight(self, step):
        """``consistency`` with the usual sigmoid ramp-up ``exp(-5 (1 - t)^2)``."""
        if step >= self.rampup_steps:
            return self.consistency
        return self.consistency * math.exp(-5.0 * (1.0 - step / self.rampup_steps) ** 2)

    def _with_noise(self, X):
        """``X`` (a tensor, or the ``{"x", "lengths"}`` dict) plus Gaussian noise."""
        if self.input_noise <= 0:
            return X
        if isinstance(X, dict):
            return {**X, "x": self._with_noise(X["x"])}
        noise = torch.randn(
            X.shape, generator=current_generator(X.device), device=X.device
        )
        return X + self.input_noise * noise

    def _with_band_gains(self, X):
        """``X`` (a tensor, or the ``{"x", "lengths"}`` dict) plus random band gains.

        Each clip's mel bands (the last axis) are cut at 1 to 4 boundaries drawn
        uniformly, and each of the 2 to 5 bands is shifted by its own gain, drawn
        uniformly in ``[-band_gain, band_gain)``. Padding frames are shifted too;
        the networks never read them.
        """
        if self.band_gain <= 0:
            return X
        if isinstance(X, dict):
            return {**X, "x": self._with_band_gains(X["x"])}
        return add_band_gains(X, self.band_gain)

    def _unlabeled_batch(self, size):
        """A random batch of the unlabelled clips, on the device."""
        X3, lengths = self.unlabeled_
        rows = torch.randint(len(X3), (size,), generator=current_generator("cpu"))
        x = X3[rows]
        if lengths is not None:
            lengths = torch.as_tensor(lengths)[rows]
            x = x[:, : int(lengths.max())]
            lengths = lengths.to(self.device)
        return to_tensor(x, device=self.device), lengths


def make_tagger_net(
    module, module_kwargs, *, activation, weight, seed, device, callbacks, params
) -> TaggerNet:
    """The skorch net of a tagger with parameters ``params`` (its ``get_params``)."""
    return TaggerNet(
        module=module,
        on_interrupt=params["on_interrupt"],
        consistency=params["consistency"],
        input_noise=params["input_noise"],
        mixup=params["mixup"],
        band_gain=params.get("band_gain", 0.0),
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
