"""``__``-prefixed keyword parameters of the embedder (``module__n_filters=32`` ...).

scikit-learn estimators take only the parameters of their signature. The embedder
also takes keyword parameters routed to the objects it builds (the network, the
optimizer, skorch callbacks, the sampler), as skorch's ``NeuralNet`` does; this
mixin makes them visible to ``get_params``/``set_params`` (hence ``clone`` and
``GridSearchCV``).
"""

from __future__ import annotations

#: Prefixes of the routed keyword parameters (``module__n_filters=32`` ...).
PREFIXES = (
    "module__",
    "optimizer__",
    "callbacks__",
    "sampler__",
    "fine_tune__",
)


class RoutedParamsMixin:
    """``get_params``/``set_params`` that include the ``PREFIXES`` parameters.

    The routed parameters are stored as attributes by ``__init__`` (``**kwargs``).
    """

    def _routed_params(self, prefix=None) -> dict:
        """Keyword parameters beyond the signature (``prefix`` ones only if given)."""
        names = set(self._get_param_names())
        extra = {
            key: value
            for key, value in vars(self).items()
            if key not in names and not key.startswith("_") and not key.endswith("_")
        }
        if prefix is None:
            return extra
        return {k: v for k, v in extra.items() if k.startswith(prefix)}

    def _check_routed_params(self):
        unknown = [k for k in self._routed_params() if not k.startswith(PREFIXES)]
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected parameter(s) {unknown}; routed "
                f"parameters must start with one of {PREFIXES}."
            )

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._routed_params())
        return params

    def set_params(self, **params):
        routed = {
            k: v
            for k, v in params.items()
            if k.startswith(PREFIXES) or k in self._routed_params()
        }
        for key, value in routed.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in routed}
        if rest:
            super().set_params(**rest)
        return self

    def _sub_params(self, prefix) -> dict:
        """The ``prefix`` parameters, with the prefix removed."""
        n = len(prefix)
        return {k[n:]: v for k, v in self._routed_params(prefix).items()}

    def _prefixed(self, prefix) -> dict:
        """The ``prefix`` parameters, as given (``{"optimizer__eps": 1e-8}``)."""
        return {prefix + k: v for k, v in self._sub_params(prefix).items()}
