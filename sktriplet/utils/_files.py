"""Output paths checked before long work starts, not after it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
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


@contextmanager
def atomic_path(path, suffix: str = ""):
    """A temporary path beside ``path``, renamed to it when the block succeeds.

    An interrupt or an error leaves ``path`` as it was and removes the temporary
    file. ``suffix`` ends the temporary name (``np.savez`` adds ".npz" otherwise).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def publish_folder(tmp, root, is_complete) -> bool:
    """Move the finished folder ``tmp`` to ``root`` unless ``root`` is complete.

    For caches whose content is fixed by their name: when two processes build the
    same one at once, the first to finish wins and the others drop their copies,
    so a folder is never removed under a process already reading it. A leftover
    ``root`` that ``is_complete`` rejects is replaced. ``tmp`` is gone afterwards.
    Returns whether ``tmp`` became ``root``.
    """
    tmp, root = Path(tmp), Path(root)
    try:
        if is_complete(root):
            return False
        if root.exists():
            shutil.rmtree(root)
        try:
            os.replace(tmp, root)
        except OSError:
            # Another process published between the check and the rename.
            if not is_complete(root):
                raise
            return False
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _host_tag() -> str:
    # The host goes into work-folder names: on a folder shared between machines a
    # process id means nothing on the other hosts.
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "localhost"


def _process_is_running(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (``True`` when it cannot tell)."""
    if os.name == "nt":
        # os.kill(pid, 0) terminates the process on Windows: never sweep there.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def work_folder(root, kind: str) -> Path:
    """The hidden folder beside ``root`` where this process builds it.

    Named ``.<root name>.<kind>-<host>-<pid>`` so that
    :func:`sweep_abandoned_work` can tell the folders of dead processes apart.
    """
    root = Path(root)
    return root.parent / f".{root.name}.{kind}-{_host_tag()}-{os.getpid()}"


def sweep_abandoned_work(root, kind: str) -> list[Path]:
    """Remove the :func:`work_folder` folders of ``root`` left by dead processes.

    A process killed outright (``SIGKILL``, the out-of-memory killer) runs no
    cleanup, so its work folder stays behind. Only folders of this host whose
    process no longer exists are removed; those of running processes and of other
    hosts are left alone. Containers that share the folder must have distinct host
    names, since each sees only its own process ids. Returns the removed paths.
    """
    root = Path(root)
    host = re.escape(_host_tag())
    # Also the work folder's own work folder: a builder that writes through
    # atomic_folder into its work folder leaves ".<work folder>.partial-<host>-<pid>".
    pattern = re.compile(
        rf"(?P<outer>\.)?\.{re.escape(root.name)}\.{re.escape(kind)}-{host}-"
        rf"(?P<pid>[0-9]+)(?P<inner>\.[a-z]+-{host}-[0-9]+)?"
    )
    removed = []
    try:
        entries = list(root.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or bool(match["outer"]) != bool(match["inner"]):
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _process_is_running(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def atomic_folder(root):
    """A temporary folder beside ``root`` that replaces it when the block succeeds.

    An existing ``root`` is removed only then; an interrupt or an error leaves it
    as it was and removes the temporary folder. Temporary folders of ``root`` left
    by killed processes are removed first (:func:`sweep_abandoned_work`).
    """
    root = Path(root)
    sweep_abandoned_work(root, "partial")
    tmp = work_folder(root, "partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        publish_folder(tmp, root, is_complete=lambda _: False)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
