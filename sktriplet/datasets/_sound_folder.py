"""A folder of single-event sounds, one sub-folder per class: a home-made data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils._files import atomic_folder
from ._dcase import DCASE2018_CLASSES
from ._scenes import LEVEL_DB, Clip, Event, draw_bank
from ._synth import _check_count, _render_clip


def _clip(rng, bank, label, name, seconds, snr_db):
    """One clip of ``seconds`` holding one event of ``label`` (most of its length)."""
    duration = float(rng.uniform(0.6, 0.95)) * seconds
    onset = round(float(rng.uniform(0, seconds - duration)), 3)
    event = Event(
        label,
        int(rng.integers(bank.n_sources)),
        False,
        onset,
        round(onset + duration, 3),
        float(rng.uniform(*snr_db)),
    )
    return Clip(
        "folder",
        name,
        seconds,
        int(rng.integers(2**63)),
        int(rng.integers(bank.n_rooms)),
        False,
        float(rng.uniform(*LEVEL_DB)),
        0.0,
        (event,),
    )


def make_sound_folder(
    root,
    *,
    classes=("Cat", "Dog", "Speech", "Alarm_bell_ringing"),
    n_per_class: int = 10,
    n_unlabeled: int = 20,
    seconds: tuple[float, float] = (1.0, 4.0),
    snr_db: tuple[float, float] = (10.0, 25.0),
    random_state: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write synthetic sounds laid out for :func:`load_audio_folder`.

    The layout of a small home-made data set: ``root/<class>/*.wav`` with one
    sound event of that class per file, and ``root/unlabeled/*.wav`` with one event
    of a random class each. Files have lengths drawn in ``seconds`` (44.1 kHz,
    16-bit), events come from the embedded synthetic sources of
    :func:`make_domestic_soundscapes` (several source identities per class, rooms,
    background noise). For trying the command line and the examples without data
    of your own.

    Parameters
    ----------
    root : str or path-like
        Folder to write (must be missing or empty unless ``overwrite``).
    classes : sequence of str, default=("Cat", "Dog", "Speech", "Alarm_bell_ringing")
        Classes among :data:`DCASE2018_CLASSES`.
    n_per_class : int, default=10
        Labelled files per class.
    n_unlabeled : int, default=20
        Files in ``unlabeled/``.
    seconds : (float, float), default=(1.0, 4.0)
        Range of file lengths.
    snr_db : (float, float), default=(10.0, 25.0)
        Range of event-to-background ratios.
    random_state : int, default=0
        Seed.
    overwrite : bool, default=False
        Replace a non-empty ``root``.

    Returns
    -------
    root : pathlib.Path

    Examples
    --------
    >>> from sktriplet.datasets import load_audio_folder, make_sound_folder
    >>> root = make_sound_folder("my_sounds", n_per_class=2)  # doctest: +SKIP
    >>> load_audio_folder(root).classes  # doctest: +SKIP
    array(['Alarm_bell_ringing', 'Cat', 'Dog', 'Speech'], dtype='<U18')
    """
    classes = [str(c) for c in classes]
    unknown = sorted(set(classes) - set(DCASE2018_CLASSES))
    if unknown or not classes:
        raise ValueError(
            f"classes must be a non-empty subset of {list(DCASE2018_CLASSES)}; "
            f"unknown: {unknown}."
        )
    n_per_class = _check_count("n_per_class", n_per_class, positive=True)
    n_unlabeled = _check_count("n_unlabeled", n_unlabeled)
    low, high = (float(s) for s in seconds)
    if not 0.2 <= low <= high:
        raise ValueError(
            f"seconds must be (low, high) with 0.2 <= low <= high; got {seconds}."
        )
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not overwrite:
        raise FileExistsError(
            f"{root} exists and is not empty; pass overwrite=True to replace it."
        )
    rng = np.random.default_rng(random_state)
    bank = draw_bank(rng, 3, 0, 3, 0)
    plan = [
        (label, f"{label.lower()}_{i:03d}.wav")
        for label in classes
        for i in range(n_per_class)
    ]
    plan += [(None, f"clip_{i:03d}.wav") for i in range(n_unlabeled)]
    with atomic_folder(root) as tmp:
        for label, name in plan:
            folder = tmp / (label or "unlabeled")
            folder.mkdir(parents=True, exist_ok=True)
            event_label = label or classes[int(rng.integers(len(classes)))]
            length = round(float(rng.uniform(low, high)), 2)
            clip = _clip(rng, bank, event_label, name, length, snr_db)
            _render_clip(
                clip,
                [bank.source(e) for e in clip.events],
                bank.rooms[clip.room],
                folder / name,
            )
    return root
