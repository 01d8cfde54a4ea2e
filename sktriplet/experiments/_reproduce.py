"""``reproduce``: re-run the paper's experiments end to end, resumably."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..datasets import get_data_home
from ..utils._progress import progress
from ._data import embedded_root, load_features
from ._paper import STRATEGIES
from ._report import write_report
from ._results import ResultsStore, check_config
from ._runner import ReproduceConfig, plan_cells, run_cell

#: What ``quick=True`` changes: a smoke run in a couple of minutes.
QUICK_SETTINGS = {
    "scale": 0.002,
    "repeats": 2,
    "embedder_epochs": 1,
    "tagger_epochs": 4,
    "labeled_shares": (0.75, 0.25),
}


def reproduce(
    data=None,
    out="sktriplet_results",
    *,
    tables=("2", "3"),
    scale: float = 0.01,
    repeats: int = 2,
    seed: int = 0,
    device: str = "auto",
    n_jobs: int = 2,
    quick: bool = False,
    force: bool = False,
    cache_dir=None,
    verbose: int = 1,
    **settings,
) -> dict:
    """Re-run the paper's Table 2 and Table 3 experiments and write their report.

    Parameters
    ----------
    data : str or path-like, default=None
        A DCASE 2018 Task 4 root (the real data, or one written by
        :func:`~sktriplet.datasets.make_domestic_soundscapes`). ``None`` generates
        the embedded soundscapes into ``cache_dir`` first.
    out : str or path-like, default="sktriplet_results"
        Output folder: ``results.csv``, ``table2.md``, ``table3.md``, PNG plots,
        ``config.json`` and ``embeddings/`` (segment embeddings for the t-SNE map).
    tables : sequence of {"2", "3"}, default=("2", "3")
        Tables to run.
    scale : float, default=0.01
        Factor applied to the paper's triplet counts (31,560 / 85,780 / 159,900).
    repeats : int, default=2
        Runs per Table 3 cell (mean and 95 % confidence interval).
    seed : int, default=0
        Base seed; repeat ``r`` uses ``seed + r``.
    device : str, default="auto"
        Torch device of the embedders and taggers.
    n_jobs : int, default=2
        Threads of feature extraction.
    quick : bool, default=False
        Smoke-run sizes (small data, few triplets and epochs).
    force : bool, default=False
        Discard results in ``out`` that came from another configuration.
    cache_dir : str or path-like, default=None
        Where generated data and features are cached; see
        :func:`~sktriplet.datasets.get_data_home`.
    verbose : int, default=1
        Progress bars and the printed tables when positive.
    **settings
        Other :class:`ReproduceConfig` fields (``embedder_epochs``,
        ``tagger_epochs``, ``batch_size``, ``frame_pool``, ``extras``, ``tsne``).

    Returns
    -------
    dict
        ``{"table2.md": text, "table3.md": text}`` for the tables written.

    Examples
    --------
    >>> from sktriplet.experiments import reproduce
    >>> reproduce(out="results", quick=True)  # doctest: +SKIP
    """
    tables = tuple(
        str(t) for t in ([tables] if isinstance(tables, (str, int)) else tables)
    )
    bad = [t for t in tables if t not in ("2", "3")]
    if bad or not tables:
        raise ValueError(f"tables must be a subset of ('2', '3'); got {tables}.")
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale}.")
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}.")
    config = ReproduceConfig(
        tables=tables,
        scale=scale,
        repeats=int(repeats),
        seed=seed,
        device=device,
        n_jobs=n_jobs,
        quick=quick,
    )
    if quick:
        config = replace(config, **QUICK_SETTINGS)
    if settings:
        unknown = set(settings) - set(ReproduceConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"Unknown reproduce settings: {sorted(unknown)}.")
        config = replace(config, **settings)
    if int(config.frame_pool) < 1:
        raise ValueError(f"frame_pool must be >= 1; got {config.frame_pool}.")
    cache_dir = get_data_home(cache_dir)
    root = (
        data
        if data is not None
        else embedded_root(
            cache_dir, "quick" if quick else "full", seed, verbose=verbose
        )
    )
    dataset = load_features(root, cache_dir, n_jobs=n_jobs, verbose=verbose)
    out = Path(out)
    check_config(out, config.fingerprint(dataset), force)
    store = ResultsStore(out / "results.csv", dataset.classes)
    cells = plan_cells(config)
    pending = [c for c in cells if c.key not in store]
    if verbose:
        print(
            f"{len(cells)} cells, {len(cells) - len(pending)} already in "
            f"{out / 'results.csv'}; running {len(pending)}"
        )
    largest = max(config.scaled_counts())
    try:
        for cell in progress(pending, enabled=bool(verbose), desc="cells", unit="cell"):
            row, embedder = run_cell(cell, dataset, config)
            store.add(row)
            if (
                config.tsne
                and embedder is not None
                and cell.table == "2"
                and cell.method in STRATEGIES
                and cell.n_triplets == largest
            ):
                _save_segment_embeddings(out, cell.method, embedder, dataset, seed)
    finally:
        written = (
            write_report(
                out, config.triplet_counts, config.scaled_counts(), dataset.classes
            )
            if len(store)
            else {}
        )
    if verbose:
        for text in written.values():
            print(text)
    return written


def _save_segment_embeddings(out, method, embedder, data, seed, max_segments=1500):
    """Embeddings of eval segments (a random subset) for the t-SNE figure."""
    rows = data.rows("eval")
    Z = embedder.transform_segments(data.X[rows])
    per_clip = len(Z) // len(rows)
    y = np.repeat(data.y[rows], per_clip, axis=0)
    keep = np.random.default_rng(seed).permutation(len(Z))[:max_segments]
    folder = Path(out) / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{method}.partial.npz"
    np.savez(tmp, Z=Z[keep], y=y[keep])
    os.replace(tmp, folder / f"{method}.npz")
