"""The embedded default data: synthetic domestic soundscapes, DCASE 2018 layout."""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ..utils._files import atomic_folder
from ..utils._interrupt import ignore_interrupts_in_worker
from ..utils._progress import progress
from ._dcase import SUBSETS
from ._rooms import reverberate, room_tone
from ._scenes import plan_soundscapes
from ._sources import _lowpass, render_source

#: Version of the generated data: part of the cache folder name of
#: :func:`load_domestic_soundscapes`. Bump it whenever the rendering changes.
DATA_VERSION = 2

SR = 44100


def _render_clip(clip, sources, room, path):
    """Synthesise one planned clip and write it as 16-bit PCM."""
    import soundfile as sf

    rng = np.random.default_rng(clip.seed)
    n = int(round(clip.seconds * SR))
    dry = np.zeros(n, np.float32)
    for event, params in zip(clip.events, sources):
        a, b = int(event.onset * SR), min(int(event.offset * SR), n)
        source = render_source(event.label, params, rng, b - a, SR)
        ramp = min(int(0.02 * SR), (b - a) // 2)
        fade = np.ones(b - a, np.float32)
        fade[:ramp] = np.linspace(0, 1, ramp)
        fade[b - a - ramp :] = np.linspace(1, 0, ramp)
        # Sources and the room tone have unit RMS: the gain is the SNR.
        dry[a:b] += source * fade * np.float32(10 ** (event.snr_db / 20))
    mix = reverberate(dry, room, rng, SR) + room_tone(room, rng, n, SR)
    if clip.bandwidth:
        mix = _lowpass(mix, clip.bandwidth, SR)
    mix *= 10 ** (clip.level_db / 20)
    peak = np.abs(mix).max()
    if peak > 0.99:
        mix *= 0.99 / peak
    sf.write(path, mix.astype(np.float32), SR, subtype="PCM_16")


def _check_count(name, value, positive=False):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < positive:
        kind = "a positive integer" if positive else "a non-negative integer"
        raise ValueError(f"{name} must be {kind}; got {value!r}.")
    return int(value)


def _check_share(name, value):
    if not isinstance(value, Real) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}.")
    return float(value)


def _check_snr(snr_db):
    try:
        low, high = (float(v) for v in snr_db)
    except (TypeError, ValueError):
        low = high = np.nan
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(
            f"snr_db must be a pair (low, high) of finite numbers in dB with "
            f"low <= high; got {snr_db!r}."
        )
    return low, high


