"""Opt-in tuning of glibc's allocator for CNN training on CPU."""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def tune_cpu_allocator(trim_threshold: int = 1 << 30) -> bool:
    """Stop glibc from unmapping big activation buffers after every training step.

    By default glibc serves allocations above a (dynamic) threshold with ``mmap``
    and returns them to the kernel when freed, so every training step of the CNN
    page-faults its large activation buffers in again. This calls
    ``mallopt(M_MMAP_MAX, 0)`` (no ``mmap`` allocations) and
    ``mallopt(M_TRIM_THRESHOLD, trim_threshold)`` (keep up to that much free memory
    at the top of the heap), the in-process form of the environment variables
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<bytes>``. It affects the whole
    process for its lifetime: freed memory is kept for reuse instead of being given
    back, so the resident size stays at its peak. See ``benchmarks/bench_embedder.py``
    for its effect on training speed.

    Parameters
    ----------
    trim_threshold : int, default=1 << 30
        Bytes of free memory glibc may keep at the top of the heap.

    Returns
    -------
    applied : bool
        False where the C library has no ``mallopt`` (not glibc).

    Examples
    --------
    >>> from sktriplet.embedding import tune_cpu_allocator
    >>> isinstance(tune_cpu_allocator(), bool)
    True
    """
    if not isinstance(trim_threshold, int) or trim_threshold < 0:
        raise ValueError(
            f"trim_threshold must be a non-negative int; got {trim_threshold!r}."
        )
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    trim = min(trim_threshold, 2**31 - 1)
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, trim))
