"""Rooms: a finite set of background ambiences, each with its own reverberation.

A room identity (:func:`draw_room`) fixes a coloured room tone, a mains hum, one
low-level texture (none, ventilation, distant traffic or a fridge) and a
reverberation time. :func:`room_tone` renders its unit-RMS background for one clip
and :func:`reverberate` places the clip's events in it; two clips of one room differ
only in their noise and the fine structure of the reverberation.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from ._sources import TWO_PI, _bandpass, _lowpass, _smooth_noise, _unit_rms

_TEXTURES = ("none", "ventilation", "traffic", "fridge")


def draw_room(rng):
    """Draw one room identity: a dict of fixed parameters."""
    return {
        "tilt": float(rng.uniform(0.8, 0.995)),
        "cutoff": float(rng.uniform(3000, 12000)),
        "mains": float(rng.choice([50.0, 60.0])),
        "hum": float(rng.uniform(0, 0.3)),
        "hum3": float(rng.uniform(0, 0.5)),
        "texture": str(rng.choice(_TEXTURES)),
        "texture_gain": float(rng.uniform(0.3, 1.0)),
        "texture_f": float(rng.uniform(60, 200)),
        "rt60": float(rng.uniform(0.15, 0.8)),
        "wet": float(rng.uniform(0.1, 0.5)),
        "damping": float(rng.uniform(2500, 8000)),
    }


def _periodic(f, n, sr, phase, amplitudes):
    """Harmonics of ``f`` (rounded to a whole period in samples), tiled to ``n``."""
    period = max(int(round(sr / f)), 2)
    u = TWO_PI * np.arange(period) / period
    cycle = sum(a * np.sin(k * (u + phase)) for k, a in enumerate(amplitudes, 1))
    return np.resize(cycle, n)


def _texture(p, rng, n, sr):
    kind, f = p["texture"], p["texture_f"]
    if kind == "ventilation":
        air = _bandpass(rng.standard_normal(n), 100, 900, sr, 2)
        blades = _periodic(f, n, sr, rng.uniform(0, TWO_PI), (0.3,))
        return _unit_rms(air) + blades * (1 + 0.3 * _smooth_noise(n, 0.5, sr, rng))
    if kind == "traffic":
        rumble = signal.lfilter([1.0], [1.0, -0.995], rng.standard_normal(n))
        rumble = _lowpass(rumble, 400, sr, 2)
        return _unit_rms(rumble) * (1 + 0.6 * _smooth_noise(n, 0.15, sr, rng))
    if kind == "fridge":
        return _periodic(f, n, sr, rng.uniform(0, TWO_PI), (1, 1 / 2, 1 / 3))
    return np.zeros(n)


def room_tone(p, rng, n, sr):
    """Unit-RMS background of room ``p``: coloured noise, hum and texture."""
    # A first-order leaky integrator tilts white noise towards pink/brown.
    coloured = signal.lfilter([1.0], [1.0, -p["tilt"]], rng.standard_normal(n))
    coloured = _unit_rms(_lowpass(coloured, p["cutoff"], sr, 2))
    hum = _periodic(p["mains"], n, sr, rng.uniform(0, TWO_PI), (1, 0, p["hum3"]))
    out = coloured + p["hum"] * hum
    return _unit_rms(out + p["texture_gain"] * _texture(p, rng, n, sr))


def reverberate(x, p, rng, sr):
    """``x`` plus its reverberation in room ``p`` (same length as ``x``)."""
    n_ir = int(min(p["rt60"], 1.0) * sr)
    # Exponentially decaying noise (60 dB over rt60), duller as it decays.
    decay = np.exp(-6.9 * np.arange(n_ir) / n_ir)
    ir = _lowpass(rng.standard_normal(n_ir), p["damping"], sr, 2) * decay
    ir *= p["wet"] / (np.sqrt(np.sum(ir**2)) + 1e-12)
    tail = signal.fftconvolve(x.astype(np.float32), ir.astype(np.float32))
    return x + tail[: len(x)]
