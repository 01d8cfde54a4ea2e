"""The embedded default data: synthetic domestic soundscapes, DCASE 2018 layout."""

from __future__ import annotations

import os
import shutil
from numbers import Integral
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ..utils._progress import progress
from ._dcase import DCASE2018_CLASSES, SUBSETS
from ._sources import SOURCES, background

# Clip counts per class in DCASE 2018 Task 4's weakly labelled training set: the
# synthetic classes are drawn with the same imbalance.
CLASS_WEIGHTS = np.array([205, 134, 173, 184, 214, 103, 171, 343, 550, 167], float)
CLASS_WEIGHTS /= CLASS_WEIGHTS.sum()

SR = 44100
CLIP_SECONDS = 10.0


def _draw_events(rng, clip_seconds):
    """1-3 events: (class, onset, offset, snr_db), classes without repetition."""
    n_events = rng.choice([1, 2, 3], p=[0.45, 0.35, 0.20])
    classes = rng.choice(
        len(DCASE2018_CLASSES), n_events, replace=False, p=CLASS_WEIGHTS
    )
    events = []
    for c in classes:
        dur = float(np.clip(rng.lognormal(np.log(3.0), 0.6), 0.5, clip_seconds))
        onset = float(rng.uniform(0, clip_seconds - dur))
        snr = float(rng.uniform(-6.0, 12.0))
        events.append((int(c), round(onset, 3), round(onset + dur, 3), snr))
    return events


