"""Reading big clip arrays (memory-mapped ``.npy`` files) a chunk of clips at a time.

A memory-mapped ``X`` (``np.load(path, mmap_mode="r")``) is never copied whole:
the estimators convert, check and pool it a chunk of clips at a time
(:func:`iter_chunks`), so a float16 file becomes float32 one chunk at a time.

Pages of a file mapping that the process has read count in its resident memory
(``RssFile``) until they are unmapped, and the kernel rarely unmaps them while memory
is free: one pass over a 6 GB memmap would leave 6 GB resident. After each chunk of
a read-only mapping (mode ``"r"``) has been used, :func:`release_pages` tells the
kernel that the process no longer needs those pages (``madvise(MADV_DONTNEED)``):
they leave the process (they stay in the page cache, so a later read is still fast)
and the file is neither written nor changed. Writable or copy-on-write mappings are
left alone, as private changes would be lost.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

#: Bytes of float32 clips per chunk: big enough for numpy to run at full speed,
#: small next to any memory budget.
CHUNK_BYTES = 64 * 2**20

#: Whether :func:`iter_chunks` releases the mapped pages it has read; the memmap
#: benchmark turns it off to measure what it saves.
RELEASE_PAGES = True


def clip_chunks(n_clips: int, clip_bytes: int, chunk_bytes: int | None = None):
    """Slices of consecutive clips of about ``chunk_bytes`` each (at least one clip).

    Parameters
    ----------
    n_clips : int
        Clips to cover.
    clip_bytes : int
        Bytes of one clip.
    chunk_bytes : int, default=None
        Target bytes per chunk; None means ``CHUNK_BYTES``.

    Returns
    -------
    list of slice
        Covering ``range(n_clips)`` in order.
    """
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    step = max(1, int(chunk_bytes) // max(1, int(clip_bytes)))
    return [slice(s, min(s + step, n_clips)) for s in range(0, n_clips, step)]


def file_mapping(X):
    """The read-only ``mmap.mmap`` that ``X`` is a view of, or None.

    Only an array whose memory lies in a file mapped with mode ``"r"``
    (``np.load(..., mmap_mode="r")``, ``np.memmap(..., mode="r")`` and their
    slices) has one; in-memory, writable and copy-on-write arrays do not.
    """
    obj = X
    while obj is not None:
        if isinstance(obj, np.memmap):
            mm = getattr(obj, "_mmap", None)
            if obj.mode == "r" and isinstance(mm, mmap.mmap):
                return mm
            return None
        if isinstance(obj, mmap.mmap):
            return None  # mode unknown: leave it alone
        obj = getattr(obj, "base", None)
    return None


def is_file_backed(X) -> bool:
    """Whether ``X`` is a view of a memory-mapped file (any mode)."""
    obj = X
    while obj is not None:
        if isinstance(obj, (np.memmap, mmap.mmap)):
            return True
        obj = getattr(obj, "base", None)
    return False


def release_pages(view: np.ndarray) -> None:
    """Drop the process's mapping of the file pages under ``view`` (read-only maps).

    The pages stay in the page cache and the file is unchanged; the next read of
    them maps them again. Does nothing for arrays that are not views of a
    read-only file mapping, or where ``madvise`` is missing (not Linux/macOS).
    """
    mm = file_mapping(view)
    if mm is None or view.size == 0 or not hasattr(mm, "madvise"):
        return
    base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    lo = view.ctypes.data - base
    hi = lo + view.nbytes
    if not view.flags.c_contiguous:  # a strided view: release its whole span
        hi = lo + (view.shape[0] * abs(view.strides[0]) if view.ndim else view.nbytes)
    page = mmap.PAGESIZE
    start = max(0, lo // page * page)
    stop = min(len(mm), -(-hi // page) * page)
    if stop > start:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)


def iter_chunks(
    X, *, dtype=np.float32, chunk_bytes: int | None = None
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, X[rows] as dtype)`` for consecutive chunks of clips of ``X``.

    A chunk of an in-memory array of ``dtype`` is a view; a chunk of another
    dtype, or of a memory-mapped file, is a converted copy, so the file is only
    read. Once the caller has used a chunk (the next one is requested), the pages
    of a read-only file mapping that it came from are released
    (:func:`release_pages`).

    Parameters
    ----------
    X : ndarray of shape (n_clips, ...)
        Clips, possibly a memory-mapped file.
    dtype : numpy dtype, default=np.float32
        dtype of the chunks.
    chunk_bytes : int, default=None
        About how many bytes of ``dtype`` per chunk; None means ``CHUNK_BYTES``.

    Yields
    ------
    rows : slice
        Clips of the chunk.
    chunk : ndarray
        ``X[rows]`` as ``dtype``.
    """
    dtype = np.dtype(dtype)
    clip_bytes = int(np.prod(X.shape[1:], dtype=np.int64)) * dtype.itemsize
    mapped = is_file_backed(X)
    for rows in clip_chunks(len(X), clip_bytes, chunk_bytes):
        part = X[rows]
        if mapped:
            chunk = np.array(part, dtype=dtype, copy=True)
        else:
            chunk = np.asarray(part, dtype=dtype)
        yield rows, chunk
        if mapped and RELEASE_PAGES:
            release_pages(part)


def count_nonfinite(X, *, lengths=None, chunk_bytes: int | None = None) -> int:
    """Number of NaN or infinite values among the real frames of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_clips, n_frames, n_features)
        Clips, possibly a memory-mapped file (read a chunk at a time).
    lengths : ndarray of shape (n_clips,), default=None
        Real frames of each clip; frames past them are not checked.
    chunk_bytes : int, default=None
        About how many bytes per chunk; None means ``CHUNK_BYTES``.

    Returns
    -------
    int
    """
    if X.dtype.kind not in "fc":
        return 0  # integers and booleans are finite
    n_bad = 0
    for rows, chunk in iter_chunks(X, dtype=X.dtype, chunk_bytes=chunk_bytes):
        # A sum is finite exactly when no value is NaN or infinite, unless it
        # overflows: only then are the values looked at one by one.
        if np.isfinite(chunk.sum(dtype=np.float64)):
            continue
        bad = ~np.isfinite(chunk)
        if lengths is not None:
            bad &= (np.arange(chunk.shape[1]) < lengths[rows, None])[..., None]
        n_bad += int(bad.sum())
    return n_bad
