"""``reproduce``: re-run the paper's experiments end to end, resumably."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..datasets import get_data_home
from ..utils._device import resolve_device
from ..utils._files import atomic_path, check_writable_dir
from ..utils._interrupt import ignore_interrupts_in_worker
from ..utils._progress import progress
from ._data import check_layout, embedded_root, load_features
from ._paper import PAPER_STRATEGIES, PAPER_TRIPLET_COUNTS
from ._report import write_report
from ._results import ResultsStore, check_config
from ._runner import DEFAULT_METHOD, ReproduceConfig, plan_cells, run_cell

#: Named settings (fields of :class:`ReproduceConfig`); explicit arguments win.
PRESETS = {
    # Table 2 on the small embedded data at the estimators' defaults: README
    # command 1. The headline rows over 3 seeds; of the side rows, the two that
    # S2 is compared with (S1 without labels, S3 with another unlabelled rule)
    # over one seed and none of the supervised S4 and S5: it must fit 25
    # minutes on 2 cores (25.4 with S4 and S5, 33.9 with every row on 3 seeds).
    "cpu": {"side_repeats": 1, "strategies": ("s1", "s2", "s3")},
    # The paper's sizes: its three triplet counts, the extra rows, Table 3, on
    # the DCASE-proportioned embedded data (or --data): hours, a GPU advised.
    "paper": {
        "tables": ("2", "3"),
        "scale": 1.0,
        "triplet_counts": PAPER_TRIPLET_COUNTS,
        "extras": True,
        "data_size": "dcase",
    },
    # A smoke run in a couple of minutes: tiny data, few triplets and epochs.
    "quick": {
        "tables": ("2", "3"),
        "scale": 0.002,
        "repeats": 1,
        "quick": True,
        "data_size": "quick",
        "triplet_counts": PAPER_TRIPLET_COUNTS,
        "embedder_epochs": 1,
        "tagger_epochs": 4,
        "labeled_shares": (0.75, 0.25),
    },
}


def reproduce(
    data=None,
    out="sktriplet_results",
    *,
    preset: str = "cpu",
    tables=None,
    scale: float | None = None,
    repeats: int | None = None,
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
        :func:`~sktriplet.datasets.make_domestic_soundscapes`); the features file
        of one (the ``.npz`` written by ``sktriplet features``, read as it is:
        the clips of its ``weak``, ``unlabel_in_domain``, ``test`` and ``eval``
        subsets, no extraction); or your own data: a
        folder with one sub-folder per class and an optional ``unlabeled/`` one
        (:func:`~sktriplet.datasets.load_audio_folder`), or a CSV/TSV metadata file
        (:func:`~sktriplet.datasets.load_weak_labels`). Own unlabelled clips are the
        unlabelled training clips; each class's labelled clips are split, with
        ``seed``, into 50 % weakly labelled training clips, 20 % ``test`` and 30 %
        ``eval`` (at least 3 clips per class); own clips are padded or cropped to
        the longest one, at least 1 s and at most 10 s. The per-class columns of
        ``results.csv`` and the t-SNE legend use the data's class names. ``None``
        generates the embedded soundscapes of the preset into ``cache_dir`` first.
    out : str or path-like, default="sktriplet_results"
        Output folder: ``results.csv``, ``table2.md``, ``table3.md``, PNG plots,
        ``config.json`` and ``embeddings/`` (segment embeddings for the t-SNE map).
    preset : {"cpu", "paper", "quick"}, default="cpu"
        ``"cpu"``: Table 2 (both baselines, S1-S3 with the paper's triplet loss
        and no fine-tuning, and the design card's one-liner at the estimators'
        defaults) on the small embedded data (60 labelled, 540 unlabelled
        clips), every embedder trained for 30 epochs of 2,048 triplets (the
        paper's 31,560 triplets per epoch scaled to the data); the headline
        rows (both baselines, S2 and the one-liner) over 3 seeds, S1 and S3 over
        one (``side_repeats=1``), the supervised S4 and S5 left out
        (``strategies=("s1", "s2", "s3", "s4", "s5")`` adds them); the user
        guide gives its run time.
        ``"paper"``: the paper's three triplet counts per epoch, its extra rows
        and Table 3, on the DCASE-proportioned embedded data; a GPU is advised.
        ``"quick"``: a smoke run of both tables in a couple of minutes.
    tables : sequence of {"2", "3"}, default=None
        Tables to run (the preset's when None).
    scale : float, default=None
        Factor applied to the paper's triplet counts per epoch (the preset's when
        None).
    repeats : int, default=None
        Seeds per cell, ``seed``, ``seed + 1``... (mean and spread; the preset's
        when None: 3, 1 for "quick"). Table 2's side rows (the strategies other
        than S2, and the extra rows) run ``side_repeats`` seeds when that
        setting is given (the "cpu" preset gives 1).
    seed : int, default=0
        Base seed; repeat ``r`` uses ``seed + r``. It also splits own data.
    device : str, default="auto"
        Torch device of the embedders and taggers.
    n_jobs : int, default=2
        Threads of feature extraction, and cells run at once on the CPU (worker
        processes with one torch thread each; 1 runs them in this process).
    quick : bool, default=False
        Same as ``preset="quick"``.
    force : bool, default=False
        Discard results in ``out`` that came from another configuration.
    cache_dir : str or path-like, default=None
        Where generated data and features are cached; see
        :func:`~sktriplet.datasets.get_data_home`.
    verbose : int, default=1
        Progress bars and the printed tables when positive.
    **settings
        Other :class:`ReproduceConfig` fields (``side_repeats``,
        ``embedder_epochs``, ``tagger_epochs``, ``batch_size``, ``frame_pool``,
        ``extras``, ``tsne``, ``triplet_counts``, ``labeled_shares``).

    Returns
    -------
    dict
        ``{"table2.md": text, "table3.md": text}`` for the tables written.

    Examples
    --------
    >>> from sktriplet.experiments import reproduce
    >>> reproduce(out="results", preset="quick")  # doctest: +SKIP
    """
    if quick:
        preset = "quick"
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}.")
    chosen = dict(PRESETS[preset])
    if tables is not None:
        chosen["tables"] = tuple(
            str(t) for t in ([tables] if isinstance(tables, (str, int)) else tables)
        )
    if scale is not None:
        chosen["scale"] = scale
    if repeats is not None:
        chosen["repeats"] = int(repeats)
    unknown = set(settings) - set(ReproduceConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"Unknown reproduce settings: {sorted(unknown)}.")
    chosen.update({k: v for k, v in settings.items() if v is not None})
    config = ReproduceConfig(seed=seed, device=device, n_jobs=n_jobs, **chosen)
    if not config.tables or any(t not in ("2", "3") for t in config.tables):
        raise ValueError(f"tables must be a subset of ('2', '3'); got {config.tables}.")
    if not config.scale > 0:
        raise ValueError(f"scale must be positive; got {config.scale}.")
    if config.repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {config.repeats}.")
    if config.side_repeats is not None and config.side_repeats < 1:
        raise ValueError(f"side_repeats must be >= 1; got {config.side_repeats}.")
    if int(config.frame_pool) < 1:
        raise ValueError(f"frame_pool must be >= 1; got {config.frame_pool}.")
    started = time.perf_counter()
    # Fail now, not after the data and features took minutes.
    if data is not None:
        check_layout(data, seed=seed)
    out = check_writable_dir(out, name="out")
    cache_dir = check_writable_dir(
        get_data_home() if cache_dir is None else cache_dir, name="cache_dir"
    )
    root = (
        data
        if data is not None
        else embedded_root(cache_dir, config.data_size, seed, verbose=verbose)
    )
    dataset = load_features(root, cache_dir, seed=seed, n_jobs=n_jobs, verbose=verbose)
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
    results = _run_cells(longest_first(pending), dataset, config)
    try:
        for cell, (row, embedder) in progress(
            results,
            enabled=bool(verbose),
            total=len(pending),
            desc="cells",
            unit="cell",
        ):
            store.add(row)
            if (
                config.tsne
                and embedder is not None
                and cell.table == "2"
                and cell.method in PAPER_STRATEGIES
                and cell.n_triplets == largest
                and cell.repeat == 0
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
        minutes = (time.perf_counter() - started) / 60
        print(f"{len(pending)} cells run in {minutes:.1f} min (preset {preset!r})")
    return written


def longest_first(cells):
    """The cells in a good order for two or more workers: the longest first.

    Run in plan order, the main job's last minutes were one worker finishing a
    one-liner cell while the other sat idle. A stable sort on a rough cost
    (fine-tuned embedder > triplet embedder > CRNN > classifier on log-mel, more
    triplets first) keeps the short cells for the end.
    """
    rank = {DEFAULT_METHOD: 0, "crnn": 2, "logmel": 3}
    return sorted(
        cells, key=lambda c: (rank.get(c.method, 1), -(c.n_triplets or 0))
    )


def _run_cells(cells, data, config):
    """``(cell, (row, embedder))`` of each cell, as each one finishes.

    With ``n_jobs > 1`` on the CPU, cells run in that many worker processes with
    one torch thread each: the paper's small networks use two cores better as two
    fits than as one fit on two threads. Rows are still written by this process,
    one at a time.
    """
    n_jobs = int(config.n_jobs)
    on_cpu = resolve_device(config.device) == "cpu"
    if n_jobs == 1 or not on_cpu or len(cells) < 2:
        for cell in cells:
            yield cell, run_cell(cell, data, config)
        return
    from joblib import Parallel, delayed

    jobs = Parallel(
        n_jobs=n_jobs,
        return_as="generator_unordered",
        initializer=ignore_interrupts_in_worker,
    )(delayed(_run_cell_one_thread)(cell, data, config) for cell in cells)
    yield from jobs


def _run_cell_one_thread(cell, data, config):
    import torch

    torch.set_num_threads(1)
    return cell, run_cell(cell, data, config)


def _save_segment_embeddings(out, method, embedder, data, seed, max_segments=1500):
    """Embeddings of eval segments (a random subset) for the t-SNE figure."""
    rows = data.rows("eval")
    Z = embedder.transform_segments(data.clips(rows))
    per_clip = len(Z) // len(rows)
    y = np.repeat(data.y[rows], per_clip, axis=0)
    keep = np.random.default_rng(seed).permutation(len(Z))[:max_segments]
    folder = Path(out) / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{method}.npz", suffix=".npz") as tmp:
        np.savez(tmp, Z=Z[keep], y=y[keep])
