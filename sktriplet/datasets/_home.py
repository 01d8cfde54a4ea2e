"""Where generated data and cached features live."""

from __future__ import annotations

import os
from pathlib import Path


def get_data_home(data_home=None) -> Path:
    """The folder for generated data sets and cached features.

    ``data_home`` if given, else ``$SKTRIPLET_DATA``, else ``~/.cache/sktriplet``,
    like :func:`sklearn.datasets.get_data_home`. A folder that does not exist yet is
    created readable and writable by the current user only (mode ``0o700``); an
    existing folder keeps its permissions.

    The feature cache under it (``features/``, a :class:`joblib.Memory`) is a store
    of pickles: loading a tampered cache runs arbitrary code. Keep the folder
    writable by you alone and never share it with untrusted users.

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
    if not path.is_dir():
        # Only the last component is ours to restrict; parents such as ~/.cache
        # get the usual mode.
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            # Created meanwhile by another process: leave its mode alone.
            if not path.is_dir():
                raise
        else:
            # mkdir's mode is filtered by the umask; set it exactly.
            path.chmod(0o700)
    return path
