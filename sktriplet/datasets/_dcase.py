"""Loader for the DCASE 2018 Task 4 data set layout (the challenge baseline's)."""

from __future__ import annotations

import codecs
import csv
import io
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

#: The ten DCASE 2018 Task 4 classes, in the fixed (alphabetical) column order of ``y``.
DCASE2018_CLASSES = (
    "Alarm_bell_ringing",
    "Blender",
    "Cat",
    "Dishes",
    "Dog",
    "Electric_shaver_toothbrush",
    "Frying",
    "Running_water",
    "Speech",
    "Vacuum_cleaner",
)

# subset -> (metadata file under dataset/metadata, audio folder under dataset/audio,
# label kind)
SUBSETS = {
    "weak": ("train/weak.csv", "train/weak", "weak"),
    "unlabel_in_domain": (
        "train/unlabel_in_domain.csv",
        "train/unlabel_in_domain",
        None,
    ),
    "unlabel_out_of_domain": (
        "train/unlabel_out_of_domain.csv",
        "train/unlabel_out_of_domain",
        None,
    ),
    "test": ("test/test.csv", "test", "strong"),
    "eval": ("eval/eval.csv", "eval", "strong"),
}
DEFAULT_SUBSETS = ("weak", "unlabel_in_domain", "test", "eval")
_REQUIRED_COLUMNS = {
    "weak": ("filename", "event_labels"),
    None: ("filename",),
    "strong": ("filename", "onset", "offset", "event_label"),
}


class DatasetLayoutError(ValueError):
    """A folder is not laid out like the DCASE 2018 Task 4 data set."""


def dataset_dir(root) -> Path:
    """The ``dataset`` folder of a DCASE 2018 Task 4 root (or ``root`` itself)."""
    root = Path(root)
    for candidate in (root / "dataset", root):
        if (candidate / "metadata").is_dir():
            return candidate
    raise DatasetLayoutError(
        f"{root} is not a DCASE 2018 Task 4 root: expected a folder "
        f"'{root / 'dataset' / 'metadata'}' (with train/weak.csv, "
        "train/unlabel_in_domain.csv, test/test.csv, eval/eval.csv) and audio under "
        f"'{root / 'dataset' / 'audio'}'."
    )


