"""Triplet sampling: the paper's strategies S1..S5 as composable samplers.

A sampler is fitted on training segments (and labels, ``-1`` = unlabelled) and draws
:class:`Triplets` — index arrays and recipes, no tensors. :func:`make_positives`
materialises generated positives; :func:`semihard_negatives` mines the negatives
marked ``-1`` over embeddings.
"""

from ._base import NegativeRule, PositiveRule, TripletSampler
from ._mining import semihard_negatives, semihard_valid_mask
from ._nearest import NearestPositive
from ._negative import LabelNegative, SemiHardNegative
from ._positive import LabelPositive, TransformPositive
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
    "semihard_negatives",
    "semihard_valid_mask",
]
