"""A feature store on disk: log-mel features in one ``.npy`` file, filled per chunk.

Layout of a store folder::

    X.npy       features, shape (n_clips, n_frames, n_mels), float32 or float16
    meta.npz    filenames, and y, classes, subset when given
    done.npz    which clips are extracted, and each file's size and mtime then
    store.json  format, shape, dtype, extractor settings, digests, complete flag

``X.npy`` is written in place through a memory map, a chunk of files at a time;
``done.npz`` is replaced atomically after each chunk, so an interrupted run keeps
every finished chunk and the next one extracts only the rest. Readers open only a
complete store, and get ``X`` as a read-only memory map.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.base import clone

from ..utils._files import atomic_folder, atomic_path, atomic_write_text
from ..utils._progress import progress
from ._logmel import LogMelExtractor

FORMAT = "sktriplet-feature-store"
VERSION = 1
DTYPES = ("float32", "float16")
_INFO, _X, _META, _DONE = "store.json", "X.npy", "meta.npz", "done.npz"
#: Header entries that must agree for a run to resume a store, and their names.
_IDENTITY = {
    "shape": "shape",
    "dtype": "dtype",
    "extractor": "extractor settings",
    "filenames": "file list",
    "labels": "labels (y, classes, subset)",
}


@dataclass(frozen=True, repr=False)
class FeatureStore:
    """A complete feature store opened for reading.

    Returned by :func:`open_feature_store` and :func:`write_feature_store`; the
    features stay on disk and are paged in as they are read.

    Attributes
    ----------
    path : pathlib.Path
        The store folder.
    X : numpy.memmap of shape (n_clips, n_frames, n_mels)
        The features, a read-only memory map (mode ``"r"``): assigning to it
        raises a ``ValueError``, so the file is never changed by a reader.
    filenames : ndarray of str
        The audio file of each row.
    y : ndarray of shape (n_clips, n_classes) or None
        Labels, when the store was written with them.
    classes : ndarray of str or None
        Class names, when given.
    subset : ndarray of str or None
        Subset of each clip, when given.
    extractor : dict
        The extractor's class name and the settings that shape its output.
    """

    path: Path
    X: np.memmap
    filenames: np.ndarray
    y: np.ndarray | None
    classes: np.ndarray | None
    subset: np.ndarray | None
    extractor: dict

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        return (
            f"FeatureStore({str(self.path)!r}, X={self.X.shape} {self.X.dtype}, "
            f"{self.X.nbytes / 2**20:.1f} MiB)"
        )


def is_feature_store(path) -> bool:
    """Whether ``path`` is a folder written by :func:`write_feature_store`.

    Parameters
    ----------
    path : str or path-like
        A file or folder.

    Returns
    -------
    bool
        True when ``path`` holds a store's ``store.json``, complete or not
        (:func:`open_feature_store` opens complete stores only).
    """
    return (Path(path) / _INFO).is_file()


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"\x00none")
            continue
        a = np.asarray(a)
        if a.dtype.kind in "OUS":
            # One string per item, length-prefixed: no two lists share a digest.
            for item in a.ravel():
                s = str(item).encode("utf-8", "surrogatepass")
                h.update(len(s).to_bytes(8, "little") + s)
        else:
            h.update(str(a.shape).encode() + a.astype(np.int64).tobytes())
        h.update(b"\x00")
    return h.hexdigest()


def _stamps(filenames) -> np.ndarray:
    """(size, mtime_ns) of each file: a file changed since its extraction differs."""
    stamps = np.empty((len(filenames), 2), np.int64)
    for i, name in enumerate(filenames):
        st = os.stat(name)
        stamps[i] = st.st_size, st.st_mtime_ns
    return stamps


def _save_npz(path: Path, **arrays) -> None:
    """``np.savez`` through a temporary file, synced before the rename."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def _read_info(path: Path) -> dict:
    try:
        info = json.loads((path / _INFO).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{path} is not a feature store (no {_INFO}); write one with "
            "'sktriplet features ROOT --out FOLDER' or write_feature_store."
        ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path / _INFO} is not readable: {exc}") from None
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise ValueError(
            f"{path} is not a feature store of version {VERSION} (format "
            f"{info.get('format')!r}, version {info.get('version')!r})."
        )
    return info


def _read_done(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path / _DONE, allow_pickle=False) as f:
        done, stamps = f["done"].astype(bool), f["stamps"]
    if done.shape != (n,) or stamps.shape != (n, 2):
        raise ValueError(f"{path / _DONE} does not match the store's {n} clips.")
    return done, stamps


