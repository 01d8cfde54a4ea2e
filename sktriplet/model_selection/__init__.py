"""Model selection for semi-supervised targets: label masking and labelled folds."""

from ._mask import mask_labels
from ._split import LabeledKFold

__all__ = ["LabeledKFold", "mask_labels"]
