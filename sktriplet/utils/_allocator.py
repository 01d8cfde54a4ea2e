"""glibc allocator settings for CNN training and inference on CPU.

By default glibc serves allocations above a (dynamic, at most 32 MiB) threshold
with ``mmap`` and gives them back to the kernel when they are freed. The paper's CNN
allocates activation buffers of hundreds of MiB per batch, so every training step
page-faults them in again: on 2 cores that costs about half of the step's time
(figures in the installation notes, "Speed on CPU"). Telling glibc to serve them
from its heap and to keep freed memory for the next step (``mallopt``) removes that
cost.

``mallopt`` sets the allocator of the whole process: every thread and library sees
it while it is on. :class:`~sktriplet.embedding.TripletEmbedder` therefore tunes it
by default (``tune_allocator="auto"``) only where nobody else can observe it
(:func:`allocator_unobserved`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from contextlib import contextmanager
from functools import lru_cache

# mallopt parameters from glibc's <malloc.h>, and glibc's defaults for them.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536

#: Environment variables through which a user sets glibc's allocator: when one is
#: set, the scoped tuning leaves the allocator alone rather than override it.
ALLOCATOR_ENV = (
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
)

_lock = threading.Lock()
_state = {"depth": 0, "applied": False, "global": False}


@lru_cache(maxsize=1)
def _libc():
    """glibc's ``mallopt`` and ``malloc_trim`` (None where the C library lacks them)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return mallopt, malloc_trim


def _set(mmap_max: int, trim_threshold: int) -> bool:
    funcs = _libc()
    if funcs is None:
        return False
    mallopt, _ = funcs
    trim = min(trim_threshold, 2**31 - 1)
    return bool(mallopt(M_MMAP_MAX, mmap_max)) and bool(mallopt(M_TRIM_THRESHOLD, trim))


def _check_trim_threshold(trim_threshold):
    if not isinstance(trim_threshold, int) or trim_threshold < 0:
        raise ValueError(
            f"trim_threshold must be a non-negative int; got {trim_threshold!r}."
        )


def user_sets_allocator() -> bool:
    """Whether the environment or :func:`tune_cpu_allocator` sets glibc's allocator."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return (
        _state["global"]
        or any(name in os.environ for name in ALLOCATOR_ENV)
        or "glibc.malloc." in tunables
    )


def allocator_unobserved() -> bool:
    """Whether a scoped tuning made now cannot be observed outside the caller.

    True when the calling thread is the only Python thread alive: no other thread
    (a web server's handler, a threaded ``GridSearchCV`` job, another library's
    worker) allocates while the block runs. Nested blocks of the same thread share
    one tuning. Threads started inside the block are not seen by this check.
    """
    return threading.active_count() == 1


def tune_cpu_allocator(trim_threshold: int = 1 << 30) -> bool:
    """Stop glibc from unmapping big buffers for the rest of the process.

    :class:`~sktriplet.embedding.TripletEmbedder` already does this for the
    duration of its ``fit`` and ``transform`` on CPU when asked to
    (``tune_allocator=True``, or ``"auto"`` in a single-threaded process); call
    this to make it permanent, e.g. for your own PyTorch loop. It calls
    ``mallopt(M_MMAP_MAX, 0)`` (no ``mmap`` allocations) and
    ``mallopt(M_TRIM_THRESHOLD, trim_threshold)`` (keep up to that much free memory
    at the top of the heap), the in-process form of the environment variables
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<bytes>``. Freed memory is then kept
    for reuse instead of being given back, so the resident size stays at its peak.

    Parameters
    ----------
    trim_threshold : int, default=1 << 30
        Bytes of free memory glibc may keep at the top of the heap.

    Returns
    -------
    applied : bool
        False where the C library has no ``mallopt`` (not glibc).

    See Also
    --------
    tuned_cpu_allocator : The same, for the duration of a ``with`` block.

    Examples
    --------
    >>> from sktriplet.embedding import tune_cpu_allocator
    >>> isinstance(tune_cpu_allocator(), bool)
    True
    """
    _check_trim_threshold(trim_threshold)
    with _lock:
        applied = _set(0, trim_threshold)
        _state["global"] = _state["global"] or applied
    return applied


@contextmanager
def tuned_cpu_allocator(trim_threshold: int = 1 << 30):
    """Within the block, glibc keeps big freed buffers for reuse.

    The settings of :func:`tune_cpu_allocator` apply on entering the outermost
    block (blocks nest and may run in several threads). On leaving it, glibc's
    default limits come back and the memory kept is returned to the kernel
    (``malloc_trim``), so the process does not stay at its peak size. One
    difference remains: glibc no longer adapts its ``mmap`` threshold to the sizes
    it sees, as after any ``mallopt`` call. Where the environment
    (``MALLOC_*_`` variables, ``GLIBC_TUNABLES``) or :func:`tune_cpu_allocator`
    already sets the allocator, or the C library is not glibc, it does nothing.

    Parameters
    ----------
    trim_threshold : int, default=1 << 30
        Bytes of free memory glibc may keep at the top of the heap in the block.

    Yields
    ------
    applied : bool
        Whether this process's allocator is tuned within the block.

    Examples
    --------
    >>> from sktriplet.embedding import tuned_cpu_allocator
    >>> with tuned_cpu_allocator() as applied:
    ...     isinstance(applied, bool)
    True
    """
    _check_trim_threshold(trim_threshold)
    with _lock:
        if _state["depth"] == 0:
            _state["applied"] = not user_sets_allocator() and _set(0, trim_threshold)
        _state["depth"] += 1
        applied = _state["applied"] or _state["global"]
    try:
        yield applied
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["applied"]:
                _state["applied"] = False
                if not _state["global"]:
                    _set(DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD)
                    _libc()[1](0)
