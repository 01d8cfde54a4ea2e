"""Data for the reproduction: a DCASE 2018 Task 4 root, its features, its splits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import (
    SOUNDSCAPE_PRESETS,
    load_dcase2018_task4,
    load_domestic_soundscapes,
)
from ..datasets._dcase import SUBSETS, dataset_dir
from ..features import LogMelExtractor

#: Sizes of the embedded soundscapes generated when no ``--data`` is given:
#: the presets of :func:`~sktriplet.datasets.load_domestic_soundscapes` and a
#: tiny one for smoke runs.
EMBEDDED_SIZES = {
    **SOUNDSCAPE_PRESETS,
    "quick": {"n_labeled": 16, "n_unlabeled": 48, "n_test": 12, "n_eval": 16},
}
REQUIRED_SUBSETS = ("weak", "unlabel_in_domain", "test", "eval")


@dataclass
class ExperimentData:
    """Features and labels of the four subsets the experiments use."""

    X: np.ndarray
    y: np.ndarray
    subset: np.ndarray
    classes: np.ndarray
    root: Path

    def rows(self, *subsets: str) -> np.ndarray:
        return np.flatnonzero(np.isin(self.subset, subsets))

    def describe(self) -> dict:
        names, counts = np.unique(self.subset, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}


def check_layout(root) -> Path:
    """Raise a ``ValueError`` naming what is missing when ``root`` is not DCASE-like."""
    base = dataset_dir(root)
    missing = []
    for subset in REQUIRED_SUBSETS:
        meta_rel, audio_rel, _ = SUBSETS[subset]
        if not (base / "metadata" / meta_rel).is_file():
            missing.append(str(base / "metadata" / meta_rel))
        if not (base / "audio" / audio_rel).is_dir():
            missing.append(str(base / "audio" / audio_rel) + "/")
    if missing:
        raise ValueError(
            f"--data {root} is not a DCASE 2018 Task 4 layout; missing: "
            + ", ".join(missing)
        )
    return base


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


def load_features(root, cache_dir: Path, *, n_jobs=2, verbose=1) -> ExperimentData:
    """Load a DCASE root and its log-mel features, cached in ``cache_dir``."""
    check_layout(root)
    data = load_dcase2018_task4(root, REQUIRED_SUBSETS, on_missing="skip")
    memory = Path(cache_dir) / "features"
    extractor = LogMelExtractor(n_jobs=n_jobs, memory=memory, verbose=verbose)
    X = extractor.fit_transform(list(data.filenames))
    return ExperimentData(
        X=X,
        y=data.y,
        subset=np.asarray(data.subset, dtype=str),
        classes=np.asarray(data.classes),
        root=Path(root),
    )
