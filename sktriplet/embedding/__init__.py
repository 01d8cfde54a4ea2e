"""Triplet-loss audio embeddings: the scikit-learn estimator and its skorch engine."""

from ..utils._allocator import tune_cpu_allocator, tuned_cpu_allocator
from ._accelerate import AcceleratedTripletEmbedder
from ._accelerated_net import AcceleratedTripletNet
from ._embedder import TripletEmbedder
from ._net import TripletNet
from ._weak_labels import loudest_segments, segment_loudness

__all__ = [
    "AcceleratedTripletEmbedder",
    "AcceleratedTripletNet",
    "TripletEmbedder",
    "TripletNet",
    "loudest_segments",
    "segment_loudness",
    "tune_cpu_allocator",
    "tuned_cpu_allocator",
]
