"""Data sets: loaders for your own audio, DCASE 2018 Task 4, embedded soundscapes."""

from ._dcase import (
    DCASE2018_CLASSES,
    DatasetLayoutError,
    dcase2018_task4_paths,
    load_dcase2018_task4,
)
from ._embedded import SOUNDSCAPE_PRESETS, load_domestic_soundscapes
from ._folder import load_audio_folder
from ._home import get_data_home
from ._metadata import load_weak_labels
from ._sound_folder import make_sound_folder
from ._synth import make_domestic_soundscapes

__all__ = [
    "DCASE2018_CLASSES",
    "DatasetLayoutError",
    "SOUNDSCAPE_PRESETS",
    "dcase2018_task4_paths",
    "get_data_home",
    "load_audio_folder",
    "load_dcase2018_task4",
    "load_domestic_soundscapes",
    "load_weak_labels",
    "make_domestic_soundscapes",
    "make_sound_folder",
]
