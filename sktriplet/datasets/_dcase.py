"""Loader for the DCASE 2018 Task 4 data set layout (the challenge baseline's)."""

from __future__ import annotations

from pathlib import Path

from sklearn.utils import Bunch

from ._metadata import _check_on_missing, _load_sources, _Source

#: The ten DCASE 2018 Task 4 classes, in the fixed (alphabetical) column order of ``y``.
DCASE2018_CLASSES = (
    "Alarm_bell_ringing",
    "Blender",
    "Cat",
    "Dishes",
    "Dog",
    "Electric_shaver_toothbrush",
    "Frying",
    "Running_water",
    "Speech",
    "Vacuum_cleaner",
)

# subset -> (metadata file under dataset/metadata, audio folder under dataset/audio,
# label kind)
SUBSETS = {
    "weak": ("train/weak.csv", "train/weak", "weak"),
    "unlabel_in_domain": (
        "train/unlabel_in_domain.csv",
        "train/unlabel_in_domain",
        None,
    ),
    "unlabel_out_of_domain": (
        "train/unlabel_out_of_domain.csv",
        "train/unlabel_out_of_domain",
        None,
    ),
    "test": ("test/test.csv", "test", "strong"),
    "eval": ("eval/eval.csv", "eval", "strong"),
}
DEFAULT_SUBSETS = ("weak", "unlabel_in_domain", "test", "eval")


class DatasetLayoutError(ValueError):
    """A folder is not laid out like the DCASE 2018 Task 4 data set."""


def dataset_dir(root) -> Path:
    """The ``dataset`` folder of a DCASE 2018 Task 4 root (or ``root`` itself)."""
    root = Path(root)
    for candidate in (root / "dataset", root):
        if (candidate / "metadata").is_dir():
            return candidate
    raise DatasetLayoutError(
        f"{root} is not a DCASE 2018 Task 4 root: expected a folder "
        f"'{root / 'dataset' / 'metadata'}' (with train/weak.csv, "
        "train/unlabel_in_domain.csv, test/test.csv, eval/eval.csv) and audio under "
        f"'{root / 'dataset' / 'audio'}'."
    )


def dcase2018_task4_paths(root, subsets=DEFAULT_SUBSETS) -> dict:
    """Where each subset of a DCASE 2018 Task 4 root keeps its metadata and audio.

    Nothing is read and the paths need not exist: a caller can check a layout
    before any work (see :func:`load_dcase2018_task4` for the subsets).

    Parameters
    ----------
    root : str or path-like
        The data set root: the folder holding ``dataset/metadata``, or the
        ``dataset`` folder itself.
    subsets : sequence of str, default=("weak", "unlabel_in_domain", "test", "eval")
        Subsets to locate, among ``"weak"``, ``"unlabel_in_domain"``,
        ``"unlabel_out_of_domain"``, ``"test"`` and ``"eval"``.

    Returns
    -------
    paths : dict
        ``{subset: (metadata_file, audio_folder)}``, two :class:`~pathlib.Path`.

    Raises
    ------
    DatasetLayoutError
        ``root`` has no ``metadata`` folder (in ``root/dataset`` or ``root``).
    ValueError
        An unknown subset name.

    See Also
    --------
    load_dcase2018_task4 : Read the subsets found there.

    Examples
    --------
    >>> from sktriplet.datasets import dcase2018_task4_paths
    >>> paths = dcase2018_task4_paths("DCASE2018-task4")  # doctest: +SKIP
    >>> paths["weak"][0].name  # doctest: +SKIP
    'weak.csv'
    """
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise ValueError(
            f"Unknown subset(s) {unknown}; valid subsets are {list(SUBSETS)}."
        )
    base = dataset_dir(root)
    return {
        s: (base / "metadata" / SUBSETS[s][0], base / "audio" / SUBSETS[s][1])
        for s in subsets
    }


def load_dcase2018_task4(
    root,
    subsets=DEFAULT_SUBSETS,
    *,
    on_missing: str = "raise",
) -> Bunch:
    """Load the clip list and clip-level tags of a DCASE 2018 Task 4 copy.

    Reads the layout distributed with the challenge baseline (or written by
    :func:`make_domestic_soundscapes`)::

        root/dataset/metadata/train/weak.csv        filename, event_labels
        root/dataset/metadata/train/unlabel_in_domain.csv   filename
        root/dataset/metadata/test/test.csv   filename, onset, offset, event_label
        root/dataset/metadata/eval/eval.csv   filename, onset, offset, event_label
        root/dataset/audio/train/weak/*.wav, .../train/unlabel_in_domain/*.wav,
        root/dataset/audio/test/*.wav, root/dataset/audio/eval/*.wav

    Files are tab-separated UTF-8 (a leading byte-order mark, as spreadsheet exports
    write, is accepted; so are comma-separated files, as :func:`load_weak_labels`
    reads them); weak labels may be separated by commas or semicolons.
    Strong labels become clip tags (the union of a clip's events); a row with an
    empty label is a clip with no event (a row of zeros in ``y``). A clip listed
    twice in ``weak.csv`` with different labels gets the union, with a warning
    naming the lines. File names are paths relative to the subset's audio folder:
    one that leads outside it (an absolute path, or ``..`` climbing out) is refused
    with a ``ValueError`` naming the metadata file and line, as is a subset whose
    metadata file has no rows. Symbolic links inside the folder are followed (as
    in git-annex and DataLad data sets).

    Parameters
    ----------
    root : str or path-like
        The folder holding ``dataset/`` (or the ``dataset`` folder itself).
    subsets : sequence of str, default=("weak", "unlabel_in_domain", "test", "eval")
        Subsets to load, in this order. Also available:
        ``"unlabel_out_of_domain"``.
    on_missing : {"raise", "skip"}, default="raise"
        What to do about clips listed in the metadata whose audio file is absent (real
        downloads miss some): raise a ``FileNotFoundError`` giving the count and the
        first names, or skip them with a warning giving the count.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``filenames`` (ndarray of str, absolute audio paths), ``y`` (int8 ndarray of
        shape (n_clips, 10): 1/0 tags, all ``-1`` for unlabelled clips),
        ``classes`` (the 10 class names), ``subset`` (ndarray of str, each clip's
        subset), ``n_missing`` (dict: clips skipped per subset), ``kinds`` (dict:
        each subset's label kind, ``"weak"``, ``"unlabeled"`` or ``"strong"``).

    See Also
    --------
    load_weak_labels : The same metadata formats in any layout, any label set.

    Examples
    --------
    >>> from sktriplet.datasets import load_dcase2018_task4
    >>> data = load_dcase2018_task4("DCASE2018-task4")  # doctest: +SKIP
    >>> data.y.shape  # doctest: +SKIP
    (16870, 10)
    """
    _check_on_missing(on_missing)
    if isinstance(subsets, str):
        subsets = (subsets,)
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown or not subsets:
        raise ValueError(
            f"Unknown subset(s) {unknown}; valid subsets are {list(SUBSETS)}."
            if unknown
            else "subsets is empty; valid subsets are " + str(list(SUBSETS))
        )
    base = dataset_dir(root)
    sources = []
    for subset in subsets:
        meta_rel, audio_rel, kind = SUBSETS[subset]
        meta_path = base / "metadata" / meta_rel
        if not meta_path.is_file():
            raise DatasetLayoutError(f"Missing metadata file: {meta_path}")
        sources.append(
            _Source(subset, meta_path, base / "audio" / audio_rel, kind or "unlabeled")
        )
    return _load_sources(sources, classes=DCASE2018_CLASSES, on_missing=on_missing)
