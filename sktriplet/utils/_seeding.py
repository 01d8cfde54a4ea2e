"""Per-fit torch randomness that fits in other threads cannot disturb.

torch draws initial weights and dropout masks from one process-wide generator per
device, and ``torch.manual_seed`` reseeds it for every thread: two fits seeding it
in two threads interleave their draws. A fit here therefore

* builds its network and optimizer in :func:`seeded_init`: holding a process-wide
  lock, with torch's global generators forked and seeded (module constructors take
  no generator). The lock also serialises torch's lazy imports: a first optimizer
  imports ``torch._dynamo``, and two threads importing it at once can crash;
* trains in :func:`private_generator`: sktriplet's dropout layers
  (:class:`sktriplet.nn._dropout.Dropout`) draw their masks from a
  :class:`torch.Generator` private to the fit and to its thread, and the GRU's
  inter-layer dropout, which only knows the global generator, runs through
  :func:`call_with_private_generator` (the private state swapped in for the call,
  holding the lock).

Training thus runs concurrently, and a fit gives bit-identical results on the CPU
whatever other sktriplet fits do at the same time. Code outside sktriplet that draws
from torch's global generator in another thread during one of the short locked
sections can still shift that fit's draws.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

_LOCK = threading.RLock()
_PRIVATE: ContextVar[_Generators | None] = ContextVar(
    "sktriplet_private_generators", default=None
)


def _cuda_devices(device) -> list:
    device = torch.device(device)
    return [device] if device.type == "cuda" else []


@contextmanager
def seeded_init(seed: int, device="cpu"):
    """Build a network (and its optimizer) from torch's generators seeded by ``seed``.

    Holds the process-wide lock; torch's global CPU generator (and the CUDA one of
    ``device``) get their previous state back on leaving.
    """
    with _LOCK, torch.random.fork_rng(devices=_cuda_devices(device)):
        torch.manual_seed(seed)
        yield


class _Generators:
    """Lazily created private generators of one fit, one per device."""

    def __init__(self, seed: int):
        # Not ``seed`` itself: the initial weights are drawn from that stream.
        self.seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        self.by_device = {}

    def on(self, device) -> torch.Generator:
        device = torch.device(device)
        gen = self.by_device.get(device)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self.by_device[device] = gen
        return gen


@contextmanager
def private_generator(seed: int):
    """Within the block, in this thread, dropout draws from a generator of ``seed``."""
    token = _PRIVATE.set(_Generators(seed))
    try:
        yield
    finally:
        _PRIVATE.reset(token)


def current_generator(device) -> torch.Generator | None:
    """This thread's private generator on ``device`` (None outside a fit)."""
    generators = _PRIVATE.get()
    return None if generators is None else generators.on(device)


def _global_generator(device):
    device = torch.device(device)
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        return torch.cuda.default_generators[index]
    return None


def call_with_private_generator(fn, *args, device):
    """``fn(*args)`` drawing from this thread's private generator on ``device``.

    For torch code that only draws from the global generator (the GRU's inter-layer
    dropout): holding the lock, the private state replaces the global one for the
    call and the global state comes back afterwards. Outside a fit, or on a device
    other than the CPU and CUDA, ``fn(*args)`` runs as it is.
    """
    private = current_generator(device)
    shared = _global_generator(device)
    if private is None or shared is None:
        return fn(*args)
    with _LOCK:
        saved = shared.get_state()
        shared.set_state(private.get_state())
        try:
            return fn(*args)
        finally:
            private.set_state(shared.get_state())
            shared.set_state(saved)
