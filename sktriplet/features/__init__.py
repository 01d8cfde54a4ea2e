"""Log-mel features of audio clips, their cutting into segments, a store on disk."""

from ._logmel import LogMelExtractor
from ._pooling import FramePooling, pool_frames
from ._segment import segment
from ._store import (
    FeatureStore,
    is_feature_store,
    open_feature_store,
    write_feature_store,
)

__all__ = [
    "FeatureStore",
    "FramePooling",
    "LogMelExtractor",
    "is_feature_store",
    "open_feature_store",
    "pool_frames",
    "segment",
    "write_feature_store",
]
