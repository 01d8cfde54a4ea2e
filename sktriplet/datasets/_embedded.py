"""The embedded soundscapes with their features, generated once and cached."""

from __future__ import annotations

from sklearn.utils import Bunch

from ._dcase import load_dcase2018_task4
from ._home import get_data_home
from ._synth import DATA_VERSION, make_domestic_soundscapes


def load_domestic_soundscapes(
    *,
    n_labeled: int = 60,
    n_unlabeled: int = 540,
    n_test: int = 60,
    n_eval: int = 100,
    features: bool = True,
    data_home=None,
    n_jobs: int | None = 2,
    verbose: int = 0,
    random_state: int = 0,
) -> Bunch:
    """The embedded soundscapes and their log-mel features, cached in ``data_home``.

    The first call for given sizes and seed writes the data set with
    :func:`make_domestic_soundscapes` under ``data_home`` and extracts its features
    with :class:`~sktriplet.LogMelExtractor` (cached with ``joblib.Memory``); later
    calls read both from disk.

    Parameters
    ----------
    n_labeled, n_unlabeled, n_test, n_eval : int
        Clips per subset (see :func:`make_domestic_soundscapes`).
    features : bool, default=True
        Also return the log-mel features ``X``.
    data_home : str or path-like, default=None
        Cache folder; see :func:`get_data_home`.
    n_jobs : int, default=2
        Workers for generation and feature extraction.
    verbose : int, default=0
        Progress bars when positive.
    random_state : int, default=0
        Seed of the generated data.

    Returns
    -------
    data : sklearn.utils.Bunch
        As :func:`load_dcase2018_task4` (``filenames``, ``y``, ``classes``,
        ``subset``), plus ``root`` and, with ``features``, ``X`` of shape
        ``(n_clips, 1001, 64)``.

    Examples
    --------
    >>> from sktriplet.datasets import load_domestic_soundscapes
    >>> data = load_domestic_soundscapes(n_labeled=4, n_unlabeled=4, n_test=2,
    ...                                  n_eval=2)  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (12, 1001, 64)
    """
    home = get_data_home(data_home)
    # The data version in the name: a folder written by an older generator is never
    # reused.
    sizes = f"{n_labeled}-{n_unlabeled}-{n_test}-{n_eval}"
    name = f"soundscapes-v{DATA_VERSION}-{sizes}-seed{random_state}"
    root = home / name
    if not (root / "dataset" / "metadata").is_dir():
        make_domestic_soundscapes(
            root,
            n_labeled=n_labeled,
            n_unlabeled=n_unlabeled,
            n_test=n_test,
            n_eval=n_eval,
            overwrite=True,
            n_jobs=n_jobs,
            verbose=verbose,
            random_state=random_state,
        )
    data = load_dcase2018_task4(root)
    data.root = root
    if features:
        from ..features import LogMelExtractor

        extractor = LogMelExtractor(
            n_jobs=n_jobs, memory=home / "features", verbose=verbose
        )
        data.X = extractor.fit_transform(list(data.filenames))
    return data
