"""Tagging quality of the design card's pipelines at their defaults, against chance.

Fits every arm on the weakly labelled and unlabelled training clips of a DCASE
2018 Task 4 layout (unlabelled rows of ``y`` are ``-1``) and scores clip tags on
its ``eval`` subset: macro-F1 of ``predict`` (each estimator's own decision, no
tuning on eval) and macro ROC AUC of ``predict_proba``. Arms:

* ``logmel``: ``SequenceTagger()`` on log-mel (the paper's "classifier on
  log-mel");
* ``crnn``: ``CRNNTagger()``, the paper's supervised baseline;
* ``s1`` ... ``s5``: ``Pipeline([("emb", TripletEmbedder(strategy=...)),
  ("clf", SequenceTagger())])``, the design card's one-liner;
* ``triplet:<strategy>`` / ``supcon:<strategy>``: the same with
  ``TripletEmbedder(loss="triplet")`` (the paper's objective) or
  ``loss="supcon"`` (the default);
* ``fast:<strategy>``: the same with ``amp=True`` (bf16 autocast on CPU);
* ``frozen:<strategy>``: the same with ``fine_tune=False``: the tagger reads the
  embeddings of the triplet training alone (the default before fine-tuning was);
* ``finetune:<strategy>``: pre-training then fine-tuning outside the embedder,
  ``CRNNTagger(cnn_init=embedder.net_.module_)`` after the embedder
  (``fine_tune=False``) is fitted: the CRNN's convolutional front end starts from
  the triplet embedding, the whole CRNN is trained on the labelled clips and
  predicts.

Every estimator runs at its defaults (only ``device="cpu"`` and ``random_state``
are set; ``--emb-param`` / ``--clf-param`` override defaults for an ablation), so
the table measures what a user gets from the one-liner. The seed changes the
networks, the triplets and the batches, not the data. Chance levels: tagging every
class on every clip (``all-positive``), random tags drawn with the labelled clips'
class frequencies (``prior-random``, mean of 20 draws; AUC 0.5). ``F1 thr``: the
macro-F1 on eval with one threshold per class chosen on the ``test`` subset
(:func:`sktriplet.metrics.select_thresholds`, the DCASE practice), the same rule
for every arm. ``test F1``: the macro-F1 of ``predict`` on the ``test`` subset,
the figure to choose settings on (choose on ``test``, report ``eval``).

Data: the embedded soundscapes (``--preset small``: 60 labelled, 540 unlabelled,
200 eval clips; ``--preset dcase``: 300 / 2,700 / 300, proportioned like DCASE
2018), generated with ``--data-seed``, or ``--data PATH``, read as ``sktriplet
reproduce --data`` reads it: a DCASE-layout folder, a folder with one sub-folder
per class (and an optional ``unlabeled/``), or a CSV/TSV metadata file. Own data
is split per class, with ``--data-seed``, into 50 % training / 20 % test / 30 %
eval labelled clips, its unlabelled clips added to training, and its clips padded
or cropped to the longest one (1 to 10 s). Log-mel features are cached in
``--cache-dir`` (default: the sktriplet data home).

Each (arm, seed) is one job, run ``--jobs`` at a time in separate processes with
one torch thread each. Figures measured with this script are in the user guide
("What matters for quality"), with the command lines that produced them.

Usage::

    python benchmarks/bench_quality.py                      # logmel crnn s1 s2 s3 s5
    python benchmarks/bench_quality.py --preset dcase --arms logmel crnn s2
    python benchmarks/bench_quality.py --data /path/to/dcase2018_task4 --arms s2
    python benchmarks/bench_quality.py --data my_sounds/ --arms logmel crnn s2
    python benchmarks/bench_quality.py --arms s2 --emb-param weak_label_share=1.0
    python benchmarks/bench_quality.py --arms crnn s2 --first-seed 3  # seeds 3-5
    python benchmarks/bench_quality.py --quick              # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
from joblib import Parallel, delayed

QUICK_SIZES = {"n_labeled": 16, "n_unlabeled": 48, "n_test": 12, "n_eval": 16}
TRAIN_SUBSETS = ("weak", "unlabel_in_domain")


def load(args):
    """``(X, y, train_rows, test_rows, eval_rows, classes, description)``."""
    if args.data is not None:
        from sktriplet.datasets import get_data_home
        from sktriplet.experiments import load_features

        cache_dir = get_data_home() if args.cache_dir is None else args.cache_dir
        try:
            data = load_features(
                args.data, cache_dir, seed=args.data_seed, n_jobs=args.jobs, verbose=0
            )
        except ValueError as exc:
            raise SystemExit(f"bench_quality.py: error: {exc}") from None
        X, y, subset, classes = data.X, data.y, data.subset, data.classes
        name = str(args.data)
    else:
        from sktriplet.datasets import load_domestic_soundscapes

        sizes = QUICK_SIZES if args.quick else {}
        data = load_domestic_soundscapes(
            preset=args.preset, random_state=args.data_seed, verbose=0, **sizes
        )
        X, y, classes = data.X, np.asarray(data.y), list(data.classes)
        subset = np.asarray(data.subset)
        name = f"embedded soundscapes, preset {args.preset!r}, seed {args.data_seed}"
    train = np.flatnonzero(np.isin(subset, TRAIN_SUBSETS))
    test = np.flatnonzero(subset == "test")
    evaluation = np.flatnonzero(subset == "eval")
    n_lab = int((y[train] >= 0).all(axis=1).sum())
    desc = (
        f"{name}: {len(train)} training clips ({n_lab} labelled), "
        f"{len(test)} test clips, {len(evaluation)} eval clips, {y.shape[1]} classes "
        f"({', '.join(map(str, classes))})"
    )
    return X, y, train, test, evaluation, list(classes), desc


def parse_params(items) -> dict:
    """``["lr=0.01", "loss='supcon'"]`` -> ``{"lr": 0.01, "loss": "supcon"}``."""
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"parameter {item!r} is not of the form name=value")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value  # a bare string such as loss=supcon
    return params


class FineTunedCRNN:
    """Fit a triplet embedder, then a CRNN whose front end starts from its CNN."""

    def __init__(self, embedder, tagger):
        self.embedder = embedder
        self.tagger = tagger

    def fit(self, X, y):
        self.embedder.fit(X, y)
        self.tagger.set_params(cnn_init=self.embedder.net_.module_)
        self.tagger.fit(X, y)  # the tagger keeps the labelled rows
        return self

    def set_params(self, **params):
        self.tagger.set_params(**params)
        return self

    def predict(self, X):
        return self.tagger.predict(X)

    def predict_proba(self, X):
        return self.tagger.predict_proba(X)


def build(arm, args, seed):
    """The arm's estimator at its defaults (plus ``--emb-param`` / ``--clf-param``)."""
    from sklearn.pipeline import Pipeline

    from sktriplet.embedding import TripletEmbedder
    from sktriplet.tagging import CRNNTagger, SequenceTagger

    common = {"device": "cpu", "random_state": seed}
    clf_params = {**common, **parse_params(args.clf_param)}
    if arm == "crnn":
        return CRNNTagger(**clf_params)
    if arm == "logmel":
        return SequenceTagger(**clf_params)
    mode, _, strategy = arm.rpartition(":")
    emb_params = {**common, **parse_params(args.emb_param)}
    if args.quick:
        emb_params.setdefault("n_triplets", 128)
        emb_params.setdefault("max_epochs", 1)
        emb_params.setdefault("fine_tune__max_epochs", 2)
    if mode == "fast":
        emb_params["amp"] = True
    elif mode == "frozen":
        emb_params["fine_tune"] = False
    elif mode == "finetune":
        # The CRNN fine-tunes the triplet CNN itself.
        emb_params["fine_tune"] = False
        embedder = TripletEmbedder(strategy=strategy, **emb_params)
        return FineTunedCRNN(embedder, CRNNTagger(**clf_params))
    elif mode in ("supcon", "triplet"):
        emb_params["loss"] = mode
    elif mode:
        raise SystemExit(f"unknown arm {arm!r}")
    embedder = TripletEmbedder(strategy=strategy, **emb_params)
    return Pipeline([("emb", embedder), ("clf", SequenceTagger(**clf_params))])


