"""Data for the reproduction: a DCASE 2018 Task 4 root or your own clips, features."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import (
    SOUNDSCAPE_PRESETS,
    DatasetLayoutError,
    dcase2018_task4_paths,
    load_audio_folder,
    load_dcase2018_task4,
    load_domestic_soundscapes,
    load_weak_labels,
)
from ..features import LogMelExtractor, is_feature_store, open_feature_store
from ..utils._labels import labeled_mask

#: Sizes of the embedded soundscapes generated when no ``--data`` is given:
#: the presets of :func:`~sktriplet.datasets.load_domestic_soundscapes` and a
#: tiny one for smoke runs.
EMBEDDED_SIZES = {
    **SOUNDSCAPE_PRESETS,
    "quick": {"n_labeled": 16, "n_unlabeled": 48, "n_test": 12, "n_eval": 16},
}
REQUIRED_SUBSETS = ("weak", "unlabel_in_domain", "test", "eval")
#: Shares of each class's labelled clips that go to the three labelled subsets of
#: your own data (a class-folder tree or a metadata file).
OWN_SPLIT = {"weak": 0.5, "test": 0.2, "eval": 0.3}
#: Labelled clips a class needs: one in each of weak, test and eval.
MIN_PER_CLASS = 3
#: Own clips are padded or cropped to the longest one, within these bounds (s):
#: 1 s holds the embedders' 0.96 s segment, 10 s is the paper's clip length.
CLIP_SECONDS_BOUNDS = (1.0, 10.0)
METADATA_SUFFIXES = (".csv", ".tsv", ".txt")
#: Arrays of a features file or store written by ``sktriplet features``.
FEATURES_KEYS = ("X", "y", "classes", "subset")
#: Subsets a features file must hold (``unlabel_in_domain`` may be absent).
FEATURES_SUBSETS = ("weak", "test", "eval")


@dataclass
class ExperimentData:
    """Features and labels of the four subsets the experiments use.

    ``preparation`` says how own data was split and padded (empty for a DCASE
    root, whose subsets and 10 s clips are given); it enters the fingerprint of
    ``config.json``.
    """

    X: np.ndarray
    y: np.ndarray
    subset: np.ndarray
    classes: np.ndarray
    root: Path
    preparation: dict = field(default_factory=dict)

    def rows(self, *subsets: str) -> np.ndarray:
        return np.flatnonzero(np.isin(self.subset, subsets))

    def clips(self, rows: np.ndarray) -> np.ndarray:
        """``X[rows]``; consecutive rows as a view, not a copy.

        A feature store keeps its subsets in consecutive rows, so the clips of a
        memory-mapped ``X`` stay on disk (the estimators read them in chunks).
        """
        rows = np.asarray(rows)
        if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            return self.X[rows[0] : rows[0] + len(rows)]
        return self.X[rows]

    def describe(self) -> dict:
        names, counts = np.unique(self.subset, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}


def _data_kind(data) -> str:
    """``"dcase"``, ``"folder"``, ``"metadata"`` or ``"features"`` (an .npz file
    or a feature store folder); a ``ValueError`` for other paths."""
    path = Path(data)
    if path.is_dir() and is_feature_store(path):
        return "features"
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "features"
        if path.suffix.lower() not in METADATA_SUFFIXES:
            raise ValueError(
                f"--data {data} is a file but not a metadata file "
                f"({', '.join(METADATA_SUFFIXES)}) nor a features file (.npz): give "
                "a DCASE 2018 Task 4 root, a folder with one sub-folder per class, a "
                "CSV/TSV metadata file or the .npz written by 'sktriplet features'."
            )
        return "metadata"
    if not path.is_dir():
        raise ValueError(f"--data {data} does not exist.")
    try:
        dcase2018_task4_paths(path)
    except DatasetLayoutError:
        return "folder"
    return "dcase"


def _read_features(path) -> dict:
    """The arrays of a features file or store written by ``sktriplet features``,
    checked; a store's ``X`` is a read-only memory map."""
    if Path(path).is_dir():
        store = open_feature_store(path)
        arrays = {
            "X": store.X,
            "y": store.y,
            "classes": store.classes,
            "subset": store.subset,
        }
        arrays = {k: v for k, v in arrays.items() if v is not None}
        what = "store"
    else:
        arrays = _read_npz(path)
        what = "file"
    missing = [k for k in FEATURES_KEYS if k not in arrays]
    if missing:
        raise ValueError(
            f"--data {path} lacks the array(s) {missing}; expected the {what} written "
            f"by 'sktriplet features' (arrays {', '.join(FEATURES_KEYS)})."
        )
    absent = [s for s in FEATURES_SUBSETS if s not in set(arrays["subset"])]
    if absent:
        raise ValueError(
            f"--data {path} has no clip of subset(s) {absent}; the experiments need "
            f"{', '.join(FEATURES_SUBSETS)} (and use unlabel_in_domain if present)."
        )
    return arrays