def open_feature_store(path) -> FeatureStore:
    """Open a complete feature store for reading.

    Parameters
    ----------
    path : str or path-like
        A folder written by :func:`write_feature_store` (or by ``sktriplet
        features ROOT --out FOLDER``).

    Returns
    -------
    store : FeatureStore
        ``X`` is a read-only memory map of ``X.npy``.

    Raises
    ------
    ValueError
        When ``path`` is not a store, or the run writing it did not finish (the
        message says how many clips are done and to run the command again).

    See Also
    --------
    write_feature_store : Extract features into a store, resumably.

    Examples
    --------
    >>> from sktriplet.features import open_feature_store
    >>> store = open_feature_store("features")  # doctest: +SKIP
    >>> store.X.shape  # doctest: +SKIP
    (16870, 1001, 64)
    """
    path = Path(path)
    info = _read_info(path)
    n = info["shape"][0]
    if not info.get("complete"):
        done, _ = _read_done(path, n)
        raise ValueError(
            f"feature store {path} is incomplete: {int(done.sum())} of {n} clips "
            "extracted. Run the command that wrote it (e.g. 'sktriplet features "
            f"ROOT --out {path}') again to finish it."
        )
    X = np.load(path / _X, mmap_mode="r", allow_pickle=False)
    if list(X.shape) != info["shape"] or str(X.dtype) != info["dtype"]:
        raise ValueError(
            f"{path / _X} holds {X.shape} {X.dtype}, but {_INFO} says "
            f"{tuple(info['shape'])} {info['dtype']}: the store is damaged; write "
            "it again (--overwrite)."
        )
    with np.load(path / _META, allow_pickle=False) as meta:
        arrays = {k: meta[k] for k in meta.files}
    return FeatureStore(
        path=path,
        X=X,
        filenames=arrays["filenames"],
        y=arrays.get("y"),
        classes=arrays.get("classes"),
        subset=arrays.get("subset"),
        extractor=info["extractor"],
    )


def _check_args(filenames, extractor, y, classes, subset, dtype, chunk_size):
    if isinstance(filenames, (str, os.PathLike)):
        raise TypeError(
            f"filenames must be a list of audio file paths, not one path; wrap it "
            f"in a list: [{filenames!r}]."
        )
    filenames = [os.fspath(f) for f in filenames]
    if not filenames:
        raise ValueError("filenames is empty: need at least one audio file.")
    if extractor is None:
        extractor = LogMelExtractor()
    if not isinstance(extractor, LogMelExtractor):
        raise TypeError(
            f"extractor must be a LogMelExtractor; got {type(extractor).__name__}."
        )
    extractor = clone(extractor).fit()
    if extractor.n_frames_ is None:
        raise ValueError(
            "extractor has duration=None: a store holds clips of one length; set "
            "duration (clips are padded or cropped to it)."
        )
    try:
        dtype_name = np.dtype(dtype).name
    except TypeError:
        dtype_name = None
    if dtype_name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}; got {dtype!r}.")
    if not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
    n = len(filenames)
    for name, values in (("y", y), ("subset", subset)):
        if values is not None and len(values) != n:
            raise ValueError(
                f"{name} has {len(values)} rows but there are {n} filenames."
            )
    if y is not None and classes is not None and np.ndim(y) == 2:
        if np.shape(y)[1] != len(classes):
            raise ValueError(
                f"y has {np.shape(y)[1]} columns but there are {len(classes)} classes."
            )
    return filenames, extractor, dtype_name


def _header(filenames, extractor, y, classes, subset, dtype) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "shape": [len(filenames), int(extractor.n_frames_), int(extractor.n_mels)],
        "dtype": dtype,
        "extractor": {
            "class": type(extractor).__name__,
            "params": {
                k: v.item() if isinstance(v, np.generic) else v
                for k, v in extractor._cache_params().items()
            },
        },
        "filenames": _digest(filenames),
        "labels": _digest(y, classes, subset),
        "complete": False,
    }


def _create(path: Path, header: dict, filenames, y, classes, subset) -> None:
    """Write an empty store; it appears at ``path`` only once whole."""
    n = header["shape"][0]
    with atomic_folder(path) as tmp:
        X = np.lib.format.open_memmap(
            tmp / _X, mode="w+", dtype=header["dtype"], shape=tuple(header["shape"])
        )
        del X  # the rows are written by the extraction, in place
        meta = {"filenames": np.asarray(filenames, dtype=str)}
        for name, values in (("y", y), ("classes", classes), ("subset", subset)):
            if values is not None:
                values = np.asarray(values)
                meta[name] = values.astype(str) if values.dtype.kind == "O" else values
        np.savez(tmp / _META, **meta)
        np.savez(tmp / _DONE, done=np.zeros(n, bool), stamps=np.zeros((n, 2), np.int64))
        atomic_write_text(tmp / _INFO, json.dumps(header, indent=1))


