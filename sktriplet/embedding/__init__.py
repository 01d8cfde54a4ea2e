"""Triplet-loss audio embeddings: the scikit-learn estimator and its skorch engine."""

from ..utils._allocator import tune_cpu_allocator, tuned_cpu_allocator
from ._embedder import TripletEmbedder
from ._net import TripletNet

__all__ = ["TripletEmbedder", "TripletNet", "tune_cpu_allocator", "tuned_cpu_allocator"]
