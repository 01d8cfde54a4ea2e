"""Output paths checked before long work starts, not after it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``: the only test root cannot fool."""
    fd, name = tempfile.mkstemp(prefix=".sktriplet-probe-", dir=folder)
    os.close(fd)
    os.unlink(name)


def check_writable_dir(path, name: str = "out") -> Path:
    """Create folder ``path`` if needed and make sure files can be written in it.

    Raises ``NotADirectoryError`` when ``path`` is a file, and the ``OSError`` of
    the failed creation or write (``PermissionError``, read-only file system...)
    with ``filename`` set, so that a caller can report the path and the cause.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"{name}={str(path)!r} is a file, expected a folder (or a path to create)."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
    except OSError as exc:
        if exc.filename is None or ".sktriplet-probe-" in str(exc.filename):
            exc.filename = str(path)
        raise
    return path


def check_writable_file(path, name: str = "out") -> Path:
    """Make sure file ``path`` can be written (its folder created if missing).

    Raises ``IsADirectoryError`` when ``path`` is a folder, and like
    :func:`check_writable_dir` when its folder cannot be created or written.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(
            f"{name}={str(path)!r} is a folder, expected a file path."
        )
    check_writable_dir(path.parent, name=f"the folder of {name}")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(13, "Permission denied", str(path))
    return path


def describe_os_error(exc: OSError) -> str:
    """One line naming the path and the cause of ``exc``."""
    if exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)