def macro_auc(y_true, proba) -> float:
    """Mean ROC AUC over the classes that have both labels in ``y_true``."""
    from sklearn.metrics import roc_auc_score

    keep = [c for c in range(y_true.shape[1]) if 0 < y_true[:, c].sum() < len(y_true)]
    return float(np.mean([roc_auc_score(y_true[:, c], proba[:, c]) for c in keep]))


def run_one(arm, seed, args, X_train, y_train, X_test, y_test, X_eval, y_eval):
    import warnings

    import torch

    from sktriplet.metrics import macro_f1_score, select_thresholds

    torch.set_num_threads(1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build(arm, args, seed)
        if args.quick and (arm in ("logmel", "crnn") or arm.startswith("finetune")):
            model.set_params(max_epochs=2)
        elif args.quick:
            model.set_params(clf__max_epochs=2)
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        f1 = macro_f1_score(y_eval, model.predict(X_eval))
        proba = model.predict_proba(X_eval)
        auc = macro_auc(y_eval, proba)
        thresholds = select_thresholds(y_test, model.predict_proba(X_test))
        f1_thr = macro_f1_score(y_eval, (proba > thresholds).astype(int))
        f1_test = macro_f1_score(y_test, model.predict(X_test))
    return arm, seed, float(f1), auc, fit_s, float(f1_thr), float(f1_test)


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
    """Per-arm lists of macro-F1, macro AUC, fit seconds and macro-F1 with per-class
    thresholds chosen on ``test``, and chance levels.

    ``args`` holds the settings (an :class:`argparse.Namespace` from
    :func:`parse_args`). Returns ``(results, chance, description)`` where
    ``results[arm]`` is a dict of lists ``f1``, ``auc``, ``seconds``, ``f1_thr``,
    ``f1_test`` (one entry per seed, in seed order).
    """
    X, y, train, test, evaluation, _, desc = load(args)
    # loaded once here; joblib memory-maps the big arrays for the workers
    data = (X[train], y[train], X[test], y[test], X[evaluation], y[evaluation])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(arm, seed) for seed in seeds for arm in arms]
    out = Parallel(n_jobs=args.jobs)(
        delayed(run_one)(arm, seed, args, *data) for arm, seed in jobs
    )
    keys = ("f1", "auc", "seconds", "f1_thr", "f1_test")
    results = {arm: {key: [] for key in keys} for arm in arms}
    for arm, _, f1, auc, sec, f1_thr, f1_test in sorted(out, key=lambda r: r[:2]):
        results[arm]["f1"].append(f1)
        results[arm]["auc"].append(auc)
        results[arm]["seconds"].append(sec)
        results[arm]["f1_thr"].append(f1_thr)
        results[arm]["f1_test"].append(f1_test)
    return results, chance_levels(y, train, evaluation), desc


