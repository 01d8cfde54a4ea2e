"""Clip lists with weak, strong or no labels, read from CSV or TSV metadata files."""

from __future__ import annotations

import codecs
import csv
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from sklearn.utils import Bunch

StrPath = Union[str, "os.PathLike[str]"]

# label kind -> the columns its header must have
REQUIRED_COLUMNS = {
    "weak": ("filename", "event_labels"),
    "strong": ("filename", "onset", "offset", "event_label"),
    "unlabeled": ("filename",),
}
# A header column with one of these in its name, in a file read as an unlabelled
# list, is probably a mistyped label column: refused rather than read as -1 rows.
_LABEL_HINTS = ("label", "class", "tag", "event", "category")
_DELIMITER_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon"}


@dataclass(frozen=True)
class _Source:
    """One metadata file, the folder its file names are relative to, its kind."""

    name: str
    metadata: Path
    audio_dir: Path
    kind: str | None = None  # None: detected from the header


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


def _sniff_delimiter(text: str) -> str:
    """The delimiter of a metadata file, from its header line: tab, comma or ';'."""
    header = text.split("\n", 1)[0]
    for delimiter in _DELIMITER_NAMES:
        if delimiter in header:
            return delimiter
    # A one-column header (an unlabelled list): tab splits no file name.
    return "\t"


def _detect_kind(header: list[str], path: Path, delimiter: str) -> str:
    """The label kind a header announces: ``"weak"``, ``"strong"`` or unlabelled."""
    if "event_labels" in header:
        return "weak"
    if {"onset", "offset", "event_label"} & set(header):
        return "strong"
    suspects = [
        name
        for name in header
        if name != "filename" and any(hint in name for hint in _LABEL_HINTS)
    ]
    if suspects:
        raise ValueError(
            f"{path}, line 1: column {suspects[0]!r} is not understood. Weak labels "
            "are read from a column 'event_labels', strong labels from 'onset', "
            "'offset' and 'event_label'; a file with only 'filename' lists "
            f"unlabelled clips. The header is {header} (read as "
            f"{_DELIMITER_NAMES[delimiter]}-separated)."
        )
    return "unlabeled"


def _split_labels(cell: str) -> set[str]:
    return {s.strip() for s in cell.replace(";", ",").split(",") if s.strip()}


def _read_metadata(
    path: Path, audio_dir: Path, kind: str | None, classes: Sequence[str] | None
) -> tuple[str, dict[str, set[str] | None]]:
    """Read one metadata file into its kind and ``{filename: labels}``.

    ``labels`` is None for an unlabelled clip, an empty set for a clip without
    events. Every file name must stay inside ``audio_dir``; with ``classes``, every
    label must be one of them.
    """
    audio_root = audio_dir.resolve()
    known = None if classes is None else set(classes)
    text = _read_text(path)
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise ValueError(f"{path}, line 1: empty metadata file, expected a header.")
    header = [h.strip().lower() for h in header]
    if kind is None:
        kind = _detect_kind(header, path, delimiter)
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in header]
    if missing:
        raise ValueError(
            f"{path}, line 1: missing required column(s) {missing}; the header is "
            f"{header} (read as {_DELIMITER_NAMES[delimiter]}-separated)."
        )
    col = {name: header.index(name) for name in REQUIRED_COLUMNS[kind]}
    clips: dict[str, set[str] | None] = {}
    # weak labels: filename -> [(line, labels), ...] to report conflicting repeats
    weak_rows: dict[str, list[tuple[int, frozenset[str]]]] = {}
    for row in reader:
        lineno = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if any(cell.strip() for cell in row[len(header) :]):
            raise ValueError(
                f"{path}, line {lineno}: {len(row)} cells for the {len(header)} "
                f"columns of the header ({_DELIMITER_NAMES[delimiter]}-separated). "
                "Several labels in one cell of a comma-separated file must be "
                'quoted: a.wav,"Dog,Speech".'
            )
        filename = row[col["filename"]].strip()
        if not filename:
            raise ValueError(f"{path}, line {lineno}: empty filename.")
        _check_inside(filename, audio_root, path, lineno)
        if kind == "unlabeled":
            clips[filename] = None
            continue
        label_col = col["event_labels" if kind == "weak" else "event_label"]
        labels = _split_labels(row[label_col] if label_col < len(row) else "")
        unknown = [] if known is None else sorted(labels - known)
        if unknown:
            raise ValueError(
                f"{path}, line {lineno}: unknown class {unknown[0]!r}; the classes "
                f"are {', '.join(classes)}."
            )
        if kind == "weak" and not labels:
            raise ValueError(
                f"{path}, line {lineno}: weak label row has no label. List "
                "unlabelled clips in a file with only a 'filename' column, and "
                "clips without any event in a strong-label file with an empty "
                "'event_label'."
            )
        if kind == "weak":
            weak_rows.setdefault(filename, []).append((lineno, frozenset(labels)))
        # Strong labels list one event per row: a clip's tags are the union; a row
        # with an empty label adds a clip with no event.
        clips.setdefault(filename, set()).update(labels)
    _warn_conflicting_weak_labels(weak_rows, path)
    return kind, clips


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
            stacklevel=5,
        )


