"""PyTorch modules: the embedding CNN and the triplet loss."""

from ._embedding import ConvEmbedding
from ._loss import TripletLoss, triplet_loss
from ._tagger import CRNN, BiGRUTagger, clip_pooling

__all__ = [
    "ConvEmbedding",
    "TripletLoss",
    "triplet_loss",
    "BiGRUTagger",
    "CRNN",
    "clip_pooling",
]
