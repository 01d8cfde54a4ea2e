"""Random gains per mel band: a step curve added to every frame of a clip.

Microphones, rooms and codecs colour a recording: they raise or lower whole
regions of the spectrum. A random step curve over the mel bands, the same for
every frame of a clip, imitates that colouring; the taggers train on it
(``band_gain``), and so can the triplet stage, whose positive pairs then differ
by colouring and teach invariance to it from unlabelled clips too.
"""

from __future__ import annotations

import torch

from ..utils._seeding import current_generator

#: Bands of one random gain curve (``band_gain``): at least 2, at most 5.
MIN_GAIN_BANDS, MAX_GAIN_BANDS = 2, 5


def band_gain_curves(n_clips, n_bins, gain, generator, device="cpu"):
    """Random step curves ``(n_clips, n_bins)`` over the bins, one per clip.

    Each curve has 2 to 5 steps (as many as the bins allow): its boundaries are
    distinct bins drawn uniformly, and each step's level is drawn uniformly in
    ``[-gain, gain)``.
    """
    n_cuts = MAX_GAIN_BANDS - 1
    n_bands = torch.randint(
        MIN_GAIN_BANDS,
        MAX_GAIN_BANDS + 1,
        (n_clips,),
        generator=generator,
        device=device,
    )
    # Distinct boundaries: the first n_cuts of a random order of bins 1..n_bins-1.
    order = torch.rand(n_clips, max(n_bins - 1, 1), generator=generator, device=device)
    cuts = order.argsort(dim=1)[:, :n_cuts] + 1
    used = torch.arange(cuts.shape[1], device=device) < (n_bands - 1)[:, None]
    cuts = torch.where(used, cuts, n_bins)
    bins = torch.arange(n_bins, device=device)
    band_of_bin = (cuts[:, :, None] <= bins).sum(dim=1)
    levels = (
        torch.rand(n_clips, MAX_GAIN_BANDS, generator=generator, device=device) * 2 - 1
    ) * gain
    return levels.gather(1, band_of_bin)


def add_band_gains(x, gain):
    """``x`` plus one random curve per row over its last axis (the mel bands).

    The curve of row ``i`` is the same in every frame of ``x[i]``; drawn from the
    fit's private generator on ``x``'s device. ``gain <= 0`` returns ``x``.
    """
    if gain <= 0:
        return x
    curves = band_gain_curves(
        len(x), x.shape[-1], gain, current_generator(x.device), x.device
    )
    return x + curves.view(len(x), *[1] * (x.dim() - 2), x.shape[-1]).to(x.dtype)
