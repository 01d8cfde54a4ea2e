"""Recipes: what rules return for each anchor, and rejection sampling to fill them."""

from __future__ import annotations

import numpy as np

#: Rounds of vectorised rejection sampling before the exact (enumerating) fallback.
N_REJECTION_ROUNDS = 8


def empty_recipe(anchors) -> dict:
    """Recipe arrays for ``anchors`` with the defaults: positive ``-1``, as is."""
    n = len(anchors)
    return {
        "positive": np.full(n, -1, np.int64),
        "transform": np.full(n, -1, np.int8),
        "time_shift": np.zeros(n, np.int32),
        "freq_shift": np.zeros(n, np.int32),
        "seed": np.zeros(n, np.int64),
        "alpha": np.zeros(n, np.float32),
        "ok": np.ones(n, dtype=bool),
    }


def rejection_sample(todo_n, propose, accept, n_rounds=N_REJECTION_ROUNDS):
    """Vectorised rejection sampling in a bounded number of rounds.

    ``propose(rows)`` returns one candidate per row, ``accept(rows, cand)`` a bool mask.
    Returns ``(values, rows_left)``: accepted candidates (``-1`` elsewhere) and the
    rows still without one, for an exact fallback.
    """
    out = np.full(todo_n, -1, dtype=np.int64)
    rows = np.arange(todo_n)
    for _ in range(n_rounds):
        if rows.size == 0:
            break
        cand = propose(rows)
        ok = accept(rows, cand)
        out[rows[ok]] = cand[ok]
        rows = rows[~ok]
    return out, rows
