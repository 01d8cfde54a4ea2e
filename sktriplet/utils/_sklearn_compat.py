"""The one place that imports from scikit-learn's private or version-dependent API."""

from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import validate_data  # noqa: F401

__all__ = ["HasMethods", "Interval", "StrOptions", "validate_params", "validate_data"]
