"""``results.csv``: one row per run, rewritten atomically after every cell."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..utils._files import atomic_write_text

BASE_COLUMNS = (
    "key",
    "table",
    "method",
    "strategy",
    "n_triplets",
    "labeled_share",
    "n_labeled",
    "n_unlabeled",
    "repeat",
    "seed",
    "macro_f1",
    "fit_seconds",
    "device",
)


class ResultsStore:
    """Rows of ``results.csv`` keyed by cell, with per-class F1 columns.

    Every :meth:`add` rewrites the whole file through a rename, so an interruption
    at any moment leaves either the previous or the new complete file.
    """

    def __init__(self, path, classes):
        self.path = Path(path)
        self.columns = list(BASE_COLUMNS) + [f"f1_{c}" for c in classes]
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    self.rows[row["key"]] = row

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"Unknown result columns: {sorted(unknown)}")
        self.rows[row["key"]] = {c: row.get(c, "") for c in self.columns}
        self._write()

    def _write(self) -> None:
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows.values():
            writer.writerow(row)
        atomic_write_text(self.path, buf.getvalue())


def check_config(out_dir: Path, fingerprint: dict, force: bool) -> None:
    """Refuse to mix results of different configurations in one ``--out``.

    ``config.json`` records what makes results comparable; a different one with
    results present raises unless ``force``, which then discards the old results.
    """
    config_path = out_dir / "config.json"
    results = out_dir / "results.csv"
    if config_path.exists() and results.exists():
        old = json.loads(config_path.read_text())
        if old != fingerprint:
            if not force:
                diff = {
                    k: (old.get(k), fingerprint.get(k))
                    for k in set(old) | set(fingerprint)
                    if old.get(k) != fingerprint.get(k)
                }
                raise ValueError(
                    f"{out_dir} holds results of another configuration "
                    f"(differences, old -> new: {diff}); use another --out or pass "
                    "--force to discard them."
                )
            results.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config_path, json.dumps(fingerprint, indent=2, sort_keys=True))
