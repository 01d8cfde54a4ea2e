"""Benchmarks of sktriplet.sampling, printed side by side in one run.

1. Semi-hard mining on a batch of 64 triplets (192 embeddings, dim 64 and 6144):
   ``semihard_negatives`` (with its validity mask) against pytorch-metric-learning's
   ``TripletMarginMiner(type_of_triplets="semihard")`` on the same tensors.
2. Drawing 159,900 triplet specifications from 160,000 segments (S1, S2, S4, S5).
3. ``NearestPositive`` on N synthetic log-mel-like segments of 96 x 64: time, peak
   memory and recall@1 against exact search (each size in a fresh subprocess, so that
   the peak resident memory is the fit's own).

Run: ``python benchmarks/bench_sampling.py [--sizes 5000,20000] [--repeats 30]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
import torch
from _timing import median_time

from sktriplet.sampling import (
    NearestPositive,
    RuleSampler,
    SemiHardNegative,
    get_sampler,
    semihard_negatives,
    semihard_valid_mask,
)
from sktriplet.sampling._nearest import exact_knn


# -- 1. semi-hard mining ---------------------------------------------------------
def bench_mining(repeats, threads):
    n_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    print(
        "\n## Semi-hard mining, batch of 64 triplets (192 embeddings), CPU, "
        f"{threads} torch thread(s) for both"
    )
    try:
        from pytorch_metric_learning.miners import TripletMarginMiner
    except ImportError:
        TripletMarginMiner = None
        print(
            "pytorch-metric-learning is not installed: the comparison column is "
            "skipped (pip install pytorch-metric-learning)."
        )
    b = 64
    # Triplet i: anchor i, positive 64 + i (same label i), negative 128 + i.
    labels = torch.cat([torch.arange(b), torch.arange(b), b + torch.arange(b)])
    clips = labels.numpy()
    print(f"{'dim':>6} {'sktriplet (ms)':>15} {'pml miner (ms)':>15} {'speed-up':>9}")
    for dim in (64, 6144):
        g = torch.Generator().manual_seed(dim)
        emb = torch.randn(3 * b, dim, generator=g)

        def ours(emb=emb):
            valid = semihard_valid_mask(clips[:b], clips)
            return semihard_negatives(emb[:b], emb[b : 2 * b], emb, valid)

        t_ours = median_time(ours, repeats, warmup=3)
        neg, found = ours()
        assert (labels[neg] != labels[:b]).all()
        if TripletMarginMiner is not None:
            miner = TripletMarginMiner(margin=1.0, type_of_triplets="semihard")
            t_pml = median_time(
                lambda emb=emb: miner(emb, labels), repeats, warmup=3
            )
            print(
                f"{dim:>6} {t_ours * 1e3:>15.3f} {t_pml * 1e3:>15.3f} "
                f"{t_pml / t_ours:>8.1f}x"
            )
        else:
            print(f"{dim:>6} {t_ours * 1e3:>15.3f} {'skipped':>15} {'-':>9}")
    print(
        "(pml's 'semihard' returns every triplet with 0 < d_an - d_ap <= margin; "
        "sktriplet returns the paper's one negative per anchor: the closest one "
        "farther than the positive.)"
    )
    torch.set_num_threads(n_threads)


# -- 2. drawing triplet specifications ---------------------------------------------
def bench_drawing(repeats, n_segments=160_000, n_triplets=159_900):
    print(f"\n## Drawing {n_triplets:,} triplet specs from {n_segments:,} segments")
    rng = np.random.default_rng(0)
    seg_per_clip, n_classes = 10, 10
    n_clips = n_segments // seg_per_clip
    clip = np.repeat(np.arange(n_clips), seg_per_clip)
    start = np.tile(np.arange(seg_per_clip) * 0.96, n_clips)
    y_clip = (rng.random((n_clips, n_classes)) < 0.15).astype(np.int8)
    y_clip[rng.random(n_clips) < 0.8] = -1  # 20 % labelled clips
    y = y_clip[clip]
    X = np.zeros((n_segments, 1), np.float32)  # features are not read by these rules
    print(f"{'strategy':>8} {'fit (s)':>8} {'sample (s)':>11} {'skipped':>8}  goal")
    for name in ("s1", "s2", "s4", "s5"):
        sampler = get_sampler(name)
        t = time.perf_counter()
        sampler.fit(X, y, clip_index=clip, start_time=start)
        t_fit = time.perf_counter() - t
        seeds = iter(range(10_000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t_sample = median_time(
                lambda s=sampler: s.sample(n_triplets, random_state=next(seeds)),
                repeats,
                warmup=1,
            )
            trip = sampler.sample(n_triplets, random_state=0)
        print(
            f"{name:>8} {t_fit:>8.2f} {t_sample:>11.3f} {trip.n_skipped:>8} "
            f"{'ok' if t_sample < 2 else 'SLOW'}"
        )


# -- 3. nearest positives ----------------------------------------------------------
def make_logmel_segments(n_segments, n_frames=96, n_mels=64, seg_per_clip=10,
                         n_classes=20, seed=0):
    """Synthetic log-mel-like segments: clip background + sound events + noise."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    n_clips = -(-n_segments // seg_per_clip)
    templates = gaussian_filter1d(rng.normal(size=(n_classes, n_mels)), 3, axis=1) * 4
    X = np.empty((n_clips * seg_per_clip, n_frames, n_mels), np.float32)
    t = np.arange(n_frames)
    step = 500
    for c0 in range(0, n_clips, step):
        c = min(step, n_clips - c0)
        bg = gaussian_filter1d(rng.normal(size=(c, n_mels)), 3, axis=1) * 2
        cls = rng.integers(0, n_classes, size=(c, 3))
        active = rng.random((c, seg_per_clip, 3)) < 0.6
        on = rng.integers(0, n_frames, size=(c, seg_per_clip, 3, 1))
        dur = rng.integers(10, n_frames, size=(c, seg_per_clip, 3, 1))
        amp = rng.uniform(0.5, 2.0, size=(c, seg_per_clip, 3, 1))
        env = ((t >= on) & (t < on + dur)) * amp * active[..., None]
        x = np.einsum("cset,cef->cstf", env, templates[cls]) + bg[:, None, None, :]
        x += 0.3 * rng.standard_normal(x.shape)
        X[c0 * seg_per_clip : (c0 + c) * seg_per_clip] = x.reshape(-1, n_frames, n_mels)
    clip = np.repeat(np.arange(n_clips), seg_per_clip)
    return X[:n_segments], clip[:n_segments]


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def nearest_worker(n, method, n_queries=1000):
    """Fit NearestPositive on n segments; print one JSON line of results."""
    X, clip = make_logmel_segments(n)
    rss_before = _rss_mb()
    tracemalloc.start()
    rule = NearestPositive(method=method, random_state=0)
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    t = time.perf_counter()
    sampler.fit(X, clip_index=clip)
    t_fit = time.perf_counter() - t
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    fitted = sampler.unlabeled_rules_[0]
    q = np.random.default_rng(1).choice(n, size=min(n_queries, n), replace=False)
    t = time.perf_counter()
    truth, _ = exact_knn(X.reshape(n, -1), 1, q, clip)
    t_exact_q = (time.perf_counter() - t) / len(q)
    recall = float(np.mean(fitted.neighbors_[q, 0] == truth[:, 0]))
    print(json.dumps({
        "n": n, "method": fitted.method_, "fit_s": t_fit, "recall": recall,
        "traced_peak_mb": traced_peak / 2**20,
        "rss_peak_over_data_mb": max(0.0, peak_rss - rss_before),
        "data_mb": X.nbytes / 2**20,
        "exact_all_estimate_s": t_exact_q * n,
    }))