def _prepare(path: Path, header: dict, overwrite: bool, data) -> None:
    """Create the store, or check that the one at ``path`` can be resumed."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, expected a folder for the store.")
    if is_feature_store(path):
        if overwrite:
            _create(path, header, *data)
            return
        old = _read_info(path)
        changed = [label for key, label in _IDENTITY.items() if old[key] != header[key]]
        if changed:
            what = changed[-1]
            if len(changed) > 1:
                what = f"{', '.join(changed[:-1])} and {what}"
            raise ValueError(
                f"feature store {path} holds features of another {what}; pass "
                "overwrite=True (--overwrite on the command line) to replace it, or "
                "write to another folder."
            )
        return
    if path.is_dir() and any(path.iterdir()):
        raise FileExistsError(
            f"{path} is a folder that is not a feature store and not empty; write "
            "the store to a new or empty folder."
        )
    _create(path, header, *data)


def write_feature_store(
    path,
    filenames,
    *,
    extractor: LogMelExtractor | None = None,
    y=None,
    classes=None,
    subset=None,
    dtype: str = "float32",
    chunk_size: int = 256,
    overwrite: bool = False,
    verbose: int = 0,
) -> FeatureStore:
    """Extract features of audio files into a store folder, resumably.

    Rows are extracted ``chunk_size`` files at a time and written in place to
    ``X.npy``; after each chunk the record of finished files is replaced
    atomically. Running the same call again after an interrupt (or a crash)
    extracts only the files not done yet, and files changed on disk since their
    extraction (size or modification time). Under
    ``joblib.parallel_config(backend="dask")`` each chunk's batches run on the
    Dask workers, which must see the files at the same paths; the features come
    back and this process writes them.

    Parameters
    ----------
    path : str or path-like
        The store folder: new, empty, or a store written by an earlier call with
        the same files, labels and settings.
    filenames : list of path-like
        Audio files, one row each.
    extractor : LogMelExtractor, default=None
        The feature settings (cloned); ``None`` means the paper's defaults. Its
        ``duration`` must be set: every row has the same number of frames.
    y : array-like of shape (n_files, n_classes), default=None
        Labels to keep with the features.
    classes : array-like of str, default=None
        Class names of the columns of ``y``.
    subset : array-like of str, default=None
        Subset of each file (``"weak"``, ``"test"``, ...).
    dtype : {"float32", "float16"}, default="float32"
        Storage type. ``float16`` halves the file and rounds each value by at
        most 1/32 dB (log-mel values lie within -100 to about +60 dB; float16
        keeps 11 significant bits, 1/16 dB steps between 64 and 128 dB).
    chunk_size : int, default=256
        Files extracted between two records of progress.
    overwrite : bool, default=False
        Replace a store written with other files, labels or settings instead of
        refusing it.
    verbose : int, default=0
        Show a progress bar over files when positive.

    Returns
    -------
    store : FeatureStore
        The complete store, opened read-only.

    See Also
    --------
    open_feature_store : Open a complete store.
    LogMelExtractor : The features.

    Examples
    --------
    >>> from sktriplet.features import LogMelExtractor, write_feature_store
    >>> store = write_feature_store(
    ...     "features", ["a.wav", "b.wav"], extractor=LogMelExtractor(duration=1.0)
    ... )  # doctest: +SKIP
    >>> store.X.shape  # doctest: +SKIP
    (2, 101, 64)
    """
    path = Path(path)
    filenames, extractor, dtype = _check_args(
        filenames, extractor, y, classes, subset, dtype, chunk_size
    )
    header = _header(filenames, extractor, y, classes, subset, dtype)
    now = _stamps(filenames)  # a missing file fails before anything is written
    _prepare(path, header, overwrite, (filenames, y, classes, subset))
    n = len(filenames)
    done, stamps = _read_done(path, n)
    changed = done & (now != stamps).any(axis=1)
    if changed.any() and verbose:
        print(
            f"{int(changed.sum())} file(s) changed since they were extracted; "
            "extracting them again"
        )
    done &= ~changed
    todo = np.flatnonzero(~done)
    if verbose and n - len(todo):
        print(f"{n - len(todo)} of {n} clips already in {path}")
    if len(todo):
        info = _read_info(path)
        if info["complete"]:
            # Rows are about to change: no reader may trust the store meanwhile.
            atomic_write_text(path / _INFO, json.dumps({**info, "complete": False}))
        _fill(path, todo, filenames, extractor, done, now, chunk_size, verbose)
    atomic_write_text(path / _INFO, json.dumps({**header, "complete": True}, indent=1))
    return open_feature_store(path)


def _fill(path, todo, filenames, extractor, done, stamps, chunk_size, verbose):
    """Extract the rows ``todo``, recording each finished chunk."""
    X = np.load(path / _X, mmap_mode="r+", allow_pickle=False)
    bar = progress(
        range(len(todo)),
        enabled=bool(verbose),
        desc="log-mel",
        unit="clip",
        leave=False,
    )
    try:
        for start in range(0, len(todo), chunk_size):
            rows = todo[start : start + chunk_size]
            feats = extractor.transform([filenames[i] for i in rows])
            X[rows] = feats  # cast to the store's dtype
            X.flush()  # the rows reach the file before the record says so
            done[rows] = True
            _save_npz(path / _DONE, done=done, stamps=stamps)
            if verbose:
                bar.update(len(rows))
    finally:
        if verbose:
            bar.close()
        del X
