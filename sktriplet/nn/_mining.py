"""Semi-hard negative mining over embeddings (vectorised torch).

The miners sit beside the loss, as pytorch-metric-learning keeps them: the sampler
(torch-free) marks the negatives to mine with ``-1``; these functions choose them
among the embeddings of a batch.
"""

from __future__ import annotations

import numpy as np
import torch

from ..utils._labels import labeled_mask


def semihard_negatives(anchor_emb, positive_emb, candidate_emb, valid=None):
    """The paper's semi-hard negative of each anchor among candidate embeddings.

    For each anchor ``a`` with positive ``p``: among the valid candidates ``n`` with
    ``d(a, n) > d(a, p)`` (squared Euclidean distances), the closest. If no valid
    candidate is farther than the positive, the fallback is the *farthest* valid
    candidate (the one closest to the semi-hard region), reported with
    ``found=False``. With no valid candidate at all the index is ``-1``.

    Parameters
    ----------
    anchor_emb, positive_emb : torch.Tensor of shape (B, D)
    candidate_emb : torch.Tensor of shape (K, D)
    valid : torch.Tensor of bool, shape (B, K), default=None
        Which candidates may be negatives of which anchor (see
        :func:`semihard_valid_mask`); None = all.

    Returns
    -------
    neg_index : torch.Tensor of int64, shape (B,)
        Candidate index, ``-1`` when no valid candidate exists.
    found : torch.Tensor of bool, shape (B,)
        Whether a candidate farther than the positive existed.

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import semihard_negatives
    >>> a = torch.zeros(1, 2); p = torch.tensor([[1.0, 0.0]])
    >>> c = torch.tensor([[0.5, 0.0], [2.0, 0.0], [3.0, 0.0]])
    >>> semihard_negatives(a, p, c)
    (tensor([1]), tensor([True]))
    """
    a = torch.as_tensor(anchor_emb)
    p = torch.as_tensor(positive_emb)
    c = torch.as_tensor(candidate_emb)
    if a.ndim != 2 or p.shape != a.shape or c.ndim != 2 or c.shape[1] != a.shape[1]:
        raise ValueError(
            "semihard_negatives needs anchor_emb and positive_emb of shape (B, D) and "
            f"candidate_emb of shape (K, D); got {tuple(a.shape)}, {tuple(p.shape)}, "
            f"{tuple(c.shape)}."
        )
    with torch.no_grad():
        a, p, c = a.detach(), p.detach(), c.detach()
        d_ap = (a - p).pow(2).sum(1)
        d_an = (
            a.pow(2).sum(1, keepdim=True) + c.pow(2).sum(1)[None, :] - 2.0 * (a @ c.T)
        ).clamp_min_(0.0)
        if valid is None:
            valid = torch.ones(d_an.shape, dtype=torch.bool, device=d_an.device)
        else:
            valid = torch.as_tensor(valid, dtype=torch.bool, device=d_an.device)
            if valid.shape != d_an.shape:
                raise ValueError(
                    f"valid must have shape {tuple(d_an.shape)}, got "
                    f"{tuple(valid.shape)}."
                )
        inf = torch.finfo(d_an.dtype).max
        semi = valid & (d_an > d_ap[:, None])
        closest = torch.where(semi, d_an, inf).argmin(1)
        farthest = torch.where(valid, d_an, -inf).argmax(1)
        found = semi.any(1)
        neg = torch.where(found, closest, farthest)
        neg = torch.where(valid.any(1), neg, torch.full_like(neg, -1))
    return neg, found


def semihard_valid_mask(
    anchor_clip, candidate_clip, anchor_labels=None, candidate_labels=None
):
    """Which candidates may be semi-hard negatives of which anchors.

    A candidate is excluded when it comes from the anchor's clip, or when both are
    labelled and share a label (set intersection of indicator rows; unlabelled rows
    are all ``-1`` and share nothing; "no event" rows, all ``0``, share with each
    other).

    Parameters
    ----------
    anchor_clip : array-like of int, shape (B,)
    candidate_clip : array-like of int, shape (K,)
    anchor_labels : array-like of shape (B, C), default=None
        Indicator rows of the anchors (``-1`` rows = unlabelled).
    candidate_labels : array-like of shape (K, C), default=None

    Returns
    -------
    valid : torch.Tensor of bool, shape (B, K)

    Examples
    --------
    >>> from sktriplet.nn import semihard_valid_mask
    >>> semihard_valid_mask([0, 1], [0, 1, 2]).tolist()
    [[False, True, True], [True, False, True]]
    """
    ac = torch.as_tensor(np.asarray(anchor_clip)).reshape(-1)
    cc = torch.as_tensor(np.asarray(candidate_clip)).reshape(-1)
    valid = ac[:, None] != cc[None, :]
    if anchor_labels is not None and candidate_labels is not None:
        anchor_labels = np.asarray(anchor_labels)
        al = torch.as_tensor(anchor_labels)
        cl = torch.as_tensor(np.asarray(candidate_labels))
        if al.ndim == 1:  # one class per row, -1 = unlabelled
            a_labeled = torch.as_tensor(labeled_mask(anchor_labels))
            share = (al[:, None] == cl[None, :]) & a_labeled[:, None]
            return valid & ~share

        def _sets(lab):
            labeled = torch.as_tensor(labeled_mask(lab.numpy()))
            pos = (lab == 1).to(torch.float32)
            empty = (labeled & ~(lab == 1).any(1)).to(torch.float32)[:, None]
            return torch.cat([pos, empty], 1)

        share = (_sets(al) @ _sets(cl).T) > 0
        valid &= ~share
    return valid
