"""Synthetic sound sources, one family per domestic sound class.

Each generator takes a random generator, a length in samples and the sample rate, and
returns a float32 waveform of unit RMS. Families are plausible caricatures of the
DCASE 2018 Task 4 classes; several pairs are deliberately close (blender / shaver /
vacuum: motors; frying / running water: noise textures; cat / speech: voiced sounds)
so that the tagging task is not trivial.
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    return (x / rms).astype(np.float32)


def _bandpass(x, low, high, sr, order=4):
    nyq = sr / 2
    low, high = max(low, 20.0), min(high, nyq * 0.95)
    sos = signal.butter(order, [low / nyq, high / nyq], btype="band", output="sos")
    return signal.sosfilt(sos, x)


def _lowpass(x, cutoff, sr, order=4):
    sos = signal.butter(order, min(cutoff, sr * 0.45) / (sr / 2), output="sos")
    return signal.sosfilt(sos, x)


def _highpass(x, cutoff, sr, order=4):
    sos = signal.butter(order, cutoff / (sr / 2), btype="high", output="sos")
    return signal.sosfilt(sos, x)


def _harmonics(f0, sr, n_harm, rolloff, rng, jitter=0.0):
    """Sum of harmonics of a (time-varying) fundamental ``f0`` (array, Hz)."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros_like(f0)
    for k in range(1, n_harm + 1):
        if np.max(f0) * k > sr * 0.45:
            break
        amp = k ** (-rolloff) * (1 + jitter * rng.standard_normal())
        out += amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


def _smooth_noise(n, rate, sr, rng):
    """Slowly varying random curve in [-1, 1] with about ``rate`` changes/second."""
    n_knots = max(int(n / sr * rate) + 2, 2)
    knots = rng.uniform(-1, 1, n_knots)
    return np.interp(np.linspace(0, n_knots - 1, n), np.arange(n_knots), knots)


def _bursts(n, sr, rng, period, length, jitter=0.2):
    """An envelope of short bursts about every ``period`` seconds."""
    env = np.zeros(n)
    t = rng.uniform(0, period * 0.5)
    while t < n / sr:
        dur = length * rng.uniform(0.7, 1.3)
        a, b = int(t * sr), min(int((t + dur) * sr), n)
        if b > a:
            w = np.hanning(2 * (b - a))[: b - a] ** 0.3 * np.exp(
                -np.linspace(0, 3, b - a)
            )
            env[a:b] = np.maximum(env[a:b], w)
        t += period * rng.uniform(1 - jitter, 1 + jitter)
    return env


def speech(rng, n, sr):
    """Voiced harmonic babble: syllables with intonation and moving formants."""
    f0 = rng.uniform(95, 240) * (1 + 0.15 * _smooth_noise(n, 3, sr, rng))
    # A sawtooth carries all harmonics with a 1/k roll-off, like a glottal source.
    voiced = signal.sawtooth(2 * np.pi * np.cumsum(f0) / sr)
    f1 = 500 + 300 * _smooth_noise(n, 6, sr, rng)
    # Two formant bands chosen per utterance; the moving F1 colours the harmonics.
    out = _bandpass(voiced, 300, 900, sr, 2) * (1 + 0.5 * f1 / 800)
    out += 0.6 * _bandpass(
        voiced, rng.uniform(1000, 1600), rng.uniform(2000, 3000), sr, 2
    )
    syll = np.clip(_smooth_noise(n, rng.uniform(4, 7), sr, rng) * 2.5, 0, 1)
    return _unit_rms(out * syll + 0.02 * rng.standard_normal(n) * syll)


def dog(rng, n, sr):
    """Periodic barks: short, loud harmonic bursts with a falling pitch."""
    env = _bursts(n, sr, rng, rng.uniform(0.35, 0.8), rng.uniform(0.08, 0.2))
    f0 = rng.uniform(350, 750) * (1 - 0.3 * np.mod(np.arange(n) / sr, 0.5))
    tone = _harmonics(f0, sr, 8, 0.8, rng) + 0.5 * rng.standard_normal(n)
    return _unit_rms(_bandpass(tone, 200, 5000, sr) * env)


def cat(rng, n, sr):
    """Meows: tonal calls with a rise-fall pitch glide."""
    out = np.zeros(n)
    t = 0
    while t < n:
        dur = int(rng.uniform(0.4, 1.2) * sr)
        seg = min(dur, n - t)
        u = np.linspace(0, 1, dur)[:seg]
        f0 = rng.uniform(450, 650) + rng.uniform(200, 450) * np.sin(np.pi * u) ** 1.5
        tone = _harmonics(f0, sr, 10, 1.3, rng)
        out[t : t + seg] = tone * np.sin(np.pi * u) ** 0.7
        t += seg + int(rng.uniform(0.2, 0.8) * sr)
    return _unit_rms(_bandpass(out, 300, 6000, sr, 2))


