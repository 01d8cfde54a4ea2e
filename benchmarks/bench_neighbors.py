"""Similarity search: EmbeddingIndex exact against hnsw, side by side in one run.

Synthetic segment-like embeddings (d=128 by default, unit norm): a two-level
Gaussian mixture on the sphere (sound classes, clips around their class, segments
around their clip), ``--seg-per-clip`` segments per clip. Queries are segments of
fresh clips of the same classes (not in the collection). For each size: the build
time of each index, the query time per query (median over ``--repeats`` batches of
``--batch`` queries), and recall@k of hnsw against exact search on
``--recall-queries`` queries, for several ``ef_search`` values of one graph (only
the search changes with ``ef_search``, so one build serves them all).

Run: ``python benchmarks/bench_neighbors.py [--sizes 100000,1000000] [--n-jobs 1]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _timing import median_time

from sktriplet.neighbors import EmbeddingIndex


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def make_embeddings(
    n, dim=128, n_classes=50, seg_per_clip=10, clip_spread=0.8, seg_spread=0.5, seed=0
):
    """``n`` unit vectors: class centres, clips around them, segments around clips.

    The spreads are norms of the Gaussian offsets (each relative to a unit vector):
    clips of one class and segments of one clip are near, not identical.
    """
    rng = np.random.default_rng(seed)
    classes = _unit(rng.standard_normal((n_classes, dim)))
    X = np.empty((n, dim), np.float32)
    step = 50_000  # rows generated at a time: bounded float64 temporaries
    for s in range(0, n, step):
        m = min(step, n - s)
        n_clips = -(-m // seg_per_clip)
        cls = rng.integers(0, n_classes, n_clips)
        clips = _unit(
            classes[cls]
            + clip_spread * rng.standard_normal((n_clips, dim)) / np.sqrt(dim)
        )
        seg = np.repeat(clips, seg_per_clip, axis=0)[:m]
        seg += seg_spread * rng.standard_normal((m, dim)) / np.sqrt(dim)
        X[s : s + m] = _unit(seg)
    return X


def recall_at_k(approx, exact):
    k = exact.shape[1]
    hits = [len(np.intersect1d(a, e)) for a, e in zip(approx, exact)]
    return float(np.sum(hits)) / (k * len(exact))


def bench_size(n, args):
    X, Q = make_collection(n, args.recall_queries + args.batch * args.repeats, args)
    q_recall = Q[: args.recall_queries]
    batches = [
        Q[args.recall_queries + i * args.batch :][: args.batch]
        for i in range(args.repeats)
    ]
    k = args.k
    common = {"metric": "cosine", "n_jobs": args.n_jobs, "random_state": 0}

    t = time.perf_counter()
    exact = EmbeddingIndex(method="exact", **common).fit(X)
    t_exact_build = time.perf_counter() - t
    it = iter(batches * 2)
    t_exact = (
        median_time(lambda: exact.kneighbors(next(it), k), args.repeats) / args.batch
    )
    _, truth = exact.kneighbors(q_recall, k)

    t = time.perf_counter()
    hnsw = EmbeddingIndex(
        method="hnsw", M=args.M, ef_construction=args.ef_construction, **common
    ).fit(X)
    t_hnsw_build = time.perf_counter() - t

    rows = [(n, "exact", "-", t_exact_build, t_exact, 1.0, 1.0)]
    for ef in args.ef_search:
        hnsw.set_params(ef_search=ef)
        it = iter(batches * 2)
        t_q = (
            median_time(lambda: hnsw.kneighbors(next(it), k), args.repeats) / args.batch
        )
        _, approx = hnsw.kneighbors(q_recall, k)
        rows.append(
            (
                n,
                "hnsw",
                ef,
                t_hnsw_build,
                t_q,
                recall_at_k(approx, truth),
                t_exact / t_q,
            )
        )
    for r in rows:
        print(
            f"{r[0]:>9,} {r[1]:>6} {r[2]:>9} {r[3]:>9.1f} {r[4] * 1e3:>13.3f} "
            f"{r[5]:>10.3f} {r[6]:>8.0f}x",
            flush=True,
        )


def make_collection(n, n_queries, args):
    """``n`` indexed segments and ``n_queries`` segments of clips not among them
    (same class centres: one draw, cut at a clip boundary)."""
    start = -(-n // args.seg_per_clip) * args.seg_per_clip  # first fresh clip
    total = make_embeddings(start + n_queries, args.dim, seg_per_clip=args.seg_per_clip)
    return total[:n], total[start:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated collection sizes"
    )
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seg-per-clip", type=int, default=10)
    parser.add_argument("--k", type=int, default=10, help="neighbours per query")
    parser.add_argument(
        "--batch", type=int, default=100, help="queries per timed batch"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed batches")
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=1000,
        help="queries whose exact neighbours give recall@k",
    )
    parser.add_argument("--M", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument(
        "--ef-search",
        default="100,200,400",
        help="comma-separated ef_search values to compare",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="threads for building and querying, both methods",
    )
    args = parser.parse_args(argv)
    args.ef_search = [int(s) for s in args.ef_search.split(",") if s]
    print(
        f"torch {torch.__version__}; d={args.dim}, cosine, k={args.k}, "
        f"n_jobs={args.n_jobs}, M={args.M}, ef_construction={args.ef_construction}; "
        f"query time = median over {args.repeats} batches of {args.batch}; recall@"
        f"{args.k} on {args.recall_queries} queries"
    )
    print(
        f"{'N':>9} {'method':>6} {'ef_search':>9} {'build (s)':>9} "
        f"{'query (ms/q)':>13} {f'recall@{args.k}':>10} {'speed-up':>9}"
    )
    for n in (int(s) for s in args.sizes.split(",") if s):
        bench_size(n, args)


if __name__ == "__main__":
    main()