def _read_text(path: Path) -> str:
    """The text of a UTF-8 metadata file, with or without a byte-order mark."""
    raw = path.read_bytes()
    # Spreadsheet exports start with a UTF-8 byte-order mark (what "utf-8-sig"
    # strips); it is removed by hand so that a decoding error's offset, and so its
    # line number, counts from the first byte after it.
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {lineno}: not valid UTF-8 (byte {raw[exc.start]:#04x}); "
            "metadata files must be UTF-8 encoded (re-save it as UTF-8, e.g. from "
            "Latin-1)."
        ) from None


def _check_inside(filename: str, root: Path, path: Path, lineno: int) -> None:
    """Refuse a metadata file name that leaves its audio folder ``root``.

    Metadata is user input: ``../../etc/passwd`` or an absolute path would
    otherwise be returned as a clip and read. The check is on the name itself:
    symbolic links inside the folder are the data owner's and are followed
    (git-annex and DataLad data sets link every file into ``.git/annex``).
    """
    normal = os.path.normpath(filename)
    if (
        os.path.isabs(filename)
        or Path(filename).drive
        or normal == os.pardir
        or normal.startswith(os.pardir + os.sep)
    ):
        raise ValueError(
            f"{path}, line {lineno}: filename {filename!r} leads to "
            f"{os.path.normpath(root / filename)}, outside the audio folder {root}; "
            "file names must be relative paths inside it."
        )


def _read_metadata(path: Path, kind, audio_dir: Path) -> dict[str, set[str] | None]:
    """Read one metadata CSV into ``{filename: set of labels}`` (None = unlabelled).

    Every file name must stay inside ``audio_dir``.
    """
    if not path.is_file():
        raise DatasetLayoutError(f"Missing metadata file: {path}")
    classes = set(DCASE2018_CLASSES)
    audio_root = audio_dir.resolve()
    clips: dict[str, set[str] | None] = {}
    # weak labels: filename -> [(line, labels), ...] to report conflicting repeats
    weak_rows: dict[str, list[tuple[int, frozenset[str]]]] = {}
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter="\t")
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}, line 1: empty metadata file, expected a header.")
    header = [h.strip() for h in header]
    missing = [c for c in _REQUIRED_COLUMNS[kind] if c not in header]
    if missing:
        raise ValueError(
            f"{path}, line 1: missing required column(s) {missing}; the header is "
            f"{header} (columns are tab-separated)."
        )
    col = {name: header.index(name) for name in _REQUIRED_COLUMNS[kind]}
    for lineno, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        filename = row[col["filename"]].strip()
        if not filename:
            raise ValueError(f"{path}, line {lineno}: empty filename.")
        _check_inside(filename, audio_root, path, lineno)
        if kind is None:
            clips[filename] = None
            continue
        label_col = col["event_labels" if kind == "weak" else "event_label"]
        cell = row[label_col].strip() if label_col < len(row) else ""
        labels = {s.strip() for s in cell.replace(";", ",").split(",") if s.strip()}
        unknown = sorted(labels - classes)
        if unknown:
            raise ValueError(
                f"{path}, line {lineno}: unknown class {unknown[0]!r}; the classes "
                f"are {', '.join(DCASE2018_CLASSES)}."
            )
        if kind == "weak" and not labels:
            raise ValueError(f"{path}, line {lineno}: weak label row has no label.")
        if kind == "weak":
            weak_rows.setdefault(filename, []).append((lineno, frozenset(labels)))
        # Strong labels list one event per row: a clip's tags are the union.
        clips.setdefault(filename, set()).update(labels)
    _warn_conflicting_weak_labels(weak_rows, path)
    return clips


def _warn_conflicting_weak_labels(weak_rows, path: Path) -> None:
    # A weak-label file has one row per clip; a clip listed twice with different
    # tags is an editing mistake whose union of labels should not pass silently.
    conflicts = [
        f"{name} (lines {', '.join(str(line) for line, _ in rows)})"
        for name, rows in weak_rows.items()
        if len({labels for _, labels in rows}) > 1
    ]
    if conflicts:
        warnings.warn(
            f"{path}: {len(conflicts)} filename(s) listed more than once with "
            f"different weak labels; their labels are merged: "
            f"{'; '.join(conflicts[:5])}{'; ...' if len(conflicts) > 5 else ''}.",
            UserWarning,
            stacklevel=4,
        )


