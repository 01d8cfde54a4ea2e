"""Mean teacher: a tagger trained with a consistency loss on unlabelled clips.

Tarvainen and Valpola (NeurIPS 2017), the method most DCASE 2018 Task 4 systems
built on: a *student* network is trained on the labelled clips and, on unlabelled
clips, to agree with a *teacher* whose weights are an exponential moving average
of the student's. The teacher averages the student over many steps, so its
predictions are steadier targets than the student's own, and it is the network
kept after training.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._tagger import clip_pooling, frame_activation, frame_mask

__all__ = ["MeanTeacher", "consistency_loss"]


class MeanTeacher(nn.Module):
    """A tagger network (the student) and its moving average (the teacher).

    In training mode :meth:`forward` runs the student, in evaluation mode the
    teacher, so held-out scoring during training and the tagger kept at the end
    both see the teacher.

    Parameters
    ----------
    student : torch.nn.Module
        A tagger network (:class:`~sktriplet.nn.BiGRUTagger` or
        :class:`~sktriplet.nn.CRNN`) with ``forward(x, lengths)`` and
        ``frame_probabilities(x, lengths)``, already initialised.
    decay : float, default=0.99
        Weight of the teacher's previous weights in each update; the teacher
        averages the student over about ``1 / (1 - decay)`` steps.

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import BiGRUTagger, MeanTeacher
    >>> pair = MeanTeacher(BiGRUTagger(n_features=8, n_classes=3, hidden_size=4))
    >>> pair.update_teacher()
    >>> pair.eval()(torch.zeros(2, 5, 8)).shape
    torch.Size([2, 3])
    """

    def __init__(self, student: nn.Module, decay: float = 0.99):
        super().__init__()
        self.student = student
        self.teacher = copy.deepcopy(student)
        for param in self.teacher.parameters():
            param.requires_grad_(False)
        self.decay = float(decay)
        self.n_updates = 0

    def forward(self, x, lengths=None):
        network = self.student if self.training else self.teacher
        return network(x, lengths)

    @torch.no_grad()
    def update_teacher(self) -> None:
        """Move the teacher's weights towards the student's (one EMA step).

        The first updates use a smaller decay, ``1 - 1 / (n + 1)``: the teacher is
        then the plain mean of the students so far rather than mostly its random
        initialisation. Buffers (batch-norm statistics) are copied.
        """
        self.n_updates += 1
        decay = min(self.decay, 1.0 - 1.0 / (self.n_updates + 1))
        for mean, value in zip(self.teacher.parameters(), self.student.parameters()):
            mean.mul_(decay).add_(value.detach(), alpha=1.0 - decay)
        for mean, value in zip(self.teacher.buffers(), self.student.buffers()):
            mean.copy_(value)


def consistency_loss(student, teacher, x, lengths=None):
    """Mean squared difference of the two networks' clip and frame probabilities.

    Parameters
    ----------
    student, teacher : torch.nn.Module
        Tagger networks; the student's output carries the gradient, the teacher's
        is computed without one.
    x : tuple of two torch.Tensor of shape (batch, n_frames, n_features)
        The student's and the teacher's input (two perturbations of one batch).
    lengths : torch.Tensor of shape (batch,), default=None
        Real frames per clip of a padded batch; padding frames are left out.

    Returns
    -------
    torch.Tensor
        Scalar: the clip term plus the frame term, each a mean over classes.
    """
    x_student, x_teacher = x
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=x_student.device)
    frames, clips = _frame_and_clip_probabilities(student, x_student, lengths)
    with torch.no_grad():
        frames_target, clips_target = _frame_and_clip_probabilities(
            teacher, x_teacher, lengths
        )
    frame_error = (frames - frames_target).pow(2).mean(dim=-1)
    if lengths is None:
        frame_term = frame_error.mean()
    else:
        mask = frame_mask(lengths, frame_error.shape[1]).to(frame_error)
        frame_term = (frame_error * mask).sum() / mask.sum()
    return (clips - clips_target).pow(2).mean() + frame_term


def _frame_and_clip_probabilities(network, x, lengths):
    """One pass of ``network``: frame probabilities and the pooled clip ones."""
    logits = network.frame_logits(x, lengths)
    frames = frame_activation(logits, network.activation)
    pooling = getattr(network, "pooling", "mean")
    return frames, clip_pooling(logits, network.activation, pooling, lengths)
