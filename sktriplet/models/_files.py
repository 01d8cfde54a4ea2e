"""Audio files under paths, and writing a model's outputs for them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..features._audio import audio_extensions, audio_files_in
from ..utils._files import atomic_path, atomic_write_text


def find_audio_files(paths) -> list[Path]:
    """Audio files of ``paths``: files as given, folders searched recursively.

    Files inside folders are found as :func:`~sktriplet.datasets.load_audio_folder`
    finds them (extensions of the formats libsndfile reads, hidden files skipped,
    links followed); a path given explicitly is kept whatever its extension (a
    decoding error then names it). Raises ``FileNotFoundError`` for a
    missing path and ``ValueError`` when no audio file is found.
    """
    extensions = audio_extensions()
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(audio_files_in(path, extensions))
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    if not found:
        raise ValueError(
            f"No audio file found in {', '.join(map(str, paths))} (extensions "
            f"read: {', '.join(sorted(extensions))})."
        )
    return found


def pool_steps(times: np.ndarray, E: np.ndarray, step: float, hop: float | None):
    """Mean of the embeddings in windows of ``hop`` seconds (None: every step)."""
    if hop is None:
        return times, E
    k = int(round(hop / step))
    if k < 1 or abs(k * step - hop) > 1e-6:
        raise ValueError(
            f"--hop {hop} must be a multiple of the model's step of {step:g} s."
        )
    n = -(-len(E) // k)
    pooled = np.stack([E[i * k : (i + 1) * k].mean(axis=0) for i in range(n)])
    centres = np.array(
        [times[i * k : (i + 1) * k].mean() for i in range(n)], dtype=np.float64
    )
    return centres, pooled.astype(np.float32)


def write_npz(path: Path, **arrays) -> None:
    """``np.savez`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def check_parquet_writer(path: Path) -> None:
    """Fail before any work when ``path`` is .parquet and pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError(
            f"Writing {path.name} needs pyarrow (pip install pyarrow); or write "
            ".npz instead."
        ) from None


def write_parquet(path: Path, columns: dict) -> None:
    """A Parquet table (needs pyarrow), through a temporary file and a rename."""
    check_parquet_writer(path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.table(columns), tmp)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """A CSV file written atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
