"""Log-mel features of audio clips and their cutting into segments."""

from ._logmel import LogMelExtractor
from ._pooling import FramePooling, pool_frames
from ._segment import segment

__all__ = ["FramePooling", "LogMelExtractor", "pool_frames", "segment"]
