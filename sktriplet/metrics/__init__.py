"""Evaluation measures: clip-level macro-F1 on semi-supervised targets."""

from ._f1 import classification_report, macro_f1_score, macro_f1_scorer

__all__ = ["classification_report", "macro_f1_score", "macro_f1_scorer"]
