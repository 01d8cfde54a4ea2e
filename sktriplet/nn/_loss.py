"""Triplet loss of Turpault, Serizel & Vincent (2019), eq. (1)."""

from __future__ import annotations

import torch
from torch import nn

REDUCTIONS = ("mean", "sum", "none")


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 1.0,
    reduction: str = "mean",
    *,
    return_active: bool = False,
):
    """Hinge triplet loss on squared Euclidean distances.

    ``max(0, ||a - p||^2 - ||a - n||^2 + margin)`` per triplet, as in the paper.

    Parameters
    ----------
    anchor, positive, negative : torch.Tensor of shape (n_triplets, dim)
        Embeddings; extra trailing dimensions are flattened.
    margin : float, default=1.0
        Margin between the positive and the negative squared distances.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction over triplets.
    return_active : bool, default=False
        Also return the fraction of active triplets (positive loss), a float tensor.

    Returns
    -------
    loss : torch.Tensor
        Scalar, or ``(n_triplets,)`` for ``reduction="none"``.
    active : torch.Tensor
        Only with ``return_active=True``: fraction of triplets with a non-zero loss.

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import triplet_loss
    >>> a = torch.zeros(1, 2); p = torch.tensor([[1.0, 0.0]])
    >>> n = torch.tensor([[0.0, 0.5]])
    >>> float(triplet_loss(a, p, n, margin=1.0))
    1.75
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}.")
    if not (anchor.shape == positive.shape == negative.shape):
        raise ValueError(
            "anchor, positive and negative must have the same shape; got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}."
        )
    if margin < 0:
        raise ValueError(f"margin must be non-negative; got {margin!r}.")
    a = anchor.flatten(1) if anchor.ndim > 1 else anchor[:, None]
    d_ap = (a - positive.reshape(a.shape)).pow(2).sum(dim=1)
    d_an = (a - negative.reshape(a.shape)).pow(2).sum(dim=1)
    losses = torch.relu(d_ap - d_an + margin)
    if reduction == "mean":
        loss = losses.mean() if len(losses) else losses.sum()
    elif reduction == "sum":
        loss = losses.sum()
    else:
        loss = losses
    if return_active:
        active = (losses > 0).float().mean() if len(losses) else losses.sum()
        return loss, active.detach()
    return loss


class TripletLoss(nn.Module):
    """Module form of :func:`triplet_loss` (usable as a skorch ``criterion``).

    Parameters
    ----------
    margin : float, default=1.0
        Margin between the positive and the negative squared distances.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction over triplets.

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import TripletLoss
    >>> TripletLoss(margin=0.5)(torch.zeros(3, 4), torch.zeros(3, 4), torch.ones(3, 4))
    tensor(0.)
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.margin = margin
        self.reduction = reduction

    def forward(self, anchor, positive, negative):
        return triplet_loss(
            anchor, positive, negative, margin=self.margin, reduction=self.reduction
        )