def _read_npz(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k in FEATURES_KEYS}
    except (OSError, ValueError) as exc:
        raise ValueError(f"--data {path}: not a readable .npz file ({exc}).") from None
    return arrays


def check_layout(data, *, seed: int = 0) -> Path:
    """Check ``data`` before any work; a ``ValueError`` says what is wrong.

    A DCASE 2018 Task 4 root must hold the metadata and audio folders of the four
    subsets (returns its ``dataset`` folder). A class-folder tree or a metadata
    file must list audio files with enough labelled clips per class to split
    (returns the path). A features file (``.npz`` written by ``sktriplet
    features``) or a complete feature store folder must hold the arrays ``X``,
    ``y``, ``classes`` and ``subset`` with clips of the ``weak``, ``test`` and
    ``eval`` subsets (returns the path).
    """
    kind = _data_kind(data)
    if kind == "features":
        _read_features(data)
        return Path(data)
    if kind != "dcase":
        _own_subsets(data, kind, seed)
        return Path(data)
    paths = dcase2018_task4_paths(data, REQUIRED_SUBSETS)
    missing = []
    for metadata, audio in paths.values():
        if not metadata.is_file():
            missing.append(str(metadata))
        if not audio.is_dir():
            missing.append(str(audio) + "/")
    if missing:
        raise ValueError(
            f"--data {data} is not a DCASE 2018 Task 4 layout; missing: "
            + ", ".join(missing)
        )
    # The dataset folder: where metadata/ and audio/ meet.
    return Path(os.path.commonpath(paths["weak"]))


def split_labeled(y, classes, *, seed: int = 0) -> np.ndarray:
    """Subset of each clip of own data: unlabelled clips, then a stratified split.

    Unlabelled rows (all ``-1``) become ``"unlabel_in_domain"``. Labelled clips are
    grouped by their rarest class (their only class when single-label; clips
    without any event form one more group) and each group is shuffled with
    ``seed`` and cut into :data:`OWN_SPLIT` shares (50 % ``"weak"``, 20 %
    ``"test"``, 30 % ``"eval"``, rounded, at least one clip each in a group of
    3 or more; a smaller group goes to ``"weak"``). A class with fewer than
    :data:`MIN_PER_CLASS` labelled clips is a ``ValueError`` naming it.
    """
    y = np.asarray(y)
    labeled = labeled_mask(y)
    counts = (y[labeled] == 1).sum(axis=0)
    too_few = [(str(c), int(n)) for c, n in zip(classes, counts) if n < MIN_PER_CLASS]
    if too_few:
        shares = "/".join(f"{100 * s:g}" for s in OWN_SPLIT.values())
        raise ValueError(
            f"class {too_few[0][0]!r} has {too_few[0][1]} labelled clip(s); each "
            f"class needs at least {MIN_PER_CLASS} to split them into weak, test and "
            f"eval ({shares} %)"
            + (
                f" (also too few: {', '.join(repr(c) for c, _ in too_few[1:])})"
                if len(too_few) > 1
                else ""
            )
            + ". Add clips of it, or leave the class out."
        )
    # The rarest class of each labelled clip (n_classes for a clip with no event).
    rarity = np.where(y == 1, counts[None, :], np.iinfo(np.int64).max)
    group = np.where((y == 1).any(axis=1), rarity.argmin(axis=1), len(classes))
    subset = np.where(labeled, "weak", "unlabel_in_domain").astype(object)
    rng = np.random.default_rng(seed)
    for g in range(len(classes) + 1):
        members = rng.permutation(np.flatnonzero(labeled & (group == g)))
        n = len(members)
        if n < MIN_PER_CLASS:
            continue
        n_test = max(1, math.floor(OWN_SPLIT["test"] * n + 0.5))
        n_eval = max(1, math.floor(OWN_SPLIT["eval"] * n + 0.5))
        subset[members[:n_test]] = "test"
        subset[members[n_test : n_test + n_eval]] = "eval"
    return subset.astype(str)


