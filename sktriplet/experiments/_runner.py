"""Cells of the paper's tables and how one is run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..features import FramePooling
from ..metrics import classification_report, macro_f1_score
from ..model_selection import mask_labels
from ..utils._device import resolve_device
from ._data import ExperimentData
from ._paper import PAPER_LABELED_SHARES, PAPER_TRIPLET_COUNTS, STRATEGIES
from ._selection import BestEpochOnHeldOut

#: Table 2 rows beyond the paper: its two remedies for S3 and its joint objective.
EXTRA_METHODS = ("s3_knn", "s3_farther", "s2_joint")
BASELINES = ("logmel", "crnn")


@dataclass
class ReproduceConfig:
    """Settings of a reproduction run (see :func:`reproduce`)."""

    tables: tuple[str, ...] = ("2",)
    scale: float = 2048 / 31_560
    repeats: int = 3
    seed: int = 0
    device: str = "auto"
    n_jobs: int = 2
    quick: bool = False
    data_size: str = "small"
    embedder_epochs: int | None = None
    tagger_epochs: int | None = None
    batch_size: int | None = None
    frame_pool: int = 10
    extras: bool = False
    tsne: bool = True
    strategies: tuple[str, ...] = STRATEGIES
    triplet_counts: tuple[int, ...] = (PAPER_TRIPLET_COUNTS[0],)
    labeled_shares: tuple[float, ...] = PAPER_LABELED_SHARES

    def scaled_counts(self) -> list[int]:
        return [max(int(round(c * self.scale)), 1) for c in self.triplet_counts]

    def fingerprint(self, data: ExperimentData) -> dict:
        """What makes two runs' results comparable (tables and repeats may grow)."""
        keep = (
            "scale",
            "quick",
            "data_size",
            "embedder_epochs",
            "tagger_epochs",
            "batch_size",
            "frame_pool",
            "triplet_counts",
        )
        cfg = {k: v for k, v in asdict(self).items() if k in keep}
        cfg["triplet_counts"] = list(cfg["triplet_counts"])
        cfg["data"] = str(Path(data.root).resolve())
        cfg["clips"] = data.describe()
        # Own data: its classes, split and clip length (absent for a DCASE root,
        # so that earlier config.json files still match).
        cfg.update(data.preparation)
        return cfg


@dataclass(frozen=True)
class Cell:
    """One run: a method, a triplet count, a labelled share and a seed."""

    table: str
    method: str
    n_triplets: int | None
    labeled_share: float | None
    repeat: int
    seed: int

    @property
    def key(self) -> str:
        share = "" if self.labeled_share is None else f"{self.labeled_share:g}"
        trip = "" if self.n_triplets is None else str(self.n_triplets)
        return f"t{self.table}/{self.method}/{trip}/{share}/r{self.repeat}"


