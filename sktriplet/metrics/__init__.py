"""Evaluation measures: clip-level macro-F1 on semi-supervised targets, and
per-class decision thresholds chosen on held-out clips."""

from ._f1 import classification_report, macro_f1_score, macro_f1_scorer
from ._thresholds import select_thresholds

__all__ = [
    "classification_report",
    "macro_f1_score",
    "macro_f1_scorer",
    "select_thresholds",
]
