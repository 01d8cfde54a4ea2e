"""Joblib work on a Dask cluster, reached by address, that fails fast when absent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def dask_backend(address: str, *, timeout: float = 5.0) -> Iterator[dict]:
    """Run joblib's parallel work on the Dask scheduler at ``address`` meanwhile.

    Connects within ``timeout`` seconds and waits as long for one worker; yields
    ``{worker address: threads}``. A scheduler that cannot be reached, or that
    has no worker, is a ``ConnectionError`` of one line naming the address, and an
    absent ``distributed`` package an ``ImportError`` saying what to install.
    """
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "a Dask scheduler needs the 'distributed' package: pip install "
            "'sktriplet[dask]'."
        ) from None
    from joblib import parallel_config

    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=True)
    except Exception as exc:
        # A timeout is an OSError, a malformed address a ValueError; a peer that
        # is not a scheduler can fail in other ways (a garbage frame length has
        # given a MemoryError).
        reason = (
            str(exc)
            if isinstance(exc, (OSError, ValueError, TypeError))
            else f"no Dask answer ({type(exc).__name__})"
        )
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {address}: {reason}"
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ConnectionError(
                f"the Dask scheduler at {address} has no worker (none joined "
                f"within {timeout:g} s)."
            ) from None
        with parallel_config(backend="dask"):
            yield dict(client.nthreads())
    finally:
        client.close()
