"""Randomness helpers: numpy generators, seeding nested rules, drawing pools."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state


def seed_unset_random_states(sampler, seed: int) -> None:
    """Seed every ``random_state`` parameter of ``sampler`` that is ``None``.

    Nested rules (for example :class:`NearestPositive` inside a
    :class:`RuleSampler`) draw at fit time with their own ``random_state``; an owner
    with a fixed seed (the embedder) fills the unset ones from it so that its fit is
    reproducible. Parameters the user set are kept. Seeds are derived from ``seed``
    and the parameter's name, so they do not depend on the order of the parameters.

    Parameters
    ----------
    sampler : estimator
        A sampler, rule or any scikit-learn estimator; changed in place through
        ``set_params`` (nested ``..__random_state`` parameters included).
    seed : int
        The owner's seed.

    See Also
    --------
    TripletSampler : The samplers whose rules take a ``random_state``.

    Examples
    --------
    >>> from sktriplet.sampling import get_sampler, seed_unset_random_states
    >>> s = get_sampler("s3")
    >>> seed_unset_random_states(s, 0)
    >>> s.get_params()["unlabeled__positive__random_state"] is not None
    True
    >>> t = get_sampler("s3", unlabeled__positive__random_state=7)
    >>> seed_unset_random_states(t, 0)
    >>> t.get_params()["unlabeled__positive__random_state"]
    7
    """
    unset = {
        name: int(np.random.default_rng([seed, *name.encode()]).integers(2**31 - 1))
        for name, value in sampler.get_params(deep=True).items()
        if (name == "random_state" or name.endswith("__random_state"))
        and value is None
    }
    if unset:
        sampler.set_params(**unset)


#: Former name of :func:`seed_unset_random_states` (internal alias).
fill_random_states = seed_unset_random_states


def as_generator(random_state) -> np.random.Generator:
    """A numpy ``Generator`` from an int, ``RandomState``, ``Generator`` or None."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral):
        return np.random.default_rng(int(random_state))
    rs = check_random_state(random_state)
    return np.random.default_rng(rs.randint(np.iinfo(np.int32).max))


def draw_pool(pool, k, rng):
    """``k`` items of ``pool``: without replacement while it lasts, then again."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    reps, rest = divmod(k, len(pool))
    parts = [rng.permutation(pool) for _ in range(reps)]
    if rest:
        parts.append(rng.choice(pool, size=rest, replace=False))
    return np.concatenate(parts).astype(np.int64)