def plan_cells(config: ReproduceConfig) -> list[Cell]:
    """All cells of the requested tables, baselines first, repeat by repeat."""
    cells = []
    counts = config.scaled_counts()
    middle = counts[len(counts) // 2]
    if "2" in config.tables:
        methods = list(config.strategies)
        if config.extras:
            methods += list(EXTRA_METHODS)
        for r in range(config.repeats):
            seed = config.seed + r
            for method in BASELINES:
                cells.append(Cell("2", method, None, None, r, seed))
            for method in methods:
                # The extra rows are measured at the middle count only.
                for n in counts if method in STRATEGIES else [middle]:
                    cells.append(Cell("2", method, n, None, r, seed))
    if "3" in config.tables:
        n = middle
        for method in ("s2", "s3"):
            for share in config.labeled_shares:
                for r in range(config.repeats):
                    cells.append(Cell("3", method, n, share, r, config.seed + r))
    return cells


def make_embedder(method: str, n_triplets: int, config: ReproduceConfig, seed: int):
    """The :class:`TripletEmbedder` of a Table 2/3 method."""
    from ..embedding import TripletEmbedder
    from ..sampling import get_sampler

    params = {
        "n_triplets": n_triplets,
        "loss": "triplet",  # the paper's objective in the paper's tables
        "frame_pool": config.frame_pool,
        "device": config.device,
        "random_state": seed,
        "verbose": 0,
    }
    # None keeps the estimator's default.
    if config.embedder_epochs is not None:
        params["max_epochs"] = config.embedder_epochs
    if config.batch_size is not None:
        params["batch_size"] = config.batch_size
    if method in STRATEGIES:
        return TripletEmbedder(strategy=method, **params)
    if method == "s3_knn":
        # The paper's first remedy: a positive drawn among the k nearest.
        sampler = get_sampler("s3", unlabeled__positive__n_neighbors=5)
        return TripletEmbedder(strategy=sampler, **params)
    if method == "s3_farther":
        # The second: the nearest neighbour farther than a transformed anchor.
        sampler = get_sampler(
            "s3",
            unlabeled__positive__farther_than_transform=True,
            unlabeled__positive__n_candidates=32,
            unlabeled__positive__random_state=seed,
        )
        return TripletEmbedder(strategy=sampler, **params)
    if method == "s2_joint":
        return TripletEmbedder(strategy="s2", classification_weight=1.0, **params)
    raise ValueError(f"Unknown method {method!r}.")


def _tagger(method: str, config: ReproduceConfig, seed: int, X_test, y_test):
    from ..tagging import CRNNTagger, SequenceTagger

    params = {
        "frame_pool": 1,  # run_cell hands over pooled frames
        "device": config.device,
        "random_state": seed,
        "callbacks": [BestEpochOnHeldOut(X_test, y_test)],
    }
    if config.tagger_epochs is not None:
        params["max_epochs"] = config.tagger_epochs
    if method == "crnn":
        return CRNNTagger(**params)
    return SequenceTagger(**params)


def run_cell(cell: Cell, data: ExperimentData, config: ReproduceConfig):
    """Fit and score one cell; returns ``(row, embedder_or_None)``.

    Table 2 trains the embedder on the weakly labelled and unlabelled training clips;
    Table 3 trains it on the weakly labelled clips only, a share ``labeled_share`` of
    them keeping their labels and the rest treated as unlabelled. The tagger learns
    on the labelled training clips, its best epoch is chosen on ``test`` and the cell
    reports macro-F1 on ``eval``, as in the paper.
    """
    rng_seed = cell.seed
    if cell.table == "3":
        train = data.rows("weak")
        y_train = mask_labels(data.y[train], cell.labeled_share, random_state=rng_seed)
    else:
        train = data.rows("weak", "unlabel_in_domain")
        y_train = data.y[train]
    labeled = train[(y_train >= 0).all(axis=1)]
    y_labeled = y_train[(y_train >= 0).all(axis=1)]
    test, evaluation = data.rows("test"), data.rows("eval")

    start = time.perf_counter()
    embedder = None
    if cell.method in BASELINES:
        # Pooling frames makes the recurrent taggers ~10x cheaper at no cost in
        # macro-F1 (user guide); frame_pool=1 is the paper's setting.
        pool = FramePooling(config.frame_pool).fit(data.X[labeled])
        Z_lab, Z_test, Z_eval = (
            pool.transform(data.X[rows]) for rows in (labeled, test, evaluation)
        )
        device = resolve_device(config.device)
    else:  # the embedder pools its input by frame_pool itself
        embedder = make_embedder(cell.method, cell.n_triplets, config, rng_seed)
        embedder.fit(data.X[train], y_train)
        Z_lab = embedder.transform(data.X[labeled])
        Z_test = embedder.transform(data.X[test])
        Z_eval = embedder.transform(data.X[evaluation])
        device = str(getattr(embedder, "device_", config.device))
    tagger = _tagger(cell.method, config, rng_seed, Z_test, data.y[test])
    tagger.fit(Z_lab, y_labeled)
    y_pred = tagger.predict(Z_eval)
    seconds = time.perf_counter() - start

    y_eval = data.y[evaluation]
    report = classification_report(
        y_eval, y_pred, target_names=list(data.classes), output_dict=True
    )
    row = {
        "key": cell.key,
        "table": cell.table,
        "method": cell.method,
        "strategy": cell.method if cell.method not in BASELINES else "",
        "n_triplets": "" if cell.n_triplets is None else cell.n_triplets,
        "labeled_share": "" if cell.labeled_share is None else cell.labeled_share,
        "n_labeled": len(labeled),
        "n_unlabeled": len(train) - len(labeled),
        "repeat": cell.repeat,
        "seed": cell.seed,
        "macro_f1": round(100 * macro_f1_score(y_eval, y_pred), 2),
        "fit_seconds": round(seconds, 1),
        "device": device,
    }
    row.update({f"f1_{c}": round(100 * report[c]["f1-score"], 2) for c in data.classes})
    return row, embedder