def load_dcase2018_task4(
    root,
    subsets=DEFAULT_SUBSETS,
    *,
    on_missing: str = "raise",
) -> Bunch:
    """Load the clip list and clip-level tags of a DCASE 2018 Task 4 copy.

    Reads the layout distributed with the challenge baseline (or written by
    :func:`make_domestic_soundscapes`)::

        root/dataset/metadata/train/weak.csv        filename, event_labels
        root/dataset/metadata/train/unlabel_in_domain.csv   filename
        root/dataset/metadata/test/test.csv   filename, onset, offset, event_label
        root/dataset/metadata/eval/eval.csv   filename, onset, offset, event_label
        root/dataset/audio/train/weak/*.wav, .../train/unlabel_in_domain/*.wav,
        root/dataset/audio/test/*.wav, root/dataset/audio/eval/*.wav

    Files are tab-separated UTF-8 (a leading byte-order mark, as spreadsheet exports
    write, is accepted); weak labels may be separated by commas or semicolons.
    Strong labels become clip tags (the union of a clip's events); a row with an
    empty label is a clip with no event (a row of zeros in ``y``). A clip listed
    twice in ``weak.csv`` with different labels gets the union, with a warning
    naming the lines. File names are paths relative to the subset's audio folder:
    one that leads outside it (an absolute path, or ``..`` climbing out) is refused
    with a ``ValueError`` naming the metadata file and line, as is a subset whose
    metadata file has no rows. Symbolic links inside the folder are followed (as
    in git-annex and DataLad data sets).

    Parameters
    ----------
    root : str or path-like
        The folder holding ``dataset/`` (or the ``dataset`` folder itself).
    subsets : sequence of str, default=("weak", "unlabel_in_domain", "test", "eval")
        Subsets to load, in this order. Also available:
        ``"unlabel_out_of_domain"``.
    on_missing : {"raise", "skip"}, default="raise"
        What to do about clips listed in the metadata whose audio file is absent (real
        downloads miss some): raise a ``FileNotFoundError`` giving the count and the
        first names, or skip them with a warning giving the count.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``filenames`` (ndarray of str, absolute audio paths), ``y`` (int8 ndarray of
        shape (n_clips, 10): 1/0 tags, all ``-1`` for unlabelled clips),
        ``classes`` (the 10 class names), ``subset`` (ndarray of str, each clip's
        subset), ``n_missing`` (dict: clips skipped per subset).

    Examples
    --------
    >>> from sktriplet.datasets import load_dcase2018_task4
    >>> data = load_dcase2018_task4("DCASE2018-task4")  # doctest: +SKIP
    >>> data.y.shape  # doctest: +SKIP
    (16870, 10)
    """
    if on_missing not in ("raise", "skip"):
        raise ValueError(f"on_missing must be 'raise' or 'skip'; got {on_missing!r}.")
    if isinstance(subsets, str):
        subsets = (subsets,)
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown or not subsets:
        raise ValueError(
            f"Unknown subset(s) {unknown}; valid subsets are {list(SUBSETS)}."
            if unknown
            else "subsets is empty; valid subsets are " + str(list(SUBSETS))
        )
    base = dataset_dir(root)
    filenames, rows, subset_of, n_missing = [], [], [], {}
    column = {c: i for i, c in enumerate(DCASE2018_CLASSES)}
    for subset in subsets:
        meta_rel, audio_rel, kind = SUBSETS[subset]
        meta_path = base / "metadata" / meta_rel
        audio_dir = base / "audio" / audio_rel
        clips = _read_metadata(meta_path, kind, audio_dir)
        if not clips:
            # Caught here: an empty subset would otherwise fail much later, inside
            # an estimator, as an array with an empty dimension.
            raise ValueError(
                f"Subset {subset!r} is empty: {meta_path} has a header but no rows. "
                f"Fill it, or leave {subset!r} out of subsets."
            )
        missing = [name for name in clips if not (audio_dir / name).is_file()]
        if missing and on_missing == "raise":
            raise FileNotFoundError(
                f"{len(missing)} of {len(clips)} audio files of subset {subset!r} are "
                f"missing under {audio_dir} (first: {', '.join(missing[:5])}). Pass "
                "on_missing='skip' to load the others."
            )
        if missing:
            warnings.warn(
                f"Skipping {len(missing)} of {len(clips)} clips of subset {subset!r} "
                f"whose audio file is missing under {audio_dir}.",
                UserWarning,
                stacklevel=2,
            )
        n_missing[subset] = len(missing)
        missing_set = set(missing)
        for name, labels in clips.items():
            if name in missing_set:
                continue
            row = np.full(len(DCASE2018_CLASSES), -1, dtype=np.int8)
            if labels is not None:
                row[:] = 0
                row[[column[label] for label in labels]] = 1
            filenames.append(str((audio_dir / name).resolve()))
            rows.append(row)
            subset_of.append(subset)
    y = np.stack(rows) if rows else np.empty((0, len(DCASE2018_CLASSES)), dtype=np.int8)
    return Bunch(
        filenames=np.asarray(filenames, dtype=object),
        y=y,
        classes=np.asarray(DCASE2018_CLASSES),
        subset=np.asarray(subset_of, dtype=object),
        n_missing=n_missing,
    )
