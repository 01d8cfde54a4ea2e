"""sktriplet: semi-supervised triplet-loss audio embeddings, scikit-learn compatible.

The main estimators are re-exported here; the subpackages hold the rest:
:mod:`sktriplet.features`, :mod:`sktriplet.datasets`, :mod:`sktriplet.sampling`,
:mod:`sktriplet.nn`, :mod:`sktriplet.embedding`, :mod:`sktriplet.tagging`,
:mod:`sktriplet.metrics`, :mod:`sktriplet.model_selection`,
:mod:`sktriplet.neighbors` (similarity search), :mod:`sktriplet.models` (model
files: audio in, embeddings and tags out), :mod:`sktriplet.hear` (the HEAR 2021
API) and :mod:`sktriplet.experiments`.

The torch-based estimators (``TripletEmbedder``, ``CRNNTagger``,
``SequenceTagger``) and the subpackages are loaded on first use (PEP 562), so that
``import sktriplet.sampling`` (or ``sktriplet.features``) does not import torch.
"""

import importlib

from ._version import __version__
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

__all__ = [
    "AcceleratedTripletEmbedder",
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

#: Names loaded on first access: they import torch.
_LAZY = {
    "AcceleratedTripletEmbedder": ".embedding",
    "TripletEmbedder": ".embedding",
    "CRNNTagger": ".tagging",
    "SequenceTagger": ".tagging",
}
_SUBMODULES = (
    "datasets",
    "embedding",
    "experiments",
    "features",
    "hear",
    "metrics",
    "model_selection",
    "models",
    "neighbors",
    "nn",
    "sampling",
    "tagging",
    "utils",
)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
