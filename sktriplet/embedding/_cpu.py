"""CPU concerns of the embedder: mixed precision support and the allocator scope."""

from __future__ import annotations

import platform
import warnings
from contextlib import nullcontext

import torch

from ..utils._allocator import allocator_unobserved, tuned_cpu_allocator

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX).

    Non-x86 CPUs count as native: torch has no check for them, and a false alarm
    is worse than none.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: True)() for name in checks)


def resolve_amp(amp, device: str):
    """Autocast dtype for ``amp`` on ``device`` (None = full precision).

    Warns when bfloat16 would be emulated on this CPU (no native support).
    """
    if amp is False or amp is None:
        return None
    on_cuda = torch.device(device).type == "cuda"
    if amp == "fp16" and not on_cuda:
        raise ValueError(
            "amp='fp16' needs a CUDA device; on CPU use amp=True or amp='bf16'."
        )
    if on_cuda:
        if amp is True:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return _AMP_DTYPES[amp]
    if not cpu_has_native_bf16():
        warnings.warn(
            f"amp={amp!r} on a CPU without native bfloat16 (no AVX512-BF16 or AMX): "
            "bfloat16 is emulated here and much slower than float32 (see the "
            "installation notes of the documentation, 'Speed on CPU'). Use "
            "amp=False on this machine.",
            UserWarning,
            stacklevel=4,
        )
    return torch.bfloat16


def allocator_scope(tune_allocator, device):
    """Context of a CPU ``fit``/``transform`` for the ``tune_allocator`` setting.

    ``True``: glibc tuned for the call
    (:func:`~sktriplet.embedding.tuned_cpu_allocator`);
    ``"auto"``: the same only when no other thread could observe it
    (:func:`~sktriplet.utils._allocator.allocator_unobserved`); ``False``, or a
    CUDA device: nothing.
    """
    if not tune_allocator or torch.device(device).type != "cpu":
        return nullcontext()
    if tune_allocator == "auto" and not allocator_unobserved():
        return nullcontext()
    return tuned_cpu_allocator()
