"""Progress bars for long loops (tqdm, written to stderr)."""

from __future__ import annotations

from collections.abc import Iterable


def progress(iterable: Iterable, *, enabled: bool = True, **kwargs):
    """Wrap ``iterable`` in a tqdm progress bar when ``enabled``, else return it."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