def _own_subsets(data, kind: str, seed: int):
    """``(clips, subset)`` of a class-folder tree or a metadata file."""
    if kind == "folder":
        try:
            clips = load_audio_folder(data)
        except ValueError as exc:
            raise ValueError(
                f"--data {data} is not a DCASE 2018 Task 4 root (no metadata/ or "
                f"dataset/metadata/ folder) nor a folder of class sub-folders: {exc}"
            ) from None
    else:
        clips = load_weak_labels(data, on_missing="skip")
    return clips, split_labeled(clips.y, clips.classes, seed=seed)


def clip_seconds(filenames) -> float:
    """Length own clips are padded or cropped to: the longest file, 0.1 s steps.

    Bounded by :data:`CLIP_SECONDS_BOUNDS`: at least 1 s (an embedder segment is
    0.96 s), at most the paper's 10 s.
    """
    import soundfile as sf

    longest = 0.0
    for name in filenames:
        try:
            longest = max(longest, sf.info(str(name)).duration)
        except Exception as exc:  # libsndfile's own error type
            raise ValueError(f"Could not read audio file {name}: {exc}") from None
    low, high = CLIP_SECONDS_BOUNDS
    return float(min(max(math.ceil(round(longest * 10, 6)) / 10, low), high))


def embedded_root(cache_dir: Path, size: str, seed: int, verbose: int = 1) -> Path:
    """The embedded soundscapes of a given size, generated once into ``cache_dir``."""
    data = load_domestic_soundscapes(
        **EMBEDDED_SIZES[size],
        features=False,
        data_home=cache_dir,
        verbose=verbose,
        random_state=seed,
    )
    return data.root


def load_features(
    data, cache_dir, *, seed: int = 0, n_jobs=2, verbose=1
) -> ExperimentData:
    """The four subsets of ``data`` and their log-mel features.

    ``data`` is a features file (the ``.npz`` written by ``sktriplet features``),
    whose arrays are read as they are; a feature store folder (written by
    ``sktriplet features ROOT --out FOLDER``, see
    :func:`~sktriplet.features.open_feature_store`), whose ``X`` stays on disk as
    a read-only memory map; or audio, whose log-mel features are extracted
    (:class:`~sktriplet.features.LogMelExtractor`, the paper's settings) and
    cached in ``cache_dir``: a DCASE 2018 Task 4 root (its subsets, 10 s clips), a
    folder with one sub-folder per class and an optional ``unlabeled/`` one (see
    :func:`~sktriplet.datasets.load_audio_folder`), or a CSV/TSV metadata file
    (see :func:`~sktriplet.datasets.load_weak_labels`; missing audio files are
    skipped with a warning). Own data is split by :func:`split_labeled` with
    ``seed`` and its clips padded or cropped to :func:`clip_seconds`.
    """
    kind = _data_kind(data)
    if kind == "features":
        arrays = _read_features(data)
        preparation = {"kind": kind}
        if arrays["X"].dtype == np.float16:
            # Rounded features give other results: not comparable with float32 runs.
            preparation["feature_dtype"] = str(arrays["X"].dtype)
        return ExperimentData(
            X=arrays["X"],
            y=arrays["y"],
            subset=arrays["subset"].astype(str),
            classes=arrays["classes"],
            root=Path(data),
            preparation=preparation,
        )
    if kind == "dcase":
        check_layout(data)
        clips = load_dcase2018_task4(data, REQUIRED_SUBSETS, on_missing="skip")
        subset, seconds, preparation = clips.subset, 10.0, {}
    else:
        clips, subset = _own_subsets(data, kind, seed)
        seconds = clip_seconds(clips.filenames)
        preparation = {
            "kind": kind,
            "classes": [str(c) for c in clips.classes],
            "clip_seconds": seconds,
            "split": {**OWN_SPLIT, "seed": int(seed)},
        }
        if verbose:
            n = {s: int(np.sum(subset == s)) for s in REQUIRED_SUBSETS}
            print(
                f"{data}: {len(clips.classes)} classes; labelled clips split into "
                f"{n['weak']} weak, {n['test']} test, {n['eval']} eval; "
                f"{n['unlabel_in_domain']} unlabelled; clips padded or cropped to "
                f"{seconds:g} s"
            )
    memory = Path(cache_dir) / "features"
    extractor = LogMelExtractor(
        duration=seconds, n_jobs=n_jobs, memory=memory, verbose=verbose
    )
    X = extractor.fit_transform(list(clips.filenames))
    return ExperimentData(
        X=X,
        y=clips.y,
        subset=np.asarray(subset, dtype=str),
        classes=np.asarray(clips.classes),
        root=Path(data),
        preparation=preparation,
    )
