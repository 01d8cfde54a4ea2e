"""The embedded soundscapes with their features, generated once and cached."""

from __future__ import annotations

from pathlib import Path

from sklearn.utils import Bunch

from ..utils._files import publish_folder, sweep_abandoned_work, work_folder
from ._dcase import load_dcase2018_task4
from ._home import get_data_home
from ._synth import DATA_VERSION, make_domestic_soundscapes

#: Clip counts of the presets of :func:`load_domestic_soundscapes`: ``"small"``
#: (the default) keeps DCASE 2018 Task 4's label scarcity at a small size;
#: ``"dcase"`` is proportioned like DCASE 2018 Task 4 (1,578 weak, 14,412
#: unlabelled in-domain, 288 test and 880 eval clips), scaled down to fit a CPU.
SOUNDSCAPE_PRESETS = {
    "small": {"n_labeled": 60, "n_unlabeled": 540, "n_test": 100, "n_eval": 200},
    "dcase": {"n_labeled": 300, "n_unlabeled": 2700, "n_test": 150, "n_eval": 300},
}


def subsets_with_clips(sizes) -> tuple[str, ...]:
    """The subsets of the default layout that ``sizes`` (``n_labeled``...) fills."""
    count = {
        "weak": sizes["n_labeled"],
        "unlabel_in_domain": sizes["n_unlabeled"],
        "test": sizes["n_test"],
        "eval": sizes["n_eval"],
    }
    return tuple(subset for subset, n in count.items() if n)


def cache_name(sizes, random_state) -> str:
    """The cache folder name of one data set: data version, sizes and seed."""
    counts = "-".join(str(sizes[k]) for k in SOUNDSCAPE_PRESETS["small"])
    return f"soundscapes-v{DATA_VERSION}-{counts}-seed{random_state}"


def _is_complete(root: Path) -> bool:
    return (root / "dataset" / "metadata").is_dir()


def load_domestic_soundscapes(
    *,
    preset: str = "small",
    n_labeled: int | None = None,
    n_unlabeled: int | None = None,
    n_test: int | None = None,
    n_eval: int | None = None,
    features: bool = True,
    data_home=None,
    n_jobs: int | None = 2,
    verbose: int = 0,
    random_state: int = 0,
) -> Bunch:
    """The embedded soundscapes and their log-mel features, cached in ``data_home``.

    The first call for given sizes and seed writes the data set with
    :func:`make_domestic_soundscapes` (default sources, rooms and SNRs: evaluation
    clips partly hold sources and rooms never heard in training) under
    ``data_home`` and extracts its features with :class:`~sktriplet.LogMelExtractor`
    (cached with ``joblib.Memory``); later calls read both from disk. The cache
    folder name holds the generator's data version, so a data set written by an
    older generator is never reused.

    Parameters
    ----------
    preset : {"small", "dcase"}, default="small"
        Clip counts (see ``SOUNDSCAPE_PRESETS``): ``"small"`` is 60 labelled,
        540 unlabelled, 100 test and 200 eval clips; ``"dcase"`` is proportioned
        like DCASE 2018 Task 4: 300 labelled, 2,700 unlabelled, 150 test and 300
        eval clips.
    n_labeled, n_unlabeled, n_test, n_eval : int, default=None
        Clips per subset (see :func:`make_domestic_soundscapes`); a value given
        overrides the preset's.
    features : bool, default=True
        Also return the log-mel features ``X``.
    data_home : str or path-like, default=None
        Cache folder; see :func:`get_data_home`.
    n_jobs : int, default=2
        Workers for generation and feature extraction.
    verbose : int, default=0
        Progress bars when positive.
    random_state : int, default=0
        Seed of the generated data: another seed gives other sources and rooms.

    Returns
    -------
    data : sklearn.utils.Bunch
        As :func:`load_dcase2018_task4` (``filenames``, ``y``, ``classes``,
        ``subset``), plus ``root`` and, with ``features``, ``X`` of shape
        ``(n_clips, 1001, 64)``.

    See Also
    --------
    make_domestic_soundscapes : Write the data set anywhere, with every knob.

    Examples
    --------
    >>> from sktriplet.datasets import SOUNDSCAPE_PRESETS, load_domestic_soundscapes
    >>> SOUNDSCAPE_PRESETS["dcase"]["n_labeled"]
    300
    >>> data = load_domestic_soundscapes(n_labeled=4, n_unlabeled=4, n_test=2,
    ...                                  n_eval=2)  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (12, 1001, 64)
    """
    if not isinstance(preset, str) or preset not in SOUNDSCAPE_PRESETS:
        raise ValueError(
            f"preset must be one of {sorted(SOUNDSCAPE_PRESETS)}; got {preset!r}."
        )
    given = {
        "n_labeled": n_labeled,
        "n_unlabeled": n_unlabeled,
        "n_test": n_test,
        "n_eval": n_eval,
    }
    sizes = {
        name: SOUNDSCAPE_PRESETS[preset][name] if value is None else value
        for name, value in given.items()
    }
    home = get_data_home(data_home)
    root = home / cache_name(sizes, random_state)
    if not _is_complete(root):
        # Each process builds its own copy, so that two jobs loading the same
        # data set at once never delete the folder the other is reading.
        sweep_abandoned_work(root, "staging")
        staging = work_folder(root, "staging")
        make_domestic_soundscapes(
            staging,
            **sizes,
            overwrite=True,
            n_jobs=n_jobs,
            verbose=verbose,
            random_state=random_state,
        )
        publish_folder(staging, root, _is_complete)
    data = load_dcase2018_task4(root, subsets_with_clips(sizes))
    data.root = root
    if features:
        from ..features import LogMelExtractor

        extractor = LogMelExtractor(
            n_jobs=n_jobs, memory=home / "features", verbose=verbose
        )
        data.X = extractor.fit_transform(list(data.filenames))
    return data
