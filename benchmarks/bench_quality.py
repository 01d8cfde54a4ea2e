"""Tagging quality on the embedded data: the paper's pipelines against chance.

Measures clip-level macro-F1 on the ``eval`` subset of the embedded soundscapes
(:func:`sktriplet.datasets.load_domestic_soundscapes`, default sizes: 60 labelled,
540 unlabelled, 100 eval clips, so the default label scarcity of 1 labelled clip in
10) for each arm and seed, and prints one table with mean, spread and the ratio to
the log-mel tagger:

* ``logmel``: :class:`~sktriplet.tagging.SequenceTagger` on log-mel (the paper's
  "classifier on log-mel" reference);
* ``s2``, ``s5`` (any strategy name): ``Pipeline([TripletEmbedder(strategy),
  FramePooling, SequenceTagger])`` fitted on the labelled *and* unlabelled clips
  (unlabelled rows of ``y`` are ``-1``), the paper's semi-supervised and supervised
  embeddings;
* ``crnn``: :class:`~sktriplet.tagging.CRNNTagger`, the paper's baseline;
* ``fast:<strategy>``: the embedder's opt-in fast mode (``amp=True``,
  bf16 autocast on CPU), to compare its downstream macro-F1 with fp32.

Two chance levels are printed with them: tagging every class on every clip
(``all-positive``), and random tags drawn with the labelled clips' class
frequencies (``prior-random``, mean of 20 draws).

Each (arm, seed) is one job, run ``--jobs`` at a time in separate processes with
one torch thread each; the seed changes the networks, the triplets and the
batches, not the data. Every tagger uses the same settings (``class_weight=
"balanced"``, batch 16, ``--tagger-epochs``; frames averaged by ``--frame-pool``).

Measured on the 2-core development machine (AMD EPYC, no GPU) with the defaults
(3 seeds; 3 epochs of 2,048 triplets per embedder; 40 tagger epochs; about 20 min)::

    arm            macro-F1 mean    std    min    max  x logmel   fit s  per seed
    logmel                 0.352  0.009  0.344  0.362      1.00      19
    s2                     0.381  0.025  0.357  0.407      1.08     321
    s5                     0.394  0.010  0.387  0.405      1.12     375
    crnn                   0.466  0.028  0.439  0.495      1.32      48
    all-positive           0.278                           0.79
    prior-random           0.159                           0.45

The triplet embeddings lift the paper's classifier above log-mel (S5 on every seed,
S2 on the mean and two seeds of three); the CRNN baseline, which learns its own
convolutional front end end to end, is stronger than both at this label scarcity.
``tests/test_quality.py`` asserts this ordering (opt-in: it takes the same 20 min).

The fast mode against fp32, ``--arms s2 fast:s2 --n-triplets 1024
--embedder-epochs 2`` (3 seeds; bf16 is emulated on this CPU, hence the time)::

    arm            macro-F1 mean    std    min    max   fit s  per seed
    s2                     0.346  0.013  0.332  0.358     168  [0.348, 0.332, 0.358]
    fast:s2                0.341  0.046  0.290  0.377     829  [0.377, 0.357, 0.29]

The downstream macro-F1 is unchanged within the seed-to-seed spread. At this
smaller budget (2,048 triplets) S2 does not yet beat log-mel (0.352).

Usage::

    python benchmarks/bench_quality.py                      # logmel, s2, s5
    python benchmarks/bench_quality.py --arms logmel s2 fast:s2 --seeds 2
    python benchmarks/bench_quality.py --quick              # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from joblib import Parallel, delayed

SIZES = {
    "default": {"n_labeled": 60, "n_unlabeled": 540, "n_test": 60, "n_eval": 100},
    "quick": {"n_labeled": 16, "n_unlabeled": 48, "n_test": 12, "n_eval": 16},
}


def load(size):
    from sktriplet.datasets import load_domestic_soundscapes

    data = load_domestic_soundscapes(**SIZES[size], verbose=0)
    subset = np.asarray(data.subset)
    train = np.flatnonzero(np.isin(subset, ["weak", "unlabel_in_domain"]))
    evaluation = np.flatnonzero(subset == "eval")
    return data.X, np.asarray(data.y), train, evaluation


def tagger(arm, args, seed):
    """The tagger of every arm, with the same settings (the CRNN for ``crnn``)."""
    from sktriplet.tagging import CRNNTagger, SequenceTagger

    cls = CRNNTagger if arm == "crnn" else SequenceTagger
    return cls(
        class_weight="balanced",
        batch_size=16,
        max_epochs=args.tagger_epochs,
        device="cpu",
        random_state=seed,
    )


def build(arm, args, seed):
    from sklearn.pipeline import Pipeline

    from sktriplet.embedding import TripletEmbedder
    from sktriplet.features import FramePooling

    steps = [("pool", FramePooling(args.frame_pool)), ("clf", tagger(arm, args, seed))]
    if arm in ("logmel", "crnn"):
        return Pipeline(steps)
    embedder = TripletEmbedder(
        strategy=arm.removeprefix("fast:"),
        n_triplets=args.n_triplets,
        max_epochs=args.embedder_epochs,
        amp=arm.startswith("fast:"),
        device="cpu",
        random_state=seed,
    )
    return Pipeline([("emb", embedder), *steps])


def run_one(arm, seed, args, X_train, y_train, X_eval, y_eval):
    import warnings

    import torch

    from sktriplet.metrics import macro_f1_score

    torch.set_num_threads(1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build(arm, args, seed).fit(X_train, y_train)
        score = macro_f1_score(y_eval, model.predict(X_eval))
    return arm, seed, float(score), time.perf_counter() - start


def chance_levels(y, train, evaluation, n_draws=20):
    from sktriplet.metrics import macro_f1_score
    from sktriplet.utils._labels import labeled_mask

    labeled = train[labeled_mask(y[train])]
    prior = y[labeled].mean(axis=0)
    rng = np.random.default_rng(0)
    draws = [
        macro_f1_score(y[evaluation], (rng.random(y[evaluation].shape) < prior) * 1)
        for _ in range(n_draws)
    ]
    return {
        "all-positive": macro_f1_score(y[evaluation], np.ones_like(y[evaluation])),
        "prior-random": float(np.mean(draws)),
    }


def measure(arms, args):
    """Macro-F1 of every arm and seed, and the chance levels.

    ``args`` holds the settings (an :class:`argparse.Namespace` from
    :func:`parse_args`). Returns ``(scores, seconds, chance)``: dicts mapping each
    arm to its per-seed macro-F1 and fit seconds, and each chance level to its
    macro-F1.
    """
    X, y, train, evaluation = load(args.size)
    # loaded once here; joblib memory-maps the big arrays for the workers
    data = (X[train], y[train], X[evaluation], y[evaluation])
    jobs = [(arm, seed) for seed in range(args.seeds) for arm in arms]
    results = Parallel(n_jobs=args.jobs)(
        delayed(run_one)(arm, seed, args, *data) for arm, seed in jobs
    )
    scores = {arm: [] for arm in arms}
    seconds = {arm: [] for arm in arms}
    for arm, _, score, sec in results:
        scores[arm].append(score)
        seconds[arm].append(sec)
    return scores, seconds, chance_levels(y, train, evaluation)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", nargs="+", default=["logmel", "s2", "s5"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-triplets", type=int, default=2048)
    parser.add_argument("--embedder-epochs", type=int, default=3)
    parser.add_argument("--tagger-epochs", type=int, default=40)
    parser.add_argument("--frame-pool", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke)")
    args = parser.parse_args(argv)
    args.size = "quick" if args.quick else "default"
    if args.quick:
        args.n_triplets, args.embedder_epochs, args.tagger_epochs = 128, 1, 2
    return args


def main(argv=None):
    args = parse_args(argv)
    sizes = SIZES[args.size]
    print(
        f"data: {sizes['n_labeled'] + sizes['n_unlabeled']} training clips "
        f"({sizes['n_labeled']} labelled), {sizes['n_eval']} eval clips; "
        f"{args.seeds} seeds; embedders {args.embedder_epochs} x {args.n_triplets} "
        f"triplets; tagger {args.tagger_epochs} epochs, frame pool {args.frame_pool}"
    )
    scores, seconds, chance = measure(args.arms, args)
    ref = np.mean(scores["logmel"]) if "logmel" in scores else None
    print(f"\n{'arm':<14}{'macro-F1 mean':>14}{'std':>7}{'min':>7}{'max':>7}"
          f"{'x logmel':>10}{'fit s':>8}  per seed")
    for arm in args.arms:
        s = np.asarray(scores[arm])
        ratio = f"{s.mean() / ref:.2f}" if ref else "-"
        print(f"{arm:<14}{s.mean():>14.3f}{s.std(ddof=1) if len(s) > 1 else 0:>7.3f}"
              f"{s.min():>7.3f}{s.max():>7.3f}{ratio:>10}"
              f"{np.median(seconds[arm]):>8.0f}  {np.round(s, 3).tolist()}")
    for name, value in chance.items():
        ratio = f"{value / ref:.2f}" if ref else "-"
        print(f"{name:<14}{value:>14.3f}{'':>21}{ratio:>10}")


if __name__ == "__main__":
    main()
