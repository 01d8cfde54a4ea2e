"""Training and inference speed of TripletEmbedder against a plain PyTorch loop.

Every configuration runs in its own fresh process (so allocator settings and peak
memory do not leak between them) on the same synthetic log-mel data, and the results
are printed side by side:

* ``plain``: a plain PyTorch loop, three forward passes per triplet (anchor, noisy
  positive, random negative from another clip), paper CNN in PyTorch's default
  memory format, fp32, Adam, batch 64;
* ``plain+malloc``: the same after :func:`sktriplet.embedding.tune_cpu_allocator`;
* ``fit``: ``TripletEmbedder.fit`` with its default settings (strategy ``"s2"``,
  fp32, ``channels_last`` convolutions, ``tune_allocator="auto"``: glibc tuned as
  by ``tune_cpu_allocator`` for the duration of ``fit`` and ``transform`` when the
  caller's thread is the only one, as in this script);
* ``fit-untuned``: the same with ``tune_allocator=False``;
* ``fast``: the defaults plus ``amp=True`` (bf16 autocast), the opt-in fast mode.

The data mimic DCASE 2018 Task 4's proportions: 10% of the clips labelled
(``--labeled``), the rest unlabelled.

Triplets/s is measured on the last epoch (the first one warms up), inference as
``transform_segments`` segments/s on the clips repeated 4 times (median of 3 calls),
peak memory as the process's peak resident size.

``--inference`` compares, in one process, the eval-mode speed of ``ConvEmbedding``
with its BatchNorm folded into the convolutions or its layers run one by one, with
chunks of 256 or 32 segments, and ``CRNNTagger.predict_proba`` folded or not.

``--fine-tune`` times the one-liner's whole embedder fit on the embedded data
(``load_domestic_soundscapes(preset=--preset)``, its ``weak`` and
``unlabel_in_domain`` clips: 60 labelled and 540 unlabelled with the default
preset) at the defaults, which fine-tune on the labelled clips alone with dropout
0.2 in the CNN and random gains per mel band, against ``module__dropout=0.0``
(the CNN without dropout, the default before), ``fine_tune__consistency=1.0``
(the former fine-tuning with a mean teacher on the unlabelled clips too) and
``fine_tune__band_gain=0.0`` (no band gains in the fine-tuning, the default
before) and ``band_gain=0.0`` (no band gains in the triplet stage, the default
before that one was added); ``--settings`` picks some of them. Each fit runs in
a fresh process, the settings interleaved, ``--repeats`` times with seeds 0, 1,
...; the table gives median
seconds for the whole fit, its triplet stage and its fine-tuning stage (the sums
of the epochs' ``dur``), the fine-tuning's epochs, and the ratio to the default.

``--pooling`` instead compares the two segment poolings of ``ConvEmbedding``
(``flatten``/``mean``) by the downstream clip-tagging macro-F1 of the learnt frame
embeddings on synthetic multi-label data.

Measured (defaults: 40 clips, 256 triplets/epoch, batch 64), triplets/s (x plain),
inference segments/s. AMD: this version, medians of 3 runs (``fast``: 1 run, before
ConvEmbedding folded BatchNorm at inference). Xeon and H100: an earlier version
whose ``fit`` did not tune the allocator; its rows ``fit`` and ``fit-untuned`` here
are that version's ``fit`` after a process-wide ``tune_cpu_allocator()`` and its
plain ``fit``::

    config        AMD EPYC Zen 3, 2 cores  Xeon (AMX), 2 pinned cores  H100, batch 64
    plain         27 (1.0)                 30 (1.0)                    3750 (1.0)
    plain+malloc  38 (1.4)                 43 (1.4)
    fit           70 (2.8), 604 seg/s      94 (3.1), 649 seg/s         5690 (1.5)
    fit-untuned   44 (1.5), 404 seg/s      55 (1.8), 293 seg/s
    fast          7.5 (0.3), 49 seg/s      165 (5.4), 1332 seg/s       7290 (1.9)

Peak resident memory on the AMD machine: plain 1.8 GB, ``fit`` 2.6 GB (the tuned
allocator keeps freed buffers), ``fit-untuned`` 1.4 GB.

``--inference`` on the AMD machine (40 clips, 5 interleaved runs; two runs)::

    config                                  items/s    x first
    embed, layers in order, chunk 256       316, 320   1.00
    embed, folded, chunk 256                370, 358   1.17, 1.12
    embed, folded, chunk 32 (default)       535, 562   1.69, 1.76
    CRNN predict_proba, layers in order     20.9, 19.3 1.00
    CRNN predict_proba, folded (default)    31.9, 28.4 1.52, 1.48

``--fine-tune --repeats 3``, seconds (x default) for the whole fit / its triplet
stage / its fine-tuning, medians of 3 seeds. AMD: ``--threads 1`` while another
single-threaded job used the second core; H200: 16 threads, ``--device cuda``;
"before": the version whose CNN had no dropout by default::

    setting        AMD, 1 thread            AMD, before              H200, before
    labels alone   89 (1.00) / 65 / 24      80 (1.00) / 57 / 22      8 (1.00) / 5 / 2
    no dropout     76 (0.85) / 54 / 21      (was the default)
    mean teacher   118 (1.33) / 62 / 55     106 (1.33) / 56 / 49     10 (1.37) / 5 / 5

The triplet stage's band gains (``--fine-tune --settings "no triplet gains"
--repeats 3 --threads 1``, AMD, with band gains in both stages by default; the
other core ran single-threaded quality fits for seeds 0 and 1 and the test suite
for seed 2, so the times are not comparable with the table above)::

    setting           AMD, 1 thread            fit s per seed
    labels alone      232 (1.00) / 169 / 62    232 / 219 / 423
    no triplet gains  255 (1.10) / 173 / 80    220 / 255 / 414

Band gains leave the triplet stage's time as it was (169 s against 173 s).

bf16 autocast only pays on CPUs with native bfloat16 (AVX512-BF16 / AMX); without it
(Zen 3) it is emulated and about 9x slower. In fp32 the CNN costs about 150 MFLOP per
segment, so 1,000 segments/s would take the peak of two AVX2 cores. On the H100 with
batch 256 the plain loop and ``fit`` are level (8160 and 8480 triplets/s): batch
assembly on the CPU, not the GPU (43% busy), is then the limit.

Usage::

    python benchmarks/bench_embedder.py            # speed table
    python benchmarks/bench_embedder.py --quick    # smaller, for a smoke test
    python benchmarks/bench_embedder.py --pooling  # pooling measurement
    python benchmarks/bench_embedder.py --inference  # BatchNorm fold, chunk size
    python benchmarks/bench_embedder.py --fine-tune --repeats 3  # fine-tuning cost
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

CONFIGS = {
    "plain": {},
    "plain+malloc": {"malloc": True},
    "fit": {},
    "fit-untuned": {"tune_allocator": False},
    "fast": {"amp": True},
}


def make_data(n_clips, n_frames=1001, n_mels=64, n_classes=5, seed=0):
    """Synthetic log-mel clips (dB) with class-specific spectral events and labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(-60.0, 3.0, size=(n_clips, n_frames, n_mels)).astype(np.float32)
    X += np.linspace(0, -15, n_mels, dtype=np.float32)  # tilted background
    centres = np.linspace(6, n_mels - 6, n_classes)
    mel = np.arange(n_mels)
    Y = np.zeros((n_clips, n_classes), dtype=np.int64)
    for i in range(n_clips):
        for c in rng.choice(n_classes, size=rng.integers(1, 3), replace=False):
            Y[i, c] = 1
            start = rng.integers(0, n_frames - 200)
            length = rng.integers(100, 400)
            shape = 25.0 * np.exp(-0.5 * ((mel - centres[c]) / 2.5) ** 2)
            if c % 2:  # harmonic classes: a second band
                shape += 15.0 * np.exp(-0.5 * ((mel - centres[c] / 2) / 1.5) ** 2)
            env = np.ones(min(length, n_frames - start), np.float32)
            if c >= 3:  # pulsed classes
                env *= (np.arange(env.size) // 12) % 2
            X[i, start : start + env.size] += env[:, None] * shape[None, :]
    return X, Y


FINE_TUNE_CONFIGS = {
    "labels alone": {},  # the default, dropout 0.2 in the CNN
    "no dropout": {"module__dropout": 0.0},  # the default before
    "mean teacher": {"fine_tune__consistency": 1.0},
    "no band gains": {"fine_tune__band_gain": 0.0},  # the default before
    "no triplet gains": {"band_gain": 0.0},  # band gains in the fine-tuning only
}


def load_train_clips(preset):
    """The embedded data's training clips ``(X, y)``, as ``bench_quality.py`` loads."""
    import bench_quality

    X, y, train, *_ = bench_quality.load(bench_quality.parse_args(["--preset", preset]))
    return X[train], y[train]


def run_child(name, options):
    """Configuration ``name`` in a fresh process: its RESULT, or None if it failed."""
    cmd = [sys.executable, __file__, "--child", name, *options]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not line:
        print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(line[0][7:])


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_plain(X, n_triplets, batch_size, device, seed=0):
    """Plain loop: anchors, Gaussian-noise positives, random other-clip negatives."""
    import torch

    from sktriplet.features import segment
    from sktriplet.nn import ConvEmbedding, triplet_loss

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = X.mean((0, 1)), X.std((0, 1))
    seg, clip, _ = segment((X - mean) / std)
    net = ConvEmbedding(n_mels=X.shape[2], channels_last=False).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def epoch():
        for _ in range(0, n_triplets, batch_size):
            a = rng.integers(0, len(seg), batch_size)
            n = rng.integers(0, len(seg), batch_size)
            n = np.where(clip[n] == clip[a], (n + 10) % len(seg), n)
            xa = torch.from_numpy(seg[a]).to(device)
            xp = xa + 0.5 * torch.randn_like(xa)
            xn = torch.from_numpy(seg[n]).to(device)
            loss = triplet_loss(
                net.embed_segments(xa), net.embed_segments(xp), net.embed_segments(xn)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    epoch()  # warm-up
    t = time.perf_counter()
    epoch()
    return {"triplets_per_s": n_triplets / (time.perf_counter() - t)}


def run_fit(X, Y, n_triplets, batch_size, device, params):
    """``TripletEmbedder.fit``: last-epoch triplets/s, then inference speed."""
    from sktriplet.embedding import TripletEmbedder

    est = TripletEmbedder(
        n_triplets=n_triplets,
        batch_size=batch_size,
        max_epochs=2,
        device=device,
        random_state=0,
        **params,
    )
    est.fit(X, Y)
    out = {"triplets_per_s": n_triplets / est.history_[-1, "dur"]}
    est.transform_segments(X[:4])  # warm-up
    X_infer = np.concatenate([X] * 4)  # 40 clips: 1,600 segments
    speeds = []
    for _ in range(3):
        t = time.perf_counter()
        S = est.transform_segments(X_infer)
        speeds.append(len(S) / (time.perf_counter() - t))
    out["infer_segments_per_s"] = float(np.median(speeds))
    out["train_loss"] = est.history_[-1, "train_loss"]
    return out


def fine_tune_child(args):
    """One default-sized fit with the fine-tuning setting ``args.config``."""
    import torch

    from sktriplet.embedding import TripletEmbedder

    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = load_train_clips(args.preset)
    est = TripletEmbedder(
        device=args.device, random_state=args.seed, **FINE_TUNE_CONFIGS[args.config]
    )
    t = time.perf_counter()
    est.fit(X, y)
    fit_s = time.perf_counter() - t
    tuned = est.fine_tune_history_
    return {
        "fit_s": fit_s,
        "triplet_s": float(sum(est.history_[:, "dur"])),
        "fine_tune_s": float(sum(tuned[:, "dur"])) if tuned else 0.0,
        "fine_tune_epochs": len(tuned) if tuned else 0,
        "threads": torch.get_num_threads(),
    }


def fine_tune_cost(args):
    """The fit's time at the defaults and the ``FINE_TUNE_CONFIGS``, side by side."""
    X, y = load_train_clips(args.preset)  # generate and cache outside the timing
    n_lab = int((y >= 0).all(axis=1).sum())
    names = ["labels alone"] + [c for c in args.settings if c != "labels alone"]
    rows = {name: [] for name in names}
    for seed in range(args.repeats):
        for name in names:
            options = ["--seed", str(seed), "--preset", args.preset]
            options += ["--device", args.device, "--threads", str(args.threads)]
            res = run_child(name, options)
            if res is None:
                raise SystemExit(f"{name}, seed {seed}: failed (above)")
            rows[name].append(res)
            print(f"  done {name}, seed {seed}", file=sys.stderr, flush=True)
    med = {
        name: {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
        for name, rs in rows.items()
    }
    base = med["labels alone"]["fit_s"]
    width = max(len(name) for name in names) + 2
    print(
        f"\n{'setting':<{width}}{'fit s':>8}{'x default':>11}{'triplet s':>11}"
        f"{'fine-tune s':>13}{'epochs':>8}   fit s per seed"
    )
    for name, m in med.items():
        seeds = " / ".join(f"{r['fit_s']:.0f}" for r in rows[name])
        print(
            f"{name:<{width}}{m['fit_s']:>8.0f}{m['fit_s'] / base:>11.2f}"
            f"{m['triplet_s']:>11.0f}{m['fine_tune_s']:>13.0f}"
            f"{m['fine_tune_epochs']:>8.0f}   {seeds}"
        )
    print(
        f"\nembedded data, preset {args.preset!r}: {len(y)} training clips "
        f"({n_lab} labelled), TripletEmbedder() at its defaults, device "
        f"{args.device}, torch threads {int(med['labels alone']['threads'])}, "
        f"medians of {args.repeats} seeds, fresh process per fit"
    )


def child(args):
    if args.config in FINE_TUNE_CONFIGS:
        print("RESULT " + json.dumps(fine_tune_child(args)))
        return
    cfg = dict(CONFIGS[args.config])
    if cfg.pop("malloc", False):
        from sktriplet.embedding import tune_cpu_allocator

        cfg_applied = tune_cpu_allocator()
    else:
        cfg_applied = False
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    X, Y = make_data(args.n_clips)
    Y[int(round(args.labeled * len(Y))) :] = -1
    if args.config.startswith("plain"):
        res = run_plain(X, args.n_triplets, args.batch_size, args.device)
    else:
        res = run_fit(X, Y, args.n_triplets, args.batch_size, args.device, cfg)
    res.update(
        config=args.config,
        malloc_tuned=cfg_applied,
        peak_rss_mb=peak_rss_mb(),
        threads=torch.get_num_threads(),
    )
    if args.device != "cpu":
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(res))


def speed(args):
    rows = []
    for name in args.configs.split(","):
        options = [
            "--n-clips",
            str(args.n_clips),
            "--n-triplets",
            str(args.n_triplets),
            "--batch-size",
            str(args.batch_size),
            "--device",
            args.device,
            "--threads",
            str(args.threads),
            "--labeled",
            str(args.labeled),
        ]
        res = run_child(name, options)
        if res is None:
            continue
        rows.append(res)
        print(f"  done {name}", file=sys.stderr, flush=True)
    base = next((r["triplets_per_s"] for r in rows if r["config"] == "plain"), None)
    print(
        f"\n{'config':<16}{'triplets/s':>11}{'x plain':>9}{'infer seg/s':>13}"
        f"{'peak RSS MB':>13}"
    )
    for r in rows:
        ratio = r["triplets_per_s"] / base if base else float("nan")
        inf = r.get("infer_segments_per_s", float("nan"))
        print(
            f"{r['config']:<16}{r['triplets_per_s']:>11.1f}{ratio:>9.2f}"
            f"{inf:>13.0f}{r['peak_rss_mb']:>13.0f}"
        )
    print(
        f"\n{args.n_clips} clips of 1001x64, {args.n_triplets} triplets/epoch, batch "
        f"{args.batch_size}, {args.labeled:.0%} labelled, device {args.device}, "
        f"torch threads {rows[0]['threads']}"
        if rows
        else ""
    )


def pooling(args):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from sktriplet.embedding import TripletEmbedder
    from sktriplet.metrics import macro_f1_score

    X, Y = make_data(args.n_clips, seed=1)
    Xt, Yt = make_data(max(args.n_clips // 2, 8), seed=2)
    Yl = Y.copy()
    Yl[len(Y) // 2 :] = -1  # half the training clips unlabelled
    for pool in ("flatten", "mean"):
        scores = []
        for seed in range(args.seeds):
            est = TripletEmbedder(
                n_triplets=args.n_triplets,
                max_epochs=args.epochs,
                random_state=seed,
                module__pooling=pool,
                module__n_filters=16,
            ).fit(X, Yl)

            def feats(A):
                E = est.transform(A)
                return np.concatenate([E.mean(1), E.max(1)], axis=1)

            clf = OneVsRestClassifier(LogisticRegression(max_iter=2000))
            clf.fit(feats(X[: len(Y) // 2]), Y[: len(Y) // 2])
            scores.append(macro_f1_score(Yt, clf.predict(feats(Xt))))
        print(
            f"pooling={pool:<8} macro-F1 {np.mean(scores):.3f} "
            f"+- {np.std(scores):.3f} over {args.seeds} seeds"
        )


def layers_in_order(module):
    """A copy of a ``ConvEmbedding`` whose eval forward runs its layers one by one."""

    class LayersInOrder(type(module)):
        def _eval_blocks(self, h):
            return self.blocks(h)

    twin = copy.deepcopy(module)
    twin.__class__ = LayersInOrder
    return twin


def inference(args):
    """Eval-mode speed in one process: BatchNorm folded or not, chunk size, CRNN.

    Each configuration runs ``--repeats`` times, interleaved with the others so
    that the machine's noise hits them alike; medians are printed.
    """
    import torch

    from sktriplet.embedding import tuned_cpu_allocator
    from sktriplet.features import segment
    from sktriplet.nn import ConvEmbedding
    from sktriplet.tagging import CRNNTagger

    if args.threads:
        torch.set_num_threads(args.threads)
    X, Y = make_data(args.n_clips)
    segments = torch.from_numpy(segment(X)[0])
    folded = ConvEmbedding(n_mels=X.shape[2]).eval()
    in_order = layers_in_order(folded)

    def embed(module, chunk):
        # as TripletEmbedder.transform_segments runs it on CPU
        with torch.inference_mode(), tuned_cpu_allocator():
            for start in range(0, len(segments), chunk):
                module.embed_segments(segments[start : start + chunk])
        return len(segments)

    tagger = CRNNTagger(max_epochs=1, random_state=0).fit(X, Y)
    cnn_folded = tagger.module_.cnn
    cnn_in_order = layers_in_order(cnn_folded)

    def predict(cnn):
        tagger.module_.cnn = cnn
        tagger.predict_proba(X)
        tagger.module_.cnn = cnn_folded
        return len(X)

    configs = {
        "embed, layers in order, chunk 256": lambda: embed(in_order, 256),
        "embed, folded, chunk 256": lambda: embed(folded, 256),
        "embed, folded, chunk 32 (default)": lambda: embed(folded, 32),
        "CRNN predict_proba, layers in order": lambda: predict(cnn_in_order),
        "CRNN predict_proba, folded (default)": lambda: predict(cnn_folded),
    }
    speeds = {name: [] for name in configs}
    for name, run in configs.items():  # warm-up
        run()
    for _ in range(args.repeats):
        for name, run in configs.items():
            t = time.perf_counter()
            n = run()
            speeds[name].append(n / (time.perf_counter() - t))
    print(f"\n{'config':<38}{'items/s':>9}{'x first':>9}")
    base = {}
    for name, values in speeds.items():
        kind = name.split(",")[0]
        median = float(np.median(values))
        base.setdefault(kind, median)
        unit = "seg/s" if kind == "embed" else "clips/s"
        print(f"{name:<38}{median:>9.1f}{median / base[kind]:>9.2f}  {unit}")
    print(
        f"\n{len(segments)} segments / {len(X)} clips of {X.shape[1]}x{X.shape[2]}, "
        f"median of {args.repeats} interleaved runs, torch threads "
        f"{torch.get_num_threads()}"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--n-clips", type=int, default=40)
    p.add_argument("--n-triplets", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--labeled", type=float, default=0.1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--pooling", action="store_true")
    p.add_argument("--inference", action="store_true")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--fine-tune", action="store_true")
    p.add_argument(
        "--settings",
        nargs="+",
        choices=tuple(FINE_TUNE_CONFIGS),
        default=tuple(FINE_TUNE_CONFIGS),
        help="--fine-tune settings to time (the default, 'labels alone', always)",
    )
    p.add_argument("--preset", default="small", choices=("small", "dcase"))
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        # 4 labelled clips of 8, so that label negatives exist
        args.n_clips, args.n_triplets, args.labeled = 8, 64, 0.5
    if args.child:
        args.config = args.child
        child(args)
    elif args.pooling:
        pooling(args)
    elif args.inference:
        inference(args)
    elif args.fine_tune:
        fine_tune_cost(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
