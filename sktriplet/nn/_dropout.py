"""Dropout drawing its masks from the fit's private generator."""

from __future__ import annotations

import torch
from torch import nn

from ..utils._seeding import current_generator


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` whose masks come from the fit's private generator.

    During an estimator's ``fit`` (within
    :func:`sktriplet.utils._seeding.private_generator`) the mask is drawn from a
    :class:`torch.Generator` private to that fit, so fits in other threads neither
    shift nor see its draws; elsewhere it is :class:`torch.nn.Dropout`. It has no
    parameter or buffer: state dicts are those of :class:`torch.nn.Dropout`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        generator = current_generator(x.device) if self.training else None
        if generator is None or self.p == 0:
            return super().forward(x)
        if self.p == 1:
            return x.mul_(0) if self.inplace else x * 0
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep, generator=generator).div_(keep)
        return x.mul_(mask) if self.inplace else x * mask