def _render_clip(seed, path, clip_seconds):
    """Synthesise one clip, write it as 16-bit PCM and return its events."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(round(clip_seconds * SR))
    events = _draw_events(rng, clip_seconds)
    bg_level = 10 ** (rng.uniform(-40, -25) / 20)
    mix = background(rng, n, SR) * bg_level
    for c, onset, offset, snr in events:
        a, b = int(onset * SR), min(int(offset * SR), n)
        source = SOURCES[DCASE2018_CLASSES[c]](rng, b - a, SR)
        ramp = min(int(0.02 * SR), (b - a) // 2)
        fade = np.ones(b - a, np.float32)
        fade[:ramp] = np.linspace(0, 1, ramp)
        fade[b - a - ramp :] = np.linspace(1, 0, ramp)
        mix[a:b] += source * fade * bg_level * 10 ** (snr / 20)
    peak = np.abs(mix).max()
    if peak > 0.99:
        mix *= 0.99 / peak
    sf.write(path, mix.astype(np.float32), SR, subtype="PCM_16")
    return [(DCASE2018_CLASSES[c], onset, offset) for c, onset, offset, _ in events]


def _check_count(name, value):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)


def make_domestic_soundscapes(
    root,
    *,
    n_labeled: int = 60,
    n_unlabeled: int = 540,
    n_test: int = 60,
    n_eval: int = 100,
    short_clip_share: float = 0.05,
    overwrite: bool = False,
    n_jobs: int | None = None,
    verbose: int = 0,
    random_state: int | None = 0,
) -> Path:
    """Synthesise the embedded default data set in the DCASE 2018 Task 4 layout.

    10-second, 44.1 kHz mono clips of domestic soundscapes: 1-3 events from 10 sound
    classes (the DCASE 2018 Task 4 classes, each rendered by its own synthetic source
    family: voiced harmonic babble, periodic barks, meows with pitch glides, ringing
    bells and alarms, clinking impacts, broadband sizzle, motor hum, running-water
    noise, vacuum roar, buzzing shaver) with random onsets, durations and SNRs
    (-6 to 12 dB) over a random room background, class frequencies as unbalanced as
    DCASE's. A few clips are shorter than 10 s, as in the real data.

    The folder is written exactly like the real data set (wav files plus
    ``weak.csv``, ``unlabel_in_domain.csv``, and ``test.csv`` / ``eval.csv`` with
    strong labels), so :func:`load_dcase2018_task4` reads it as it reads the real
    one. Labelled clips are scarce by default (1:9 against unlabelled, as in the
    paper). Everything is written to a temporary sibling folder first and moved into
    place at the end: a failure leaves nothing partial at ``root``.

    Parameters
    ----------
    root : str or path-like
        Output folder (``root/dataset/...``). Must not exist or be empty unless
        ``overwrite``.
    n_labeled : int, default=60
        Weakly labelled training clips.
    n_unlabeled : int, default=540
        Unlabelled in-domain training clips.
    n_test : int, default=60
        Strongly labelled test clips (model selection).
    n_eval : int, default=100
        Strongly labelled evaluation clips.
    short_clip_share : float, default=0.05
        Share of clips cut shorter than 10 s (named ``..._0.000_<end>.wav``).
    overwrite : bool, default=False
        Replace an existing non-empty ``root``.
    n_jobs : int, default=None
        Processes synthesising clips (joblib). The output does not depend on it.
    verbose : int, default=0
        Show a progress bar when positive.
    random_state : int or None, default=0
        Seed; the same seed gives byte-identical files.

    Returns
    -------
    root : pathlib.Path
        The folder written.

    Examples
    --------
    >>> import tempfile
    >>> from sktriplet.datasets import make_domestic_soundscapes, load_dcase2018_task4
    >>> root = make_domestic_soundscapes(
    ...     tempfile.mkdtemp() + "/synth",
    ...     n_labeled=2, n_unlabeled=2, n_test=1, n_eval=1,
    ... )
    >>> load_dcase2018_task4(root).y.shape
    (6, 10)
    """
    counts = {
        "weak": _check_count("n_labeled", n_labeled),
        "unlabel_in_domain": _check_count("n_unlabeled", n_unlabeled),
        "test": _check_count("n_test", n_test),
        "eval": _check_count("n_eval", n_eval),
    }
    if sum(counts.values()) == 0:
        raise ValueError("All clip counts are 0: nothing to generate.")
    if not 0 <= short_clip_share <= 1:
        raise ValueError(f"short_clip_share must be in [0, 1]; got {short_clip_share}.")
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not overwrite:
        raise FileExistsError(
            f"{root} exists and is not empty; pass overwrite=True to replace it."
        )
    master = np.random.default_rng(random_state)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        jobs, layout = [], []
        for subset, count in counts.items():
            meta_rel, audio_rel, kind = SUBSETS[subset]
            audio_dir = tmp / "dataset" / "audio" / audio_rel
            audio_dir.mkdir(parents=True, exist_ok=True)
            (tmp / "dataset" / "metadata" / meta_rel).parent.mkdir(
                parents=True, exist_ok=True
            )
            names = []
            for i in range(count):
                seconds = CLIP_SECONDS
                if master.random() < short_clip_share:
                    seconds = float(master.integers(5, 10))
                name = f"Ysynth{subset[:2]}{i:05d}_0.000_{seconds:.3f}.wav"
                seed = int(master.integers(2**63))
                jobs.append(delayed(_render_clip)(seed, audio_dir / name, seconds))
                names.append(name)
            layout.append((subset, meta_rel, kind, names))
        parallel = Parallel(n_jobs=n_jobs, return_as="generator")
        rendered = list(
            progress(
                parallel(jobs),
                total=len(jobs),
                enabled=bool(verbose),
                desc="synthesising clips",
                unit="clip",
            )
        )
        events = iter(rendered)
        for subset, meta_rel, kind, names in layout:
            _write_metadata(
                tmp / "dataset" / "metadata" / meta_rel, kind, names, events
            )
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _write_metadata(path, kind, names, events):
    lines = []
    if kind == "weak":
        lines.append("filename\tevent_labels")
        for name in names:
            labels = sorted({label for label, _, _ in next(events)})
            lines.append(f"{name}\t{','.join(labels)}")
    elif kind == "strong":
        lines.append("filename\tonset\toffset\tevent_label")
        for name in names:
            for label, onset, offset in sorted(next(events), key=lambda e: e[1]):
                lines.append(f"{name}\t{onset:.3f}\t{offset:.3f}\t{label}")
    else:
        lines.append("filename")
        for name in names:
            next(events)
            lines.append(name)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