def format_table(arms, results, chance) -> str:
    ref = np.mean(results["logmel"]["f1"]) if "logmel" in results else None
    lines = [
        f"{'arm':<16}{'macro-F1':>9}{'std':>7}{'min':>7}{'max':>7}{'x logmel':>10}"
        f"{'AUC':>7}{'AUC std':>8}{'F1 thr':>8}{'std':>7}{'test F1':>8}{'fit s':>7}"
        "  F1 per seed"
    ]
    for arm in arms:
        f1, auc = np.asarray(results[arm]["f1"]), np.asarray(results[arm]["auc"])
        sd = f1.std(ddof=1) if len(f1) > 1 else 0.0
        auc_sd = auc.std(ddof=1) if len(auc) > 1 else 0.0
        f1_thr = np.asarray(results[arm]["f1_thr"])
        thr_sd = f1_thr.std(ddof=1) if len(f1_thr) > 1 else 0.0
        ratio = f"{f1.mean() / ref:.2f}" if ref else "-"
        lines.append(
            f"{arm:<16}{f1.mean():>9.3f}{sd:>7.3f}{f1.min():>7.3f}{f1.max():>7.3f}"
            f"{ratio:>10}{auc.mean():>7.3f}{auc_sd:>8.3f}"
            f"{f1_thr.mean():>8.3f}{thr_sd:>7.3f}"
            f"{np.mean(results[arm]['f1_test']):>8.3f}"
            f"{np.median(results[arm]['seconds']):>7.0f}  {np.round(f1, 3).tolist()}"
        )
    for name, value in chance.items():
        ratio = f"{value / ref:.2f}" if ref else "-"
        lines.append(f"{name:<16}{value:>9.3f}{'':>21}{ratio:>10}{0.5:>7.3f}")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--arms", nargs="+", default=["logmel", "crnn", "s1", "s2", "s3", "s5"]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds --first-seed .. --first-seed + --seeds - 1 (more seeds later)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="a DCASE 2018 Task 4 root, a folder of class sub-folders or a CSV/TSV "
        "metadata file (default: the embedded soundscapes)",
    )
    parser.add_argument("--cache-dir", default=None, help="feature cache of --data")
    parser.add_argument("--preset", default="small", choices=["small", "dcase"])
    parser.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="seed of the embedded soundscapes, or of the split of own --data",
    )
    parser.add_argument("--emb-param", action="append", metavar="NAME=VALUE")
    parser.add_argument("--clf-param", action="append", metavar="NAME=VALUE")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    results, chance, desc = measure(args.arms, args)
    first, last = args.first_seed, args.first_seed + args.seeds - 1
    print(f"data: {desc}; seeds {first}-{last}; estimators at their defaults")
    overrides = (("--emb-param", args.emb_param), ("--clf-param", args.clf_param))
    for flag, items in overrides:
        if items:
            print(f"{flag}: {' '.join(items)}")
    print()
    print(format_table(args.arms, results, chance))
    print(f"\nwall time {time.perf_counter() - start:.0f} s with {args.jobs} jobs")


if __name__ == "__main__":
    main()