def _check_on_missing(on_missing) -> None:
    if on_missing not in ("raise", "skip"):
        raise ValueError(f"on_missing must be 'raise' or 'skip'; got {on_missing!r}.")


def _check_classes(classes) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, (Sequence, np.ndarray)):
        raise ValueError(
            f"classes must be None or a list of class names; got {classes!r}."
        )
    classes = tuple(classes)
    bad = [
        c
        for c in classes
        if not isinstance(c, str)
        or not c.strip()
        or c != c.strip()
        or {",", ";"} & set(c)
    ]
    if bad:
        raise ValueError(
            f"classes must be non-empty names without surrounding spaces, commas or "
            f"semicolons (labels are split on those); got {bad[0]!r}."
        )
    if not classes or len(set(classes)) < len(classes):
        duplicates = sorted({c for c in classes if classes.count(c) > 1})
        raise ValueError(
            f"classes must be a non-empty list of distinct names; got "
            f"{list(classes)}" + (f" ({duplicates[0]!r} twice)." if duplicates else ".")
        )
    return classes


def _as_path(value, what: str) -> Path:
    try:
        return Path(value)
    except TypeError:
        raise TypeError(f"{what} must be a path; got {value!r}.") from None


def _sources(metadata, audio_dir) -> list[_Source]:
    """The ``metadata`` argument of :func:`load_weak_labels` as a list of sources."""
    if isinstance(metadata, Mapping):
        items = [(str(name), item) for name, item in metadata.items()]
    elif isinstance(metadata, (str, os.PathLike)):
        items = [(None, metadata)]
    elif isinstance(metadata, Sequence):
        items = [(None, item) for item in metadata]
    else:
        raise TypeError(
            "metadata must be a path, a list of paths or (path, audio_dir) pairs, or "
            f"a dict {{subset name: path or (path, audio_dir)}}; got {metadata!r}."
        )
    if not items:
        raise ValueError("metadata is empty: give at least one metadata file.")
    resolved = []
    for name, item in items:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise ValueError(
                    "each metadata entry must be a path or a (path, audio_dir) pair; "
                    f"got {item!r}."
                )
            meta, folder = item
        else:
            meta, folder = item, audio_dir
        meta = _as_path(meta, "metadata")
        folder = meta.parent if folder is None else _as_path(folder, "audio_dir")
        resolved.append((name, meta, folder))
    # Unnamed files are named by their stem (weak.tsv -> "weak"), or by their path
    # where two stems coincide (train/weak.tsv and valid/weak.tsv).
    stems = [meta.stem for name, meta, _ in resolved if name is None]
    by_path = len(set(stems)) < len(stems)
    return [
        _Source(
            name if name is not None else str(meta) if by_path else meta.stem,
            meta,
            folder,
        )
        for name, meta, folder in resolved
    ]


def _load_sources(
    sources: Sequence[_Source], *, classes: Sequence[str] | None, on_missing: str
) -> Bunch:
    """Read every source, check its audio, and stack one shared label matrix."""
    _check_on_missing(on_missing)
    classes = _check_classes(classes)
    read = []
    for source in sources:
        if not source.metadata.is_file():
            raise FileNotFoundError(
                f"metadata file {source.metadata} does not exist"
                + (" (it is a folder)." if source.metadata.is_dir() else ".")
            )
        kind, clips = _read_metadata(
            source.metadata, source.audio_dir, source.kind, classes
        )
        if not clips:
            # Caught here: an empty subset would otherwise fail much later, inside
            # an estimator, as an array with an empty dimension.
            raise ValueError(
                f"Subset {source.name!r} is empty: {source.metadata} has a header but "
                "no rows. Fill it, or leave it out."
            )
        read.append((source, kind, clips))
    if classes is None:
        classes = tuple(
            sorted(
                {
                    label
                    for _, _, clips in read
                    for ls in clips.values()
                    if ls
                    for label in ls
                }
            )
        )
        if not classes:
            raise ValueError(
                "No class names found: "
                + ", ".join(str(s.metadata) for s in sources)
                + " hold no label. Pass classes= to give the label set of "
                "unlabelled clips."
            )
    column = {c: i for i, c in enumerate(classes)}
    filenames, rows, subset_of, n_missing = [], [], [], {}
    for source, kind, clips in read:
        audio_dir = source.audio_dir
        missing = [name for name in clips if not (audio_dir / name).is_file()]
        where = f"under {audio_dir}" + (
            "" if audio_dir.is_dir() else " (no such folder)"
        )
        if missing and on_missing == "raise":
            raise FileNotFoundError(
                f"{len(missing)} of {len(clips)} audio files of subset {source.name!r} "
                f"({source.metadata}) are missing {where} (first: "
                f"{', '.join(missing[:5])}). Pass on_missing='skip' to load the "
                "others."
            )
        if missing:
            warnings.warn(
                f"Skipping {len(missing)} of {len(clips)} clips of subset "
                f"{source.name!r} whose audio file is missing {where}.",
                UserWarning,
                stacklevel=3,
            )
        n_missing[source.name] = len(missing)
        missing_set = set(missing)
        for name, labels in clips.items():
            if name in missing_set:
                continue
            row = np.full(len(classes), -1, dtype=np.int8)
            if labels is not None:
                row[:] = 0
                row[[column[label] for label in labels]] = 1
            filenames.append(str((audio_dir / name).resolve()))
            rows.append(row)
            subset_of.append(source.name)
    y = np.stack(rows) if rows else np.empty((0, len(classes)), dtype=np.int8)
    return Bunch(
        filenames=np.asarray(filenames, dtype=object),
        y=y,
        classes=np.asarray(classes),
        subset=np.asarray(subset_of, dtype=object),
        n_missing=n_missing,
        kinds={source.name: kind for source, kind, _ in read},
    )


