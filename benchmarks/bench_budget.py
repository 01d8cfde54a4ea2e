"""Macro-F1 against the triplets an embedder has seen: the training-budget curve.

Trains one ``TripletEmbedder`` per seed (the given strategy, otherwise at its
defaults: 2,048 triplets per epoch) with ``partial_fit``, and at every checkpoint
(total epochs in ``--checkpoints``) fits a fresh ``SequenceTagger()`` (defaults)
on the embeddings of the labelled training clips and scores the ``eval`` clips:
macro-F1 of ``predict`` and macro ROC AUC. Checkpoint 0 is the untrained CNN (its
random initialisation, standardised inputs). Prints one row per checkpoint with
the median, min and max over seeds, the training loss and the share of active
triplets of the last epoch, and writes the curve as a PNG.

Data: the embedded soundscapes (``--preset``, ``--data-seed``) or ``--data ROOT``
(any DCASE 2018 Task 4 layout), as in ``bench_quality.py``.

Usage::

    python benchmarks/bench_budget.py --out docs/_static/budget_curve.png
    python benchmarks/bench_budget.py --strategy s5 --checkpoints 0 5 10 20
    python benchmarks/bench_budget.py --quick                  # smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

_spec = importlib.util.spec_from_file_location(
    "bench_quality", Path(__file__).with_name("bench_quality.py")
)
bench_quality = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_quality)


def run_seed(seed, args, X, y, train, labeled, evaluation):
    """``[(epochs, triplets, f1, auc, loss, active, seconds), ...]`` of one seed."""
    import warnings

    import torch

    from sktriplet.embedding import TripletEmbedder
    from sktriplet.metrics import macro_f1_score
    from sktriplet.tagging import SequenceTagger

    torch.set_num_threads(1)
    params = bench_quality.parse_params(args.emb_param)
    embedder = TripletEmbedder(
        strategy=args.strategy, device="cpu", random_state=seed, **params
    )
    rows, done, seconds = [], 0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for target in args.checkpoints:
            start = time.perf_counter()
            embedder.set_params(max_epochs=target - done)
            embedder.partial_fit(X[train], y[train])
            seconds += time.perf_counter() - start
            done = target
            clf = SequenceTagger(device="cpu", random_state=seed)
            if args.quick:
                clf.set_params(max_epochs=2)
            clf.fit(embedder.transform(X[labeled]), y[labeled])
            Z_eval = embedder.transform(X[evaluation])
            f1 = macro_f1_score(y[evaluation], clf.predict(Z_eval))
            auc = bench_quality.macro_auc(y[evaluation], clf.predict_proba(Z_eval))
            last = embedder.history_[-1] if target else {}
            rows.append(
                (
                    target,
                    target * embedder.n_triplets,
                    float(f1),
                    auc,
                    float(last.get("train_loss", np.nan)),
                    float(last.get("train_active", np.nan)),
                    seconds,
                )
            )
    return rows


def plot(table, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    triplets = np.array([t for t, *_ in table])
    fig, ax = plt.subplots(figsize=(6, 4))
    for col, name in ((1, "macro-F1"), (2, "macro ROC AUC")):
        med = np.array([np.median(r[col]) for r in table])
        lo = np.array([np.min(r[col]) for r in table])
        hi = np.array([np.max(r[col]) for r in table])
        ax.plot(triplets, med, marker="o", label=f"{args.strategy.upper()} {name}")
        ax.fill_between(triplets, lo, hi, alpha=0.2)
    ax.axvline(31_560, color="gray", linestyle=":", label="the paper's epoch")
    ax.set_xlabel("triplets seen (2,048 per epoch)")
    ax.set_ylabel("eval score (median, min-max over seeds)")
    ax.set_title("Tagging quality against the embedder's training budget")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategy", default="s2")
    parser.add_argument(
        "--checkpoints",
        type=int,
        nargs="+",
        default=[0, 1, 3, 6, 10, 15, 30, 45, 60],
        help="total epochs at which to score (increasing)",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--preset", default="small", choices=["small", "dcase"])
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--emb-param", action="append", metavar="NAME=VALUE")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="budget_curve.png")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if sorted(set(args.checkpoints)) != args.checkpoints:
        parser.error("--checkpoints must be increasing")
    if args.quick:
        args.checkpoints = [0, 1]
        args.emb_param = [*(args.emb_param or []), "n_triplets=128"]
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    X, y, train, evaluation, _, desc = bench_quality.load(args)
    labeled = train[(y[train] >= 0).all(axis=1)]
    per_seed = Parallel(n_jobs=args.jobs)(
        delayed(run_seed)(seed, args, X, y, train, labeled, evaluation)
        for seed in range(args.seeds)
    )
    print(f"data: {desc}; strategy {args.strategy}; {args.seeds} seeds")
    print(
        f"{'epochs':>6}{'triplets':>10}{'F1 med':>8}{'min':>7}{'max':>7}"
        f"{'AUC med':>9}{'loss':>7}{'active':>8}{'fit s':>7}"
    )
    table = []
    for i, target in enumerate(args.checkpoints):
        rows = [seed_rows[i] for seed_rows in per_seed]
        f1 = [r[2] for r in rows]
        auc = [r[3] for r in rows]
        table.append((rows[0][1], f1, auc))
        print(
            f"{target:>6}{rows[0][1]:>10,}{np.median(f1):>8.3f}{min(f1):>7.3f}"
            f"{max(f1):>7.3f}{np.median(auc):>9.3f}"
            f"{np.median([r[4] for r in rows]):>7.3f}"
            f"{np.median([r[5] for r in rows]):>8.3f}"
            f"{np.median([r[6] for r in rows]):>7.0f}"
        )
    plot(table, args, args.out)
    wall = time.perf_counter() - start
    print(f"\ncurve written to {args.out}; wall time {wall:.0f} s")


if __name__ == "__main__":
    main()
