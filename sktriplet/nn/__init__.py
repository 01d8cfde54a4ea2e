"""PyTorch modules: the embedding CNN, the triplet loss, semi-hard mining, the
tagging networks and the mean teacher that trains them on unlabelled clips."""

from ._embedding import ConvEmbedding
from ._loss import TripletLoss, triplet_loss
from ._mean_teacher import MeanTeacher, consistency_loss
from ._mining import semihard_negatives, semihard_valid_mask
from ._tagger import CRNN, BiGRUTagger, clip_pooling

__all__ = [
    "ConvEmbedding",
    "TripletLoss",
    "triplet_loss",
    "semihard_negatives",
    "semihard_valid_mask",
    "BiGRUTagger",
    "CRNN",
    "clip_pooling",
    "MeanTeacher",
    "consistency_loss",
]
