"""Clip taggers: the BiGRU sequence classifier and the CRNN baseline."""

from ._crnn import CRNNTagger
from ._sequence import SequenceTagger

__all__ = ["CRNNTagger", "SequenceTagger"]
