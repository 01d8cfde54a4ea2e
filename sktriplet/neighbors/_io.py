"""The ``EmbeddingIndex`` file: one uncompressed zip archive, written atomically.

Members:

- ``sktriplet-index.json``: format name and version, parameters, shapes;
- ``<name>.npy``: vectors and metadata, read back with ``allow_pickle=False``;
- ``hnsw.bin``: the graph from ``hnswlib.Index.save_index`` (hnsw indexes only).

No member is a pickle, so loading a file runs no Python code from it (hnswlib still
parses ``hnsw.bin`` in C++: load files from sources you trust).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..utils._files import atomic_path, check_writable_file
from ._hnsw import load_hnsw

FORMAT_NAME = "sktriplet.neighbors.EmbeddingIndex"
#: Bumped whenever a change of the layout would make old readers misread a file.
FORMAT_VERSION = 1
HEADER = "sktriplet-index.json"
GRAPH = "hnsw.bin"


def write_index_file(path, header: dict, arrays: dict, graph=None) -> Path:
    """Write ``header``, ``arrays`` and the hnswlib ``graph`` to ``path``.

    Everything goes to a temporary file in the target folder first, renamed over
    ``path`` with ``os.replace`` once complete: a crash leaves the old file intact.
    """
    path = check_writable_file(path, name="path")
    tmp_graph = path.with_name(f".{path.name}.hnsw-{os.getpid()}")
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **header}
    try:
        with (
            atomic_path(path) as tmp,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf,
        ):
            zf.writestr(HEADER, json.dumps(header, indent=1))
            for name, arr in arrays.items():
                if arr is None:
                    continue
                with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)
            if graph is not None:
                graph.save_index(str(tmp_graph))
                zf.write(tmp_graph, GRAPH)
    finally:
        if tmp_graph.exists():
            tmp_graph.unlink()
    return path


def _not_an_index(path, why: str) -> ValueError:
    return ValueError(
        f"{str(path)!r} is not an EmbeddingIndex file ({why}); write one with "
        "EmbeddingIndex.save(path)."
    )


def read_index_file(path):
    """``(header, arrays, graph)`` of a file written by :func:`write_index_file`.

    ``graph`` is the loaded hnswlib index, or None for an exact index.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        if path.is_dir():
            raise IsADirectoryError(f"{str(path)!r} is a folder, expected a file.")
        raise FileNotFoundError(2, "No such file", str(path))
    if not zipfile.is_zipfile(path):
        raise _not_an_index(path, "not a zip archive")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if HEADER not in names:
            raise _not_an_index(path, f"no {HEADER} member")
        try:
            header = json.loads(zf.read(HEADER))
        except ValueError:
            raise _not_an_index(path, f"{HEADER} is not JSON") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise _not_an_index(path, "unknown format name")
        version = header.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} has index format version {version!r}; this version "
                f"of sktriplet reads versions up to {FORMAT_VERSION}. Upgrade "
                "sktriplet to load it."
            )
        arrays = {}
        for name in sorted(names):
            if name.endswith(".npy"):
                with zf.open(name) as f:
                    arrays[name[:-4]] = np.lib.format.read_array(f, allow_pickle=False)
        graph = None
        if header.get("method") == "hnsw":
            if GRAPH not in names:
                raise _not_an_index(path, f"an hnsw index without {GRAPH}")
            with tempfile.TemporaryDirectory(prefix="sktriplet-index-") as tmp:
                graph_path = Path(tmp) / GRAPH
                with zf.open(GRAPH) as src, open(graph_path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 2**22)
                graph = load_hnsw(
                    graph_path,
                    header["metric"],
                    dim=header["n_features"],
                    n=header["n_samples"],
                )
    return header, arrays, graph
