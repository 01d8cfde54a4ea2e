"""Data sets: the DCASE 2018 Task 4 loader and the embedded synthetic soundscapes."""

from ._dcase import (
    DCASE2018_CLASSES,
    DatasetLayoutError,
    load_dcase2018_task4,
)
from ._embedded import SOUNDSCAPE_PRESETS, load_domestic_soundscapes
from ._home import get_data_home
from ._synth import make_domestic_soundscapes

__all__ = [
    "DCASE2018_CLASSES",
    "DatasetLayoutError",
    "SOUNDSCAPE_PRESETS",
    "get_data_home",
    "load_dcase2018_task4",
    "load_domestic_soundscapes",
    "make_domestic_soundscapes",
]
