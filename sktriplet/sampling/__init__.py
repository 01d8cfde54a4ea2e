"""Triplet sampling: the paper's strategies S1..S5 as composable samplers.

A sampler is fitted on training segments (and labels, ``-1`` = unlabelled) and draws
:class:`Triplets` — index arrays and recipes, no tensors. :func:`make_positives`
materialises generated positives; the negatives marked ``-1`` are mined over
embeddings by :func:`sktriplet.nn.semihard_negatives`. Importing this package does
not import torch.
"""

from ._nearest import NearestPositive
from ._negative import LabelNegative, SemiHardNegative
from ._positive import LabelPositive, TransformPositive
from ._random import seed_unset_random_states
from ._rules import NegativeRule, PositiveRule
from ._sampler import TripletSampler
from ._strategies import STRATEGIES, RuleSampler, get_sampler
from ._transforms import (
    ExampleMixing,
    GaussianNoise,
    TemporalProximity,
    TimeFrequencyShift,
    Transform,
    make_positives,
)
from ._triplets import TRANSFORM_CODES, Triplets

__all__ = [
    "STRATEGIES",
    "TRANSFORM_CODES",
    "ExampleMixing",
    "GaussianNoise",
    "LabelNegative",
    "LabelPositive",
    "NearestPositive",
    "NegativeRule",
    "PositiveRule",
    "RuleSampler",
    "SemiHardNegative",
    "TemporalProximity",
    "TimeFrequencyShift",
    "Transform",
    "TransformPositive",
    "TripletSampler",
    "Triplets",
    "get_sampler",
    "make_positives",
    "seed_unset_random_states",
]

#: Mining moved to :mod:`sktriplet.nn` (it needs torch); these names stay
#: importable from here, loaded on first use (PEP 562).
_MOVED_TO_NN = ("semihard_negatives", "semihard_valid_mask")


def __getattr__(name):
    if name in _MOVED_TO_NN:
        from .. import nn

        return getattr(nn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
