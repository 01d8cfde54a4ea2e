"""Synthetic sound sources: one renderer per class, driven by a source identity.

:func:`render_source` turns an identity (a parameter set from
:func:`~._families.draw_source`: one particular dog, voice, blender...) into one
event. Two events of one identity differ only by a small jitter of its parameters
(a few percent) and by their fine structure (noise, the timing of barks, syllables
and hits); two identities of one class can differ a lot. Every event has unit RMS
and is never silent, however short.

Several classes are deliberately close (blender / shaver / vacuum: motors; frying /
running water: noise textures; cat / speech: voiced sounds) so that the tagging task
is not trivial.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

TWO_PI = 2 * np.pi


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    return (x / rms).astype(np.float32)


def _sosfilt(sos, x):
    # The tiny offset keeps filter states out of the denormal range in silent
    # stretches (gaps between barks), where they make sosfilt 10-50x slower.
    return signal.sosfilt(sos, x + 1e-9)


def _bandpass(x, low, high, sr, order=4):
    nyq = sr / 2
    low, high = max(low, 20.0), min(high, nyq * 0.95)
    sos = signal.butter(order, [low / nyq, high / nyq], btype="band", output="sos")
    return _sosfilt(sos, x)


def _lowpass(x, cutoff, sr, order=4):
    sos = signal.butter(order, min(cutoff, sr * 0.45) / (sr / 2), output="sos")
    return _sosfilt(sos, x)


def _highpass(x, cutoff, sr, order=4):
    sos = signal.butter(order, cutoff / (sr / 2), btype="high", output="sos")
    return _sosfilt(sos, x)


def _jit(rng, value, rel):
    """``value`` moved by a per-event relative jitter of at most ``rel``."""
    return value * (1.0 + rel * rng.uniform(-1.0, 1.0))


def _harmonics(f0, sr, n_harm, rolloff, rng):
    """Sum of harmonics of a (time-varying) fundamental ``f0`` (array, Hz)."""
    phase = TWO_PI * np.cumsum(f0) / sr
    out = np.zeros_like(f0)
    for k in range(1, n_harm + 1):
        if np.max(f0) * k > sr * 0.45:
            break
        out += k ** (-rolloff) * np.sin(k * phase + rng.uniform(0, TWO_PI))
    return out


def _smooth_noise(n, rate, sr, rng, floor=None):
    """Slowly varying random curve in [-1, 1] with about ``rate`` changes/second.

    With ``floor``, the highest knot is raised to at least ``floor`` so that an
    envelope clipped at 0 is never silent, however short.
    """
    n_knots = max(int(n / sr * rate) + 2, 2)
    knots = rng.uniform(-1, 1, n_knots)
    if floor is not None:
        top = int(np.argmax(knots[: max(n_knots - 1, 1)]))
        knots[top] = max(knots[top], floor)
    return np.interp(np.linspace(0, n_knots - 1, n), np.arange(n_knots), knots)


def _onsets(n, sr, rng, period, irregular):
    """Sample indices of repeated onsets about every ``period`` s; the first early."""
    t = rng.uniform(0, min(0.3 * period, 0.2 * n / sr))
    out = []
    while t < n / sr:
        out.append(int(t * sr))
        t += period * rng.uniform(1 - irregular, 1 + irregular)
    return out


def _speech(p, rng, n, sr):
    """Voiced harmonic babble: syllables with intonation and moving formants."""
    f0 = _jit(rng, p["f0"], 0.04) * (1 + p["intonation"] * _smooth_noise(n, 3, sr, rng))
    # A sawtooth carries all harmonics with a 1/k roll-off, like a glottal source.
    voiced = signal.sawtooth(TWO_PI * np.cumsum(f0) / sr)
    s = p["formant"]
    f1 = _smooth_noise(n, 6, sr, rng)
    out = _bandpass(voiced, 300 * s, 900 * s, sr, 2) * (1 + 0.4 * f1)
    out += p["f2_gain"] * _bandpass(voiced, p["f2_low"] * s, p["f2_high"] * s, sr, 2)
    out += p["breath"] * _highpass(rng.standard_normal(n), 1500, sr, 2)
    syll = np.clip(
        _smooth_noise(n, _jit(rng, p["rate"], 0.1), sr, rng, 0.6) * 2.5, 0, 1
    )
    return out * syll


def _dog(p, rng, n, sr):
    """Barks: short harmonic bursts with a falling pitch, in irregular series."""
    out = np.zeros(n)
    f0, bark = _jit(rng, p["f0"], 0.04), p["bark"]
    for start in _onsets(n, sr, rng, _jit(rng, p["period"], 0.1), p["irregular"]):
        length = min(int(_jit(rng, bark, 0.3) * sr), n - start)
        if length < 2:
            continue
        u = np.arange(length) / length
        pitch = _jit(rng, f0, 0.03) * (1 - p["fall"] * u)
        tone = _harmonics(pitch, sr, 8, p["rolloff"], rng)
        tone += p["noise"] * rng.standard_normal(length)
        env = np.hanning(2 * length)[:length] ** 0.3 * np.exp(-3 * u)
        out[start : start + length] += tone * env
    return _bandpass(out, 150, p["band_high"], sr)


def _cat(p, rng, n, sr):
    """Meows (rise-fall pitch glides) or purring (pulsed low noise)."""
    if p["kind"] == "purr":
        t = np.arange(n) / sr
        pulses = (0.5 + 0.5 * np.cos(TWO_PI * _jit(rng, p["rate"], 0.05) * t)) ** 4
        breath = 1 + 0.5 * np.sin(TWO_PI * t / p["breath"] + rng.uniform(0, TWO_PI))
        noise = _bandpass(rng.standard_normal(n), p["low"], p["high"], sr)
        return noise * pulses * breath
    out, t = np.zeros(n), 0
    while t < n:
        dur = max(int(_jit(rng, p["call"], 0.3) * sr), 2)
        seg = min(dur, n - t)
        u = np.linspace(0, 1, dur)[:seg]
        glide = _jit(rng, p["glide"], 0.2) * np.sin(np.pi * u) ** p["shape"]
        tone = _harmonics(_jit(rng, p["f0"], 0.05) + glide, sr, 10, p["rolloff"], rng)
        out[t : t + seg] = tone * (np.sin(np.pi * u) ** 0.7 + 1e-3)
        t += seg + int(_jit(rng, p["gap"], 0.4) * sr)
    return _bandpass(out, 300, 6000, sr, 2)


def _alarm(p, rng, n, sr):
    """Ringing bells, two-tone electronic alarms, phone rings or beepers."""
    t = np.arange(n) / sr + rng.uniform(0, p["period"] * 0.2)
    f, period = _jit(rng, p["f"], 0.01), _jit(rng, p["period"], 0.05)
    kind = p["kind"]
    if kind == "bell":
        ratios = np.array([1.0, 2.76, 5.4, 8.93]) * (1 + p["detune"] * np.arange(4))
        decay = np.exp(-np.mod(t, period) * p["decay"])
        out = sum(np.sin(TWO_PI * f * r * t) / (i + 1) for i, r in enumerate(ratios))
        return out * decay
    if kind == "two_tone":
        freq = np.where(np.mod(t, period) < period / 2, f, f * p["f2"])
        out = np.sign(np.sin(TWO_PI * np.cumsum(freq) / sr))
        return _lowpass(out, 8000, sr)
    if kind == "phone":
        tone = np.sin(TWO_PI * f * t) + np.sin(TWO_PI * f * p["f2"] * t)
        trill = np.sin(TWO_PI * p["trill"] * t) > 0
        gate = np.mod(t, period) < period * p["duty"]
        return _bandpass(tone * trill * gate, 300, 3400, sr, 2)
    gate = np.mod(t, period) < period * p["duty"]
    return np.sin(TWO_PI * f * t) * gate


def _dishes(p, rng, n, sr):
    """Clinking impacts: sparse hits on a fixed set of resonant objects."""
    # The identity's objects: six modal frequencies fixed by the identity's seed.
    modes = np.random.default_rng(p["objects"]).uniform(p["low"], p["high"], 6)
    out = np.zeros(n)
    n_hits = max(1, int(n / sr * _jit(rng, p["rate"], 0.2)))
    starts = rng.integers(0, n, n_hits)
    starts[0] = rng.integers(0, max(n // 5, 1))
    for start in starts:
        decay = _jit(rng, p["decay"], 0.2)
        length = min(int(5 / decay * sr), n - start)
        u = np.arange(length) / sr
        picked = modes[rng.choice(6, 3, replace=False)] * (
            1 + 0.02 * rng.standard_normal(3)
        )
        hit = sum(np.sin(TWO_PI * f * u + rng.uniform(0, TWO_PI)) for f in picked)
        hit = hit * np.exp(-u * decay)
        thud = min(int(0.02 * sr), length)
        hit[:thud] += (
            p["thud"] * 3 * rng.standard_normal(thud) * np.exp(-np.arange(thud) / 200)
        )
        out[start : start + length] += hit * rng.uniform(0.3, 1.0)
    return out + 0.01 * rng.standard_normal(n)


def _frying(p, rng, n, sr):
    """Broadband sizzle with crackles, swells and, when deep-frying, bubbling."""
    noise = _unit_rms(
        _highpass(rng.standard_normal(n), _jit(rng, p["cutoff"], 0.05), sr)
    )
    crackle = (rng.random(n) < p["crackle"]) * rng.standard_normal(n) * 8
    out = noise + _highpass(crackle, 1000, sr, 2)
    if p["bubble"] > 0:
        bubbles = 1 + 0.8 * _smooth_noise(n, 20, sr, rng)
        out += (
            p["bubble"]
            * _unit_rms(_bandpass(rng.standard_normal(n), 200, 1200, sr, 2))
            * bubbles
        )
    return out * (1 + p["swell"] * _smooth_noise(n, p["swell_rate"], sr, rng))


def _blender(p, rng, n, sr):
    """Motor hum with harmonics, a whirring band and, for food processors, chopping."""
    f0 = _jit(rng, p["f0"], 0.03) * (1 + p["wobble"] * _smooth_noise(n, 2, sr, rng))
    hum = signal.sawtooth(TWO_PI * np.cumsum(f0) / sr, width=p["width"])
    whirr = _bandpass(rng.standard_normal(n), 300, p["whirr_high"], sr)
    out = _unit_rms(hum) + p["whirr"] * _unit_rms(whirr)
    if p["chop"] > 0:
        t = np.arange(n) / sr
        out *= 1 - p["chop"] * (0.5 + 0.5 * np.sin(TWO_PI * p["chop_rate"] * t))
    return out


def _running_water(p, rng, n, sr):
    """Band noise with random bubbling and, when pouring, a rising resonance."""
    low = _jit(rng, p["low"], 0.05)
    noise = _bandpass(rng.standard_normal(n), low, low * p["ratio"], sr)
    rate = _jit(rng, p["bubble_rate"], 0.1)
    out = _unit_rms(noise) * (1 + p["depth"] * _smooth_noise(n, rate, sr, rng))
    if p["gurgle"] > 0:
        res = p["res"] * (1 + 0.5 * np.linspace(0, 1, n))
        tone = np.sin(TWO_PI * np.cumsum(res) / sr) * np.clip(
            _smooth_noise(n, 12, sr, rng), 0, 1
        )
        out += p["gurgle"] * tone
    return out


def _vacuum(p, rng, n, sr):
    """Roar: band-limited broadband noise with a steady whine and a motor hum."""
    roar = _bandpass(
        rng.standard_normal(n), p["roar_low"], _jit(rng, p["cutoff"], 0.05), sr, 2
    )
    t = np.arange(n) / sr
    whine = np.sin(TWO_PI * _jit(rng, p["whine"], 0.02) * t)
    hum = signal.sawtooth(TWO_PI * _jit(rng, p["hum"], 0.02) * t)
    return _unit_rms(roar) + p["whine_gain"] * whine + p["hum_gain"] * hum


def _shaver(p, rng, n, sr):
    """Buzzing: a pulse wave with rich harmonics, amplitude-modulated by strokes."""
    f0 = _jit(rng, p["f0"], 0.03)
    t = np.arange(n) / sr
    pulse = (np.mod(t * f0, 1.0) < p["duty"]).astype(float) - p["duty"]
    buzz = _bandpass(pulse, 100, p["band_high"], sr)
    am = 1 + p["am_depth"] * np.sin(
        TWO_PI * _jit(rng, p["am_rate"], 0.1) * t + rng.uniform(0, TWO_PI)
    )
    return buzz * am


_RENDER = {
    "Alarm_bell_ringing": _alarm,
    "Blender": _blender,
    "Cat": _cat,
    "Dishes": _dishes,
    "Dog": _dog,
    "Electric_shaver_toothbrush": _shaver,
    "Frying": _frying,
    "Running_water": _running_water,
    "Speech": _speech,
    "Vacuum_cleaner": _vacuum,
}


def render_source(label, params, rng, n, sr):
    """One unit-RMS event of ``n`` samples from the identity ``params``."""
    return _unit_rms(_RENDER[label](params, rng, n, sr))
