"""Cells of the paper's tables and how one is run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..features import FramePooling
from ..metrics import classification_report, macro_f1_score
from ..model_selection import mask_labels
from ..utils._device import resolve_device
from ..utils._labels import labeled_mask
from ._data import ExperimentData
from ._paper import PAPER_LABELED_SHARES, PAPER_STRATEGIES, PAPER_TRIPLET_COUNTS
from ._selection import BestEpochOnHeldOut

#: Table 2 rows beyond the paper: its two remedies for S3 and its joint objective.
EXTRA_METHODS = ("s3_knn", "s3_farther", "s2_joint")
BASELINES = ("logmel", "crnn")
#: Table 2 row of the design card's one-liner at the estimators' defaults (the
#: contrastive loss, then fine-tuning), beside the paper's S2 (triplet loss only).
DEFAULT_METHOD = "s2_default"


@dataclass
class ReproduceConfig:
    """Settings of a reproduction run (see :func:`reproduce`)."""

    tables: tuple[str, ...] = ("2",)
    scale: float = 2048 / 31_560
    repeats: int = 3
    side_repeats: int | None = None
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
    strategies: tuple[str, ...] = PAPER_STRATEGIES
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


def is_side_row(method: str) -> bool:
    """Whether a Table 2 row is a side row, run ``side_repeats`` times.

    The headline rows are the two baselines, the paper's S2 and the one-liner at
    its defaults: the comparison the paper and the main job are about.
    """
    return method not in BASELINES + ("s2", DEFAULT_METHOD)


def plan_cells(config: ReproduceConfig) -> list[Cell]:
    """All cells of the requested tables, baselines first, repeat by repeat."""
    cells = []
    counts = config.scaled_counts()
    middle = counts[len(counts) // 2]
    side_repeats = (
        config.repeats if config.side_repeats is None else config.side_repeats
    )
    if "2" in config.tables:
        methods = list(config.strategies)
        if "s2" in methods:
            methods.append(DEFAULT_METHOD)
        if config.extras:
            methods += list(EXTRA_METHODS)
        for r in range(max(config.repeats, side_repeats)):
            seed = config.seed + r
            for method in BASELINES + tuple(methods):
                if r >= (side_repeats if is_side_row(method) else config.repeats):
                    continue
                if method in BASELINES:
                    cells.append(Cell("2", method, None, None, r, seed))
                    continue
                # The other rows are measured at the middle count only.
                for n in counts if method in PAPER_STRATEGIES else [middle]:
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
    if method == DEFAULT_METHOD:
        if config.tagger_epochs is not None:
            params["fine_tune__max_epochs"] = config.tagger_epochs
        return TripletEmbedder(strategy="s2", fine_tune="auto", **params)
    # The paper's objective and network, its embeddings trained by triplets alone
    # on the paper's transforms.
    params.update(
        loss="triplet", fine_tune=False, module__dropout=0.0, band_gain=0.0
    )
    if method in PAPER_STRATEGIES:
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


def _tagger(method: str, config: ReproduceConfig, seed: int, heldout):
    from ..tagging import CRNNTagger, SequenceTagger

    params = {
        "frame_pool": 1,  # the step before it hands over pooled frames
        "device": config.device,
        "random_state": seed,
        "callbacks": [heldout],
    }
    if config.tagger_epochs is not None:
        params["max_epochs"] = config.tagger_epochs
    if method == "crnn":
        return CRNNTagger(**params)
    return SequenceTagger(**params)


def make_pipeline(cell: Cell, config: ReproduceConfig, X_test, y_test):
    """The :class:`~sklearn.pipeline.Pipeline` of a cell: features, then a tagger.

    The first step is the method's :class:`TripletEmbedder` (``"emb"``), or
    :class:`~sktriplet.features.FramePooling` (``"pool"``) for the baselines
    (pooling frames makes the recurrent taggers ~10x cheaper at no cost in
    macro-F1, user guide; ``frame_pool=1`` is the paper's setting). The tagger
    (``"clf"``) keeps the epoch with the best macro-F1 on ``(X_test, y_test)``,
    given as the pipeline's input.
    """
    from sklearn.pipeline import Pipeline

    if cell.method in BASELINES:
        features = ("pool", FramePooling(config.frame_pool))
    else:  # the embedder pools its input by frame_pool itself
        features = (
            "emb",
            make_embedder(cell.method, cell.n_triplets, config, cell.seed),
        )
    pipe = Pipeline([features, ("clf", "passthrough")])
    if cell.method == DEFAULT_METHOD:
        # The fine-tuning trains a CRNN around the embedder's CNN: it keeps its
        # best epoch on test too, as the CRNN baseline does. Called during the
        # embedder's fit, once its standardization is learnt. A lambda, not the
        # bound method: the tagger deep-copies its callbacks, and a bound method
        # would copy the embedder with them.
        pipe.named_steps["emb"].set_params(
            fine_tune__callbacks=[
                BestEpochOnHeldOut(
                    X_test,
                    y_test,
                    preprocess=lambda X: pipe.named_steps["emb"]._fine_tune_input(X),
                )
            ]
        )
    # Called at the first epoch's end, when the first step is fitted.
    heldout = BestEpochOnHeldOut(
        X_test, y_test, preprocess=lambda X: pipe[:-1].transform(X)
    )
    return pipe.set_params(clf=_tagger(cell.method, config, cell.seed, heldout))


def run_cell(cell: Cell, data: ExperimentData, config: ReproduceConfig):
    """Fit and score one cell; returns ``(row, embedder_or_None)``.

    Table 2 trains the embedder on the weakly labelled and unlabelled training clips;
    Table 3 trains it on the weakly labelled clips only, a share ``labeled_share`` of
    them keeping their labels and the rest treated as unlabelled. The tagger learns
    on the labelled training clips, its best epoch is chosen on ``test`` and the cell
    reports macro-F1 on ``eval``, as in the paper. Both are the steps of one
    :func:`make_pipeline`, fitted on the training clips with ``-1`` rows for the
    unlabelled ones (the tagger ignores them).
    """
    rng_seed = cell.seed
    if cell.table == "3":
        train = data.rows("weak")
        y_train = mask_labels(data.y[train], cell.labeled_share, random_state=rng_seed)
    else:
        train = data.rows("weak", "unlabel_in_domain")
        y_train = data.y[train]
    n_labeled = int(labeled_mask(y_train).sum())
    test, evaluation = data.rows("test"), data.rows("eval")

    start = time.perf_counter()
    pipe = make_pipeline(cell, config, data.clips(test), data.y[test])
    pipe.fit(data.clips(train), y_train)
    y_pred = pipe.predict(data.clips(evaluation))
    seconds = time.perf_counter() - start
    embedder = pipe.named_steps.get("emb")
    if embedder is not None and "fine_tune__callbacks" in embedder.get_params():
        # It holds the test clips and a closure: not kept with the embedder.
        embedder.set_params(fine_tune__callbacks=None)
    if embedder is None:
        device = resolve_device(config.device)
    else:
        device = str(getattr(embedder, "device_", config.device))

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
        "n_labeled": n_labeled,
        "n_unlabeled": len(train) - n_labeled,
        "repeat": cell.repeat,
        "seed": cell.seed,
        "macro_f1": round(100 * macro_f1_score(y_eval, y_pred), 2),
        "fit_seconds": round(seconds, 1),
        "device": device,
    }
    row.update({f"f1_{c}": round(100 * report[c]["f1-score"], 2) for c in data.classes})
    return row, embedder
