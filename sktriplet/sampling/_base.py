"""Former home of the sampling base classes (internal re-exports only).

The contents moved by concept: :mod:`._random` (generators and seeding),
:mod:`._data` (:class:`SegmentData`), :mod:`._recipes`, :mod:`._rules` and
:mod:`._sampler` (:class:`TripletSampler`). Import from ``sktriplet.sampling``.
"""

from ._data import SegmentData
from ._random import as_generator, fill_random_states, seed_unset_random_states
from ._recipes import N_REJECTION_ROUNDS, empty_recipe, rejection_sample
from ._rules import BaseRule, NegativeRule, PositiveRule
from ._sampler import TripletSampler

__all__ = [
    "N_REJECTION_ROUNDS",
    "BaseRule",
    "NegativeRule",
    "PositiveRule",
    "SegmentData",
    "TripletSampler",
    "as_generator",
    "empty_recipe",
    "fill_random_states",
    "rejection_sample",
    "seed_unset_random_states",
]
