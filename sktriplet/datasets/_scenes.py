"""What each synthetic clip holds: the source bank and the events of every clip.

The plan is drawn in one process from the seed alone, before any audio is rendered,
so the output does not depend on the number of workers; the tests read it to check
which source identities each subset uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._dcase import DCASE2018_CLASSES
from ._families import draw_source
from ._rooms import draw_room

# Clip counts per class in DCASE 2018 Task 4's weakly labelled training set: the
# synthetic classes are drawn with the same imbalance.
CLASS_WEIGHTS = np.array([205, 134, 173, 184, 214, 103, 171, 343, 550, 167], float)
CLASS_WEIGHTS /= CLASS_WEIGHTS.sum()

# P(1, 2, 3, 4 classes in a clip): 1.45 on average, as the 2,244 labels of the
# 1,578 clips of DCASE 2018's weak set.
N_CLASSES_P = (0.65, 0.27, 0.06, 0.02)

_LONG = (4.0, 0.6, 0.35, 1.0)
_SHORT = (1.0, 0.7, 0.0, 0.25)
#: Event duration per class: (median s, log-normal sigma, share lasting the whole
#: clip, shortest s). Stationary appliances last long, often the whole clip.
DURATIONS = {
    "Alarm_bell_ringing": (1.5, 0.7, 0.0, 0.3),
    "Blender": _LONG,
    "Cat": _SHORT,
    "Dishes": _SHORT,
    "Dog": _SHORT,
    "Electric_shaver_toothbrush": _LONG,
    "Frying": _LONG,
    "Running_water": _LONG,
    "Speech": (2.5, 0.6, 0.05, 0.5),
    "Vacuum_cleaner": _LONG,
}
# Background level (dBFS RMS) and the share of clips recorded through a band-limited
# device (a phone, a codec) with their cut-off range in Hz.
LEVEL_DB = (-45.0, -30.0)
BAND_LIMITED_SHARE = 0.3
BANDWIDTH_HZ = (7000.0, 16000.0)
STRONG_SUBSETS = ("test", "eval")


@dataclass(frozen=True)
class Event:
    """One event: its class, source identity, timing and event-to-background SNR."""

    label: str
    source: int
    heldout: bool
    onset: float
    offset: float
    snr_db: float

    @property
    def source_id(self) -> str:
        return f"{self.label}#{self.source}"


@dataclass(frozen=True)
class Clip:
    """One clip: where it goes, its seed, its room, level, bandwidth and events."""

    subset: str
    name: str
    seconds: float
    seed: int
    room: int
    room_heldout: bool
    level_db: float
    bandwidth: float
    events: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class Bank:
    """Source identities per class and room identities; held-out ones come last."""

    sources: dict
    rooms: list
    n_sources: int
    n_rooms: int

    def source(self, event):
        return self.sources[event.label][event.source]


def draw_bank(rng, n_sources, n_heldout_sources, n_rooms, n_heldout_rooms):
    """Every class's identities (training first, then held out) and the rooms."""
    sources = {
        label: [draw_source(label, rng) for _ in range(n_sources + n_heldout_sources)]
        for label in DCASE2018_CLASSES
    }
    rooms = [draw_room(rng) for _ in range(n_rooms + n_heldout_rooms)]
    return Bank(sources, rooms, n_sources, n_rooms)


def _pick(rng, n_train, n_total, use_heldout):
    """An identity index: a training one, or a held-out one when asked and any."""
    if use_heldout and n_total > n_train:
        return int(rng.integers(n_train, n_total)), True
    return int(rng.integers(n_train)), False


def _duration(rng, label, seconds):
    median, sigma, whole, shortest = DURATIONS[label]
    if rng.random() < whole:
        return seconds
    return float(np.clip(rng.lognormal(np.log(median), sigma), shortest, seconds))


def draw_events(rng, bank, seconds, heldout_share, snr_db):
    """1-4 events of distinct classes, placed independently (they may overlap)."""
    n_events = rng.choice(len(N_CLASSES_P), p=N_CLASSES_P) + 1
    classes = rng.choice(len(CLASS_WEIGHTS), n_events, replace=False, p=CLASS_WEIGHTS)
    events = []
    for c in classes:
        label = DCASE2018_CLASSES[c]
        n_total = len(bank.sources[label])
        source, heldout = _pick(
            rng, bank.n_sources, n_total, rng.random() < heldout_share
        )
        dur = _duration(rng, label, seconds)
        onset = round(float(rng.uniform(0, seconds - dur)), 3)
        offset = min(round(onset + dur, 3), seconds)
        snr = float(rng.uniform(*snr_db))
        events.append(Event(label, source, heldout, onset, offset, snr))
    return tuple(events)


def _draw_clip(rng, bank, subset, index, short_clip_share, heldout_share, snr_db):
    seconds = 10.0
    if rng.random() < short_clip_share:
        seconds = float(rng.integers(5, 10))
    name = f"Ysynth{subset[:2]}{index:05d}_0.000_{seconds:.3f}.wav"
    seed = int(rng.integers(2**63))
    room, room_heldout = _pick(
        rng, bank.n_rooms, len(bank.rooms), rng.random() < heldout_share
    )
    level = float(rng.uniform(*LEVEL_DB))
    bandwidth = 0.0
    if rng.random() < BAND_LIMITED_SHARE:
        bandwidth = float(np.exp(rng.uniform(*np.log(BANDWIDTH_HZ))))
    events = draw_events(rng, bank, seconds, heldout_share, snr_db)
    return Clip(
        subset, name, seconds, seed, room, room_heldout, level, bandwidth, events
    )


def plan_soundscapes(
    counts,
    *,
    short_clip_share,
    n_sources,
    n_heldout_sources,
    heldout_share,
    snr_db,
    n_rooms,
    n_heldout_rooms,
    random_state,
):
    """The bank and every clip (in ``counts`` order): the whole data set but audio.

    ``counts`` maps subset names to clip counts. Held-out identities (sources and
    rooms) appear only in the ``test`` and ``eval`` subsets, where each event (and
    each clip's room) is held out with probability ``heldout_share``.
    """
    clip_rng = np.random.default_rng(random_state)
    # The bank has its own stream: it depends on the seed and the bank sizes only,
    # not on the clip counts.
    bank_rng = np.random.default_rng(int(clip_rng.integers(2**63)))
    bank = draw_bank(bank_rng, n_sources, n_heldout_sources, n_rooms, n_heldout_rooms)
    clips = []
    for subset, count in counts.items():
        share = heldout_share if subset in STRONG_SUBSETS else 0.0
        for i in range(count):
            clips.append(
                _draw_clip(clip_rng, bank, subset, i, short_clip_share, share, snr_db)
            )
    return bank, clips