def load_weak_labels(
    metadata,
    audio_dir: StrPath | None = None,
    *,
    classes: Sequence[str] | None = None,
    on_missing: str = "raise",
) -> Bunch:
    """Load clips and clip-level tags listed in CSV or TSV metadata files.

    Reads the metadata formats of the DCASE challenges and DESED, one file or
    several sharing one label set. The kind of each file is read from its header:

    ============================================  ===================================
    header columns                                rows of ``y``
    ============================================  ===================================
    ``filename``, ``event_labels``                weak labels: 1 for each listed
                                                  class, 0 elsewhere
    ``filename``, ``onset``, ``offset``,          strong labels: the union of a
    ``event_label``                               clip's events; a row with an empty
                                                  label is a clip with no event
                                                  (zeros)
    ``filename`` (other columns ignored)          unlabelled: all ``-1``
    ============================================  ===================================

    Columns are separated by tabs (``.tsv``, DCASE ``.csv``), commas or semicolons,
    whatever the header line uses; other columns are ignored. Several labels in one
    cell are separated by commas or semicolons; in a comma-separated file such a cell
    must be quoted (``a.wav,"Dog,Speech"``), as spreadsheets write it. Files are
    UTF-8, with or without a byte-order mark. A clip listed twice in a weak-label
    file with different labels gets the union, with a warning naming the lines.

    File names are paths relative to the audio folder: one that leads outside it (an
    absolute path, or ``..`` climbing out) is refused with a ``ValueError`` naming
    the metadata file and line, as is an unknown class (with ``classes``) and a file
    with a header but no rows. Symbolic links inside the folder are followed (as in
    git-annex and DataLad data sets).

    Parameters
    ----------
    metadata : path-like, list or dict
        A metadata file; or a list whose entries are metadata files or
        ``(metadata, audio_dir)`` pairs, loaded in this order with one shared label
        set; or a dict ``{subset name: metadata or (metadata, audio_dir)}``.
    audio_dir : path-like, default=None
        The folder file names are relative to, for entries without their own. None
        means each metadata file's own folder.
    classes : list of str, default=None
        The label set, in the column order of ``y``; a label outside it is an
        error. None infers it: the sorted labels found in the files.
    on_missing : {"raise", "skip"}, default="raise"
        What to do about clips listed in the metadata whose audio file is absent:
        raise a ``FileNotFoundError`` giving the count and the first names, or skip
        them with a warning giving the count.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``filenames`` (ndarray of str, absolute audio paths, symbolic links
        resolved), ``y`` (int8 ndarray of shape (n_clips, n_classes): 1/0 tags, all
        ``-1`` for unlabelled clips), ``classes`` (ndarray of str), ``subset``
        (ndarray of str, each clip's subset: the dict key, else the metadata file's
        stem, or its path when two stems coincide), ``n_missing`` (dict: clips
        skipped per subset), ``kinds`` (dict: ``"weak"``, ``"strong"`` or
        ``"unlabeled"`` per subset).

    Raises
    ------
    FileNotFoundError
        A metadata file, or (with ``on_missing="raise"``) an audio file, is missing.
    ValueError
        A malformed metadata file, naming the file and the line.

    See Also
    --------
    load_audio_folder : One folder per class instead of metadata files.
    load_dcase2018_task4 : The DCASE 2018 Task 4 layout, read with this function.

    Examples
    --------
    >>> from sktriplet.datasets import load_weak_labels
    >>> data = load_weak_labels("metadata/train/weak.tsv",
    ...                         audio_dir="audio/train/weak")  # doctest: +SKIP
    >>> data = load_weak_labels(
    ...     {"weak": ("meta/weak.tsv", "audio/weak"),
    ...      "unlabeled": ("meta/unlabeled.tsv", "audio/unlabeled"),
    ...      "validation": ("meta/validation.tsv", "audio/validation")},
    ... )  # doctest: +SKIP
    >>> data.y[data.subset == "unlabeled"][0]  # doctest: +SKIP
    array([-1, -1, -1, -1, -1, -1, -1, -1, -1, -1], dtype=int8)
    """
    _check_on_missing(on_missing)
    return _load_sources(
        _sources(metadata, audio_dir), classes=classes, on_missing=on_missing
    )
