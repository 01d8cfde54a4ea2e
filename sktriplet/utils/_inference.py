"""Batched inference of a torch module over clip or segment arrays."""

from __future__ import annotations

import numpy as np
import torch


def predict_in_chunks(forward, x, *, chunk_size, device, lengths=None):
    """``forward`` applied to ``x`` in chunks, outputs concatenated on the CPU.

    Parameters
    ----------
    forward : callable
        ``forward(xb)``, or ``forward(xb, lengths_b)`` when ``lengths`` is given,
        returning a tensor whose first axis follows ``xb``'s.
    x : ndarray of shape (n, ...)
        Inputs; each chunk is copied to ``device`` (float16 chunks, e.g. of a
        memory-mapped file, as float32).
    chunk_size : int
        Rows per call of ``forward``.
    device : str or torch.device
        Where the chunks are computed.
    lengths : ndarray of shape (n,), default=None
        Per-row lengths, passed on as a CPU tensor.

    Returns
    -------
    out : ndarray
        The outputs as float32 (an empty float32 array for an empty ``x``).
    """
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), chunk_size):
            stop = start + chunk_size
            part = x[start:stop]
            dtype = np.float32 if part.dtype == np.float16 else None
            xb = torch.from_numpy(np.ascontiguousarray(part, dtype=dtype))
            args = [xb.to(device, non_blocking=True)]
            if lengths is not None:
                args.append(torch.from_numpy(lengths[start:stop]))
            out.append(forward(*args).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
