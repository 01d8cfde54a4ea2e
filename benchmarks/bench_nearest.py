"""Nearest positives (S3) at scale: exact, hnswlib and faiss side by side in one run.

The vectors are what the approximate searches of ``NearestPositive`` index: segments
PCA-projected to ``SEARCH_COMPONENTS`` (128) dimensions. Real segments of 96 x 64 =
6144 values would take 24 GB per million in float32, so they are not generated; the
synthetic 128-dimensional vectors have a decaying variance spectrum (the variance of
principal component ``j`` falls as ``1 / j``) and three levels of clusters: sound
classes, clips around their class and ``--seg-per-clip`` segments around their clip.
The groups excluded from each query's neighbours are the clips, as in S3.

For every size and method, in a fresh subprocess (so that its peak resident memory is
its own): the build time of the index (faiss: k-means, adding, tuning ``nprobe``;
hnsw: the graph), the query time for *all* n segments as anchors (candidates plus the
exact re-ranking ``nearest_neighbors`` does; exact: the whole blocked search), the
peak resident memory above the data, and recall@1 against brute force on 1,000
random anchors (a tie in distance counts as a hit). ``faiss`` picks IVF-Flat or,
above ``FAISS_FLAT_MAX_BYTES`` of vectors, IVF-PQ; ``faiss-flat`` and ``faiss-pq``
force either. The load average is printed with each row: the machine may be shared.

Run: ``python benchmarks/bench_nearest.py [--sizes 160000,1000000] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from sktriplet.sampling._knn import (
    FAISS_FLAT_MAX_BYTES,
    SEARCH_COMPONENTS,
    exact_knn,
    faiss_candidates,
    faiss_index,
    hnsw_candidates,
    hnsw_index,
    nearest_neighbors,
    rerank,
)

METHODS = ("exact", "hnsw", "faiss", "faiss-pq", "faiss-flat")
#: faiss variants: the index chosen by size, or forced.
_PQ = {"faiss": None, "faiss-pq": True, "faiss-flat": False}


def make_segments(n, dim=SEARCH_COMPONENTS, n_classes=500, seg_per_clip=10, seed=0):
    """``n`` projected segments in clips of ``seg_per_clip``; returns ``(Z, clip)``."""
    rng = np.random.default_rng(seed)
    scale = (1.0 + np.arange(dim)) ** -0.5
    classes = 3.0 * rng.standard_normal((n_classes, dim)) * scale
    Z = np.empty((n, dim), np.float32)
    step = 100_000  # rows generated at a time: bounded float64 temporaries
    for s in range(0, n, step):
        m = min(step, n - s)
        n_clips = -(-m // seg_per_clip)
        clips = classes[rng.integers(0, n_classes, n_clips)]
        clips = clips + rng.standard_normal((n_clips, dim)) * scale
        seg = np.repeat(clips, seg_per_clip, axis=0)[:m]
        Z[s : s + m] = seg + rng.standard_normal((m, dim)) * scale
    return Z, np.arange(n) // seg_per_clip


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _search(Z, clip, method):
    """Build time, query time, the nearest neighbour of every row, the index."""
    query = np.arange(len(Z))
    t = time.perf_counter()
    if method == "exact":
        nb, _, _ = nearest_neighbors(Z, 1, groups=clip, method="exact")
        return 0.0, time.perf_counter() - t, nb[:, 0], None
    if method == "hnsw":
        index = hnsw_index(Z, random_state=0)
        candidates = hnsw_candidates
    else:
        index = faiss_index(Z, clip, 16, random_state=0, product_quantized=_PQ[method])
        candidates = faiss_candidates
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    cand, bounds = candidates(Z, query, 16, clip, index=index)
    nb, _ = rerank(Z, query, cand, 1, lower_bounds=bounds)
    return t_build, time.perf_counter() - t, nb[:, 0], index


def worker(n, method, seg_per_clip, n_queries=1000):
    """Search n segments with one method; print one JSON line of results."""
    Z, clip = make_segments(n, seg_per_clip=seg_per_clip)
    rss_data = _rss_mb()
    t_build, t_query, nb, index = _search(Z, clip, method)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    extra = {}
    if method.startswith("faiss"):
        extra = {
            "index": type(index).__name__,
            "nlist": index.nlist,
            "nprobe": index.nprobe,
        }
    q = np.sort(np.random.default_rng(1).choice(n, min(n_queries, n), replace=False))
    truth, truth_d = exact_knn(Z, 1, q, clip)
    got = Z[nb[q]] - Z[q]
    got_d = np.einsum("ij,ij->i", got, got)
    hit = (nb[q] == truth[:, 0]) | (got_d <= truth_d[:, 0] * (1 + 1e-5) + 1e-6)
    print(
        json.dumps(
            {
                "n": n,
                "method": method,
                "build_s": t_build,
                "query_s": t_query,
                "peak_over_data_mb": max(0.0, peak - rss_data),
                "peak_mb": peak,
                "data_mb": Z.nbytes / 2**20,
                "recall": float(hit.mean()),
                "load": os.getloadavg()[0],
                **extra,
            }
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="160000,1000000", help="comma-separated numbers of segments"
    )
    parser.add_argument(
        "--methods",
        default="exact,hnsw,faiss,faiss-pq",
        help=f"comma-separated, among {', '.join(METHODS)}",
    )
    parser.add_argument(
        "--exact-max",
        type=int,
        default=200_000,
        help="largest size searched exactly (n^2 work)",
    )
    parser.add_argument(
        "--hnsw-max",
        type=int,
        default=1_000_000,
        help="largest size indexed by hnswlib (single-threaded build)",
    )
    parser.add_argument("--seg-per-clip", type=int, default=10)
    parser.add_argument(
        "--quick", action="store_true", help="20,000 segments only (a smoke run)"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(int(args.worker[0]), args.worker[1], args.seg_per_clip)
        return
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}")
    import faiss  # the benchmark needs it; the library does not

    print(
        f"{os.cpu_count()} CPUs, faiss {faiss.__version__} on "
        f"{faiss.omp_get_max_threads()} OpenMP threads, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"Segments: {SEARCH_COMPONENTS}-dimensional PCA-like vectors, clips of "
        f"{args.seg_per_clip}; query = all n segments as anchors; recall@1 on "
        f"1,000 anchors vs brute force; faiss picks IVF-PQ above "
        f"{FAISS_FLAT_MAX_BYTES / 2**30:.0f} GiB of vectors."
    )
    print(
        f"{'n':>9} {'method':>9} {'build (s)':>10} {'query (s)':>10} "
        f"{'total (s)':>10} {'peak over data (MB)':>20} {'data (MB)':>10} "
        f"{'recall@1':>9} {'load':>5}  index"
    )
    totals = {}
    for n in sizes:
        for method in methods:
            if (method == "exact" and n > args.exact_max) or (
                method == "hnsw" and n > args.hnsw_max
            ):
                print(f"{n:>9} {method:>9} {'skipped (--exact-max / --hnsw-max)':>32}")
                continue
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    str(n),
                    method,
                    "--seg-per-clip",
                    str(args.seg_per_clip),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(f"{n:>9} {method:>9} failed:\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            total = r["build_s"] + r["query_s"]
            totals[n, method] = total
            index = (
                f"{r['index']} nlist={r['nlist']} nprobe={r['nprobe']}"
                if "index" in r
                else ""
            )
            print(
                f"{n:>9} {method:>9} {r['build_s']:>10.1f} {r['query_s']:>10.1f} "
                f"{total:>10.1f} {r['peak_over_data_mb']:>20.0f} "
                f"{r['data_mb']:>10.0f} {r['recall']:>9.3f} {r['load']:>5.2f}  {index}",
                flush=True,
            )
        for other in ("exact", "hnsw"):
            if (n, "faiss") in totals and (n, other) in totals:
                print(
                    f"{'':>9} faiss is {totals[n, other] / totals[n, 'faiss']:.1f}x "
                    f"faster than {other} at n={n:,}"
                )


if __name__ == "__main__":
    main()