def bench_nearest(sizes, method):
    print(f"\n## NearestPositive(method={method!r}) on N segments of 96 x 64 "
          "(recall@1 on 1,000 random anchors vs exact search)")
    print(f"{'N':>8} {'method':>7} {'fit (s)':>8} {'recall@1':>9} "
          f"{'peak RSS over data (MB)':>24} {'traced peak (MB)':>17} "
          f"{'data (MB)':>10} {'exact, est. (s)':>16}")
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--nearest-worker", str(n), "--method", method],
            capture_output=True, text=True,
        )
        if proc.returncode:
            print(f"{n:>8} failed:\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['n']:>8} {r['method']:>7} {r['fit_s']:>8.1f} {r['recall']:>9.3f} "
            f"{r['rss_peak_over_data_mb']:>24.0f} {r['traced_peak_mb']:>17.0f} "
            f"{r['data_mb']:>10.0f} {r['exact_all_estimate_s']:>16.0f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000",
                        help="comma-separated numbers of segments for NearestPositive")
    parser.add_argument("--method", default="auto", choices=["auto", "exact", "hnsw"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--mining-threads", type=int, default=1,
        help="torch threads for the mining comparison (a 192-row batch is latency-"
        "bound; extra threads only add synchronisation, badly so on a busy machine)",
    )
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: mining,drawing,nearest")
    parser.add_argument("--nearest-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nearest_worker:
        nearest_worker(args.nearest_worker, args.method)
        return
    skip = set(filter(None, args.skip.split(",")))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "mining" not in skip:
        bench_mining(args.repeats, args.mining_threads)
    if "drawing" not in skip:
        bench_drawing(max(3, args.repeats // 6))
    if "nearest" not in skip:
        bench_nearest([int(s) for s in args.sizes.split(",") if s], args.method)


if __name__ == "__main__":
    main()
