"""Source identities: the sub-families of each class and their parameter ranges.

An identity is one parameter set drawn once from its class (:func:`draw_source`),
like one particular dog, voice or blender; :func:`~._sources.render_source` renders
events from it. Sub-families make identities of one class really differ: small,
medium and large dogs; male, female and child voices; church bells, electronic
alarms, phone rings and beepers; glasses, cutlery and pots; sizzling, deep-frying
and crackling pans; blenders, food processors and hand mixers; taps, showers and
pouring; upright, canister and handheld vacuums; shavers, toothbrushes and trimmers;
meowing cats, kittens and purring.
"""

from __future__ import annotations

import numpy as np

# Sub-families per class: weight and parameter ranges of an identity.
_FAMILIES = {
    "Speech": {
        "male": (0.4, {"f0": (85, 150), "formant": (0.92, 1.05)}),
        "female": (0.4, {"f0": (165, 255), "formant": (1.08, 1.2)}),
        "child": (0.2, {"f0": (250, 380), "formant": (1.22, 1.38)}),
    },
    "Dog": {
        "small": (
            0.35,
            {"f0": (650, 1000), "bark": (0.05, 0.12), "period": (0.2, 0.45)},
        ),
        "medium": (
            0.35,
            {"f0": (380, 650), "bark": (0.08, 0.18), "period": (0.3, 0.7)},
        ),
        "large": (0.3, {"f0": (170, 380), "bark": (0.12, 0.3), "period": (0.5, 1.1)}),
    },
    "Cat": {
        "meow": (0.55, {"f0": (400, 650), "glide": (150, 450), "call": (0.5, 1.3)}),
        "kitten": (0.3, {"f0": (700, 1000), "glide": (200, 500), "call": (0.25, 0.6)}),
        "purr": (0.15, {"rate": (22, 30), "low": (80, 200), "high": (500, 1500)}),
    },
    "Alarm_bell_ringing": {
        "bell": (0.3, {"f": (500, 1600), "period": (0.12, 0.6), "decay": (4, 15)}),
        "two_tone": (0.25, {"f": (600, 1500), "f2": (1.2, 2.0), "period": (0.2, 0.8)}),
        "phone": (0.25, {"f": (400, 1100), "f2": (1.15, 1.6), "period": (0.8, 2.5)}),
        "beeper": (0.2, {"f": (2000, 4200), "period": (0.15, 0.6)}),
    },
    "Dishes": {
        "glass": (0.35, {"low": (1800, 3000), "high": (4000, 7000), "decay": (12, 35)}),
        "cutlery": (
            0.35,
            {"low": (3500, 5000), "high": (7000, 11000), "decay": (40, 90)},
        ),
        "pots": (0.3, {"low": (300, 700), "high": (900, 2200), "decay": (6, 18)}),
    },
    "Frying": {
        "sizzle": (
            0.4,
            {"cutoff": (2500, 4500), "crackle": (1e-4, 4e-4), "bubble": (0, 0.1)},
        ),
        "deep_fry": (
            0.3,
            {"cutoff": (1000, 2500), "crackle": (1e-4, 5e-4), "bubble": (0.3, 0.8)},
        ),
        "crackling": (
            0.3,
            {"cutoff": (1500, 3500), "crackle": (6e-4, 2e-3), "bubble": (0, 0.2)},
        ),
    },
    "Blender": {
        "blender": (
            0.45,
            {"f0": (150, 320), "whirr_high": (3000, 6000), "chop": (0, 0)},
        ),
        "food_processor": (
            0.3,
            {"f0": (90, 180), "whirr_high": (1500, 3500), "chop": (0.3, 0.7)},
        ),
        "hand_mixer": (
            0.25,
            {"f0": (220, 420), "whirr_high": (2000, 4000), "chop": (0, 0.15)},
        ),
    },
    "Running_water": {
        "tap": (0.45, {"low": (300, 900), "ratio": (3, 8), "bubble_rate": (15, 40)}),
        "shower": (0.3, {"low": (900, 2500), "ratio": (4, 9), "bubble_rate": (30, 60)}),
        "pouring": (0.25, {"low": (150, 400), "ratio": (2, 5), "bubble_rate": (5, 15)}),
    },
    "Vacuum_cleaner": {
        "upright": (
            0.4,
            {"cutoff": (2500, 5000), "whine": (1500, 3500), "hum": (100, 200)},
        ),
        "canister": (
            0.35,
            {"cutoff": (1500, 3500), "whine": (800, 2000), "hum": (80, 150)},
        ),
        "handheld": (
            0.25,
            {"cutoff": (4000, 9000), "whine": (3000, 7000), "hum": (200, 400)},
        ),
    },
    "Electric_shaver_toothbrush": {
        "shaver": (
            0.4,
            {"f0": (60, 130), "duty": (0.1, 0.3), "band_high": (4000, 9000)},
        ),
        "toothbrush": (
            0.35,
            {"f0": (200, 320), "duty": (0.3, 0.5), "band_high": (2000, 5000)},
        ),
        "trimmer": (
            0.25,
            {"f0": (100, 200), "duty": (0.05, 0.15), "band_high": (6000, 12000)},
        ),
    },
}
# Parameters shared by every sub-family of a class.
_COMMON = {
    "Speech": {
        "intonation": (0.08, 0.25),
        "rate": (3.5, 7),
        "f2_gain": (0.3, 0.9),
        "f2_low": (1000, 1600),
        "f2_high": (2000, 3000),
        "breath": (0.0, 0.3),
    },
    "Dog": {
        "fall": (0.1, 0.5),
        "rolloff": (0.5, 1.3),
        "noise": (0.2, 0.9),
        "irregular": (0.1, 0.4),
        "band_high": (3000, 7000),
    },
    "Cat": {
        "shape": (1.0, 2.5),
        "gap": (0.2, 0.8),
        "rolloff": (0.9, 1.6),
        "breath": (0.6, 1.4),
    },
    "Alarm_bell_ringing": {
        "detune": (-0.04, 0.04),
        "duty": (0.3, 0.7),
        "trill": (15, 25),
    },
    "Dishes": {"rate": (1.5, 6), "thud": (0.0, 0.5)},
    "Frying": {"swell_rate": (0.2, 1.0), "swell": (0.1, 0.4)},
    "Blender": {
        "width": (0.6, 1.0),
        "whirr": (0.3, 1.0),
        "wobble": (0.01, 0.06),
        "chop_rate": (3, 8),
    },
    "Running_water": {"depth": (0.3, 0.8), "gurgle": (0.0, 0.4), "res": (300, 900)},
    "Vacuum_cleaner": {
        "whine_gain": (0.1, 0.4),
        "hum_gain": (0.0, 0.3),
        "roar_low": (50, 400),
    },
    "Electric_shaver_toothbrush": {"am_rate": (1, 8), "am_depth": (0.1, 0.5)},
}


def _draw_kind(rng, kinds):
    """A sub-family and its parameters from ``{kind: (weight, {name: (lo, hi)})}``."""
    names = list(kinds)
    weights = np.array([kinds[k][0] for k in names], float)
    kind = names[rng.choice(len(names), p=weights / weights.sum())]
    params = {"kind": kind}
    for name, (low, high) in kinds[kind][1].items():
        params[name] = float(rng.uniform(low, high))
    return params


def draw_source(label, rng):
    """Draw one source identity of class ``label``: a dict of fixed parameters."""
    params = _draw_kind(rng, _FAMILIES[label])
    for name, (low, high) in _COMMON[label].items():
        params[name] = float(rng.uniform(low, high))
    if label == "Dishes":
        params["objects"] = int(rng.integers(2**32))
    return params
