"""Where generated data and cached features live."""

from __future__ import annotations

import os
from pathlib import Path


def get_data_home(data_home=None) -> Path:
    """The folder for generated data sets and cached features.

    ``data_home`` if given, else ``$SKTRIPLET_DATA``, else ``~/.cache/sktriplet``
    (created if missing), like :func:`sklearn.datasets.get_data_home`.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use.

    Returns
    -------
    pathlib.Path
    """
    if data_home is None:
        data_home = (
            os.environ.get("SKTRIPLET_DATA") or Path.home() / ".cache" / "sktriplet"
        )
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