def make_domestic_soundscapes(
    root,
    *,
    n_labeled: int = 60,
    n_unlabeled: int = 540,
    n_test: int = 60,
    n_eval: int = 100,
    n_sources: int = 6,
    n_heldout_sources: int = 3,
    heldout_share: float = 0.5,
    n_rooms: int = 6,
    n_heldout_rooms: int = 2,
    snr_db=(-6.0, 24.0),
    short_clip_share: float = 0.05,
    overwrite: bool = False,
    n_jobs: int | None = None,
    verbose: int = 0,
    random_state: int | None = 0,
) -> Path:
    """Synthesise the embedded default data set in the DCASE 2018 Task 4 layout.

    10-second, 44.1 kHz mono clips of domestic soundscapes built like real
    recordings, so that what is measured on them carries over to real data:

    - **Distinct sources.** Each of the 10 classes (the DCASE 2018 Task 4 classes)
      has a finite bank of source identities, each a fixed parameter set drawn once
      from the class's sub-families (small, medium and large dogs; male, female and
      child voices; church bells, electronic alarms, phone rings and beepers; ...).
      Events of one identity vary only a little; identities of one class differ a
      lot. ``n_sources`` identities per class are *training* identities, heard in
      ``weak`` and ``unlabel_in_domain`` clips; ``n_heldout_sources`` more are
      heard only in ``test`` and ``eval`` clips, where each event comes from a
      held-out identity with probability ``heldout_share``. Evaluation thus meets
      unheard sounds, as DCASE's evaluation set comes from other recordings than
      its training set.
    - **Rooms.** Backgrounds come likewise from a finite set of rooms (coloured room
      tone, mains hum, a texture such as ventilation, distant traffic or a fridge,
      and a reverberation applied to the events); ``n_heldout_rooms`` of them are
      heard only in ``test`` and ``eval``.
    - **Scenes.** 1-4 events of distinct classes per clip (1.45 on average, as in
      DCASE's weak set), class frequencies as unbalanced as DCASE's, placed
      independently (they may overlap), with class-dependent durations (appliances
      and water often last several seconds or the whole clip; dogs, cats, dishes
      and alarms are short; speech in between) and an event-to-background SNR
      drawn uniformly in ``snr_db``: some labelled events are barely audible. Some
      clips are band-limited as if recorded by a phone, and a few are shorter than
      10 s, as in the real data.

    The bank derives from ``random_state``: another seed gives other sources and
    rooms, a genuinely new data set. The folder is written exactly like the real
    data set (wav files plus ``weak.csv``, ``unlabel_in_domain.csv``, and
    ``test.csv`` / ``eval.csv`` with strong labels), so
    :func:`load_dcase2018_task4` reads it as it reads the real one. Labelled clips
    are scarce by default (1:9 against unlabelled, as in the paper). Everything is
    written to a temporary sibling folder first and moved into place at the end: a
    failure leaves nothing partial at ``root``.

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
    n_sources : int, default=6
        Training source identities per class (at least 1).
    n_heldout_sources : int, default=3
        Further identities per class heard only in ``test`` and ``eval``.
    heldout_share : float, default=0.5
        Probability that an event (and a clip's room) of ``test`` or ``eval`` comes
        from a held-out identity; without held-out identities, every event comes
        from a training one.
    n_rooms : int, default=6
        Training rooms (backgrounds; at least 1).
    n_heldout_rooms : int, default=2
        Further rooms heard only in ``test`` and ``eval``.
    snr_db : tuple of 2 float, default=(-6.0, 24.0)
        Range of the event-to-background SNR in dB (RMS over the event), drawn
        uniformly per event.
    short_clip_share : float, default=0.05
        Share of clips cut shorter than 10 s (named ``..._0.000_<end>.wav``).
    overwrite : bool, default=False
        Replace an existing non-empty ``root``.
    n_jobs : int, default=None
        Processes synthesising clips (joblib). The output does not depend on it.
    verbose : int, default=0
        Show a progress bar when positive.
    random_state : int or None, default=0
        Seed of the sources, rooms and clips; the same seed gives byte-identical
        files.

    Returns
    -------
    root : pathlib.Path
        The folder written.

    See Also
    --------
    load_domestic_soundscapes : The same data, generated once and cached, with its
        features.
    load_dcase2018_task4 : Read the folder written.

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
    bank_sizes = {
        "n_sources": _check_count("n_sources", n_sources, positive=True),
        "n_heldout_sources": _check_count("n_heldout_sources", n_heldout_sources),
        "n_rooms": _check_count("n_rooms", n_rooms, positive=True),
        "n_heldout_rooms": _check_count("n_heldout_rooms", n_heldout_rooms),
    }
    bank, clips = plan_soundscapes(
        counts,
        short_clip_share=_check_share("short_clip_share", short_clip_share),
        heldout_share=_check_share("heldout_share", heldout_share),
        snr_db=_check_snr(snr_db),
        random_state=random_state,
        **bank_sizes,
    )
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not overwrite:
        raise FileExistsError(
            f"{root} exists and is not empty; pass overwrite=True to replace it."
        )
    with atomic_folder(root) as tmp:
        for subset in counts:
            meta_rel, audio_rel, _ = SUBSETS[subset]
            (tmp / "dataset" / "audio" / audio_rel).mkdir(parents=True, exist_ok=True)
            (tmp / "dataset" / "metadata" / meta_rel).parent.mkdir(
                parents=True, exist_ok=True
            )
        jobs = [
            delayed(_render_clip)(
                clip,
                [bank.source(event) for event in clip.events],
                bank.rooms[clip.room],
                tmp / "dataset" / "audio" / SUBSETS[clip.subset][1] / clip.name,
            )
            for clip in clips
        ]
        parallel = Parallel(
            n_jobs=n_jobs,
            return_as="generator",
            initializer=ignore_interrupts_in_worker,
        )
        for _ in progress(
            parallel(jobs),
            total=len(jobs),
            enabled=bool(verbose),
            desc="synthesising clips",
            unit="clip",
        ):
            pass
        for subset in counts:
            meta_rel, _, kind = SUBSETS[subset]
            _write_metadata(
                tmp / "dataset" / "metadata" / meta_rel,
                kind,
                [clip for clip in clips if clip.subset == subset],
            )
    return root


def _write_metadata(path, kind, clips):
    lines = []
    if kind == "weak":
        lines.append("filename\tevent_labels")
        for clip in clips:
            labels = sorted({event.label for event in clip.events})
            lines.append(f"{clip.name}\t{','.join(labels)}")
    elif kind == "strong":
        lines.append("filename\tonset\toffset\tevent_label")
        for clip in clips:
            for event in sorted(clip.events, key=lambda e: (e.onset, e.label)):
                lines.append(
                    f"{clip.name}\t{event.onset:.3f}\t{event.offset:.3f}\t{event.label}"
                )
    else:
        lines.append("filename")
        lines.extend(clip.name for clip in clips)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
