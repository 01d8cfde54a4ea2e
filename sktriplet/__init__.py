"""sktriplet: semi-supervised triplet-loss audio embeddings, scikit-learn compatible.

The main estimators are re-exported here; the subpackages hold the rest:
:mod:`sktriplet.features`, :mod:`sktriplet.datasets`, :mod:`sktriplet.sampling`,
:mod:`sktriplet.nn`, :mod:`sktriplet.embedding`, :mod:`sktriplet.tagging`,
:mod:`sktriplet.metrics`, :mod:`sktriplet.model_selection`,
:mod:`sktriplet.neighbors` (similarity search), :mod:`sktriplet.models` (model
files: audio in, embeddings and tags out), :mod:`sktriplet.hear` (the HEAR 2021
API) and :mod:`sktriplet.experiments`.
"""

from ._version import __version__
from .embedding import TripletEmbedder
from .features import LogMelExtractor, segment
from .metrics import classification_report, macro_f1_score, macro_f1_scorer
from .model_selection import LabeledKFold, mask_labels
from .sampling import (
    ExampleMixing,
    GaussianNoise,
    LabelNegative,
    LabelPositive,
    NearestPositive,
    RuleSampler,
    SemiHardNegative,
    TemporalProximity,
    TimeFrequencyShift,
    TransformPositive,
    TripletSampler,
    get_sampler,
)
from .tagging import CRNNTagger, SequenceTagger

__all__ = [
    "CRNNTagger",
    "ExampleMixing",
    "GaussianNoise",
    "LabelNegative",
    "LabelPositive",
    "LabeledKFold",
    "LogMelExtractor",
    "NearestPositive",
    "RuleSampler",
    "SemiHardNegative",
    "SequenceTagger",
    "TemporalProximity",
    "TimeFrequencyShift",
    "TransformPositive",
    "TripletEmbedder",
    "TripletSampler",
    "__version__",
    "classification_report",
    "get_sampler",
    "macro_f1_score",
    "macro_f1_scorer",
    "mask_labels",
    "segment",
]