def alarm_bell(rng, n, sr):
    """Ringing bells (decaying inharmonic partials) or two-tone electronic alarms."""
    t = np.arange(n) / sr
    if rng.random() < 0.5:
        base = rng.uniform(600, 1500)
        partials = base * np.array([1.0, 2.76, 5.4, 8.93])
        period = rng.uniform(0.15, 0.6)
        decay = np.exp(-np.mod(t, period) * rng.uniform(5, 15))
        out = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate(partials))
        return _unit_rms(out * decay)
    f_a, f_b = rng.uniform(700, 2500), rng.uniform(700, 2500)
    period = rng.uniform(0.2, 0.8)
    f = np.where(np.mod(t, period) < period / 2, f_a, f_b)
    out = np.sign(np.sin(2 * np.pi * np.cumsum(f) / sr)) * 0.5
    return _unit_rms(_lowpass(out, 8000, sr))


def dishes(rng, n, sr):
    """Clinking impacts: sparse, sharp, high-pitched decaying partials."""
    out = np.zeros(n)
    n_hits = max(1, int(n / sr * rng.uniform(2, 7)))
    for start in rng.integers(0, n, n_hits):
        length = min(int(rng.uniform(0.03, 0.25) * sr), n - start)
        u = np.arange(length) / sr
        freqs = rng.uniform(1800, 7000, 3)
        hit = sum(np.sin(2 * np.pi * f * u) for f in freqs) * np.exp(
            -u * rng.uniform(20, 60)
        )
        out[start : start + length] += hit * rng.uniform(0.3, 1.0)
    return _unit_rms(out + 0.01 * rng.standard_normal(n))


def frying(rng, n, sr):
    """Broadband sizzle: high-passed noise with crackles and slow swells."""
    noise = _highpass(rng.standard_normal(n), rng.uniform(1500, 3500), sr)
    crackle = (rng.random(n) < rng.uniform(2e-4, 1e-3)) * rng.standard_normal(n) * 8
    crackle = _highpass(crackle, 1000, sr, 2)
    swell = 1 + 0.3 * _smooth_noise(n, 0.5, sr, rng)
    return _unit_rms((noise + crackle) * swell)


def blender(rng, n, sr):
    """Motor hum with harmonics and a whirring broadband component."""
    f0 = rng.uniform(90, 320) * (1 + 0.03 * _smooth_noise(n, 2, sr, rng))
    hum = signal.sawtooth(2 * np.pi * np.cumsum(f0) / sr, width=rng.uniform(0.6, 1.0))
    whirr = _bandpass(rng.standard_normal(n), 300, rng.uniform(2000, 5000), sr)
    return _unit_rms(_unit_rms(hum) + rng.uniform(0.3, 1.0) * _unit_rms(whirr))


def running_water(rng, n, sr):
    """Filtered noise with fast random bubbling modulation."""
    low = rng.uniform(300, 900)
    noise = _bandpass(rng.standard_normal(n), low, low * rng.uniform(3, 8), sr)
    bubbles = 1 + 0.6 * _smooth_noise(n, rng.uniform(15, 40), sr, rng)
    return _unit_rms(noise * bubbles)


def vacuum_cleaner(rng, n, sr):
    """Roar: loud low-passed broadband noise with a steady high whine."""
    roar = _lowpass(rng.standard_normal(n), rng.uniform(2500, 6000), sr, 2)
    t = np.arange(n) / sr
    whine = np.sin(2 * np.pi * rng.uniform(1500, 4500) * t)
    return _unit_rms(_unit_rms(roar) + rng.uniform(0.1, 0.4) * whine)


def electric_shaver(rng, n, sr):
    """Buzzing: a pulse wave with rich harmonics, slightly amplitude-modulated."""
    f0 = rng.uniform(60, 240)
    t = np.arange(n) / sr
    pulse = (np.mod(t * f0, 1.0) < rng.uniform(0.1, 0.3)).astype(float) - 0.2
    buzz = _bandpass(pulse, 100, rng.uniform(4000, 9000), sr)
    am = 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(2, 8) * t)
    return _unit_rms(buzz * am)


#: Generator per DCASE class name.
SOURCES = {
    "Alarm_bell_ringing": alarm_bell,
    "Blender": blender,
    "Cat": cat,
    "Dishes": dishes,
    "Dog": dog,
    "Electric_shaver_toothbrush": electric_shaver,
    "Frying": frying,
    "Running_water": running_water,
    "Speech": speech,
    "Vacuum_cleaner": vacuum_cleaner,
}


def background(rng, n, sr):
    """Room background: coloured noise with a random tilt plus a faint mains hum."""
    white = rng.standard_normal(n)
    # A first-order leaky integrator tilts white noise towards pink/brown.
    tilt = rng.uniform(0.8, 0.995)
    coloured = signal.lfilter([1.0], [1.0, -tilt], white)
    coloured = _lowpass(coloured, rng.uniform(3000, 12000), sr, 2)
    t = np.arange(n) / sr
    hum = rng.uniform(0, 0.3) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t)
    return _unit_rms(_unit_rms(coloured) + hum)
