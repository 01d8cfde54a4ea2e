"""Log-mel features of audio clips and their cutting into segments."""

from ._logmel import LogMelExtractor
from ._segment import segment

__all__ = ["LogMelExtractor", "segment"]
