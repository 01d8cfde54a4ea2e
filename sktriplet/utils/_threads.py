"""Torch intra-op threads for small sequential kernels."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Temporarily set torch's intra-op thread count (``None`` leaves it alone).

    Recurrent layers run one small kernel per time step; with several OpenMP
    threads every step ends in a barrier, and when the cores are shared (another
    process, a pytest-xdist worker) the threads wait on each other at each of the
    ~1000 steps of a clip. Measured on 2 shared cores: a 2-layer BiGRU batch of 16
    clips of 1001 frames took 80 s with 2 threads and 6 s with 1.
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
