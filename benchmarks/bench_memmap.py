"""TripletEmbedder.fit on a memory-mapped X bigger than its memory budget.

Writes (or reuses, ``--path``) a float32 ``.npy`` of log-mel-like clips of
``--size-gb`` (default 6 GB: 23,000 clips of 1,001 frames x 64 bands), then fits
``TripletEmbedder`` (default settings but few triplets and epochs) once per arm,
each arm in a fresh process, so that its peak resident memory (``VmHWM``: anonymous
memory plus the file pages it has mapped) is its own:

* ``in-memory``: the first ``--mem-gb`` of clips, read into memory (``np.fromfile``,
  so that no page of the file stays mapped);
* ``memmap, small``: the same clips, a slice of the memory-mapped file;
* ``memmap``: the whole file, ``np.load(path, mmap_mode="r")``; its peak resident
  memory must stay under ``--rss-budget-gb`` (the script fails otherwise);
* ``memmap, pages kept``: the same with the release of read pages turned off
  (``sktriplet.utils._chunks.RELEASE_PAGES = False``), to show what it saves
  (``--skip-kept`` leaves it out).

Per arm: peak resident memory, the resident file pages at the end of ``fit``, the
whole ``fit`` time, the preparation time (``fit`` minus the training epochs: the
passes over ``X`` that check, pool, standardize and cut it) as GB of ``X`` per second,
training triplets/s (median over the epochs after the first), and ``transform``
clips/s on the first ``--transform-clips`` clips (median of ``--repeats`` calls).
The arms run in turn ``--rounds`` times (interleaved, each round starting one arm
later, so that a change of load hits them all); the table shows the medians over
the rounds, and the largest peak memory. Ratios are to ``in-memory``; ``memmap,
small`` is the like-for-like comparison (same clips); the big arms also draw from
6x more segments per epoch.
Whether the file was in the page cache when each arm started is measured with
``fincore`` (util-linux) where it exists; ``--cold`` drops the file from the cache
(``posix_fadvise(POSIX_FADV_DONTNEED)``) before every memmap arm. The load average
is printed too: other processes slow every arm.

Usage::

    python benchmarks/bench_memmap.py                  # 6 GB file in a temp folder
    python benchmarks/bench_memmap.py --size-gb 1 --mem-gb 0.25   # quick
    python benchmarks/bench_memmap.py --path X.npy --cold          # reuse a file
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

N_CLASSES = 10


def write_features(path, size_gb, n_frames, n_mels, seed=0):
    """A float32 ``.npy`` of about ``size_gb`` GB of random clips, written in blocks."""
    clip_bytes = n_frames * n_mels * 4
    n_clips = int(size_gb * 1e9 // clip_bytes)
    rng = np.random.default_rng(seed)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (n_clips, n_frames, n_mels),
    }
    block = max(1, 256 * 2**20 // clip_bytes)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, n_clips, block):
            n = min(block, n_clips - start)
            clips = rng.standard_normal((n, n_frames, n_mels), dtype=np.float32)
            f.write((clips * 10 - 40).tobytes())  # dB-like levels
        f.flush()
        os.fsync(f.fileno())
    return n_clips


def labels(n_clips, seed=0):
    """10% of the clips labelled (multi-label, 10 classes), the rest -1."""
    rng = np.random.default_rng(seed)
    y = np.full((n_clips, N_CLASSES), -1, dtype=np.int64)
    labelled = rng.random(n_clips) < 0.1
    y[labelled] = rng.random((labelled.sum(), N_CLASSES)) < 0.2
    return y


def cached_bytes(path):
    """Bytes of ``path`` in the page cache (``fincore``), or None without it."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
    )
    try:
        return int(out.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def drop_from_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def proc_status():
    """VmHWM, RssAnon and RssFile of this process, in bytes."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def child(args):
    """One arm, in its own process; prints its figures as JSON."""
    import torch

    torch.set_num_threads(1)
    from sktriplet.embedding import TripletEmbedder
    from sktriplet.utils import _chunks

    X = np.load(args.path, mmap_mode="r")
    n_small = int(args.mem_gb * 1e9 // (X[0].nbytes))
    if args.arm == "in-memory":
        shape, offset = (n_small,) + X.shape[1:], X.offset
        del X
        with open(args.path, "rb") as f:
            f.seek(offset)
            X = np.fromfile(f, dtype=np.float32, count=int(np.prod(shape)))
        X = X.reshape(shape)
    elif args.arm == "memmap, small":
        X = X[:n_small]
    elif args.arm == "memmap, pages kept":
        _chunks.RELEASE_PAGES = False
    y = labels(len(X))
    emb = TripletEmbedder(
        n_triplets=args.n_triplets,
        max_epochs=args.epochs,
        n_mels=X.shape[2],
        random_state=0,
    )
    start = time.perf_counter()
    emb.fit(X, y)
    fit_s = time.perf_counter() - start
    after_fit = proc_status()
    durations = [float(d) for d in emb.history_[:, "dur"]]
    some = X[: args.transform_clips]
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        emb.transform(some)
        times.append(time.perf_counter() - start)
    result = {
        "arm": args.arm,
        "x_bytes": int(np.prod(X.shape)) * 4,
        "n_clips": len(X),
        "fit_s": fit_s,
        "prep_s": fit_s - sum(durations),
        "epoch_s": float(np.median(durations[1:] or durations)),
        "transform_clips_per_s": len(some) / float(np.median(times)),
        "rss_file_after_fit": after_fit["RssFile"],
        "rss_anon_after_fit": after_fit["RssAnon"],
        "peak_rss": proc_status()["VmHWM"],
    }
    print(json.dumps(result))


def run_arm(args, arm):
    cmd = [sys.executable, __file__, "--child", "--arm", arm, "--path", str(args.path)]
    for name in ("mem_gb", "n_triplets", "epochs", "transform_clips", "repeats"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"arm {arm!r} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(runs):
    """Medians over the rounds of an arm; the largest memory, the smallest cache."""
    out = dict(runs[0])
    for key, value in out.items():
        if isinstance(value, float) and key != "cached":
            out[key] = float(np.median([r[key] for r in runs]))
    for key in ("peak_rss", "rss_file_after_fit", "rss_anon_after_fit"):
        out[key] = max(r[key] for r in runs)
    cached = [r["cached"] for r in runs]
    out["cached"] = None if None in cached else min(cached)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=6.0)
    parser.add_argument("--mem-gb", type=float, default=1.0)
    parser.add_argument("--dir", default=None, help="folder of the written file")
    parser.add_argument("--path", default=None, help="reuse this float32 .npy")
    parser.add_argument("--rss-budget-gb", type=float, default=2.5)
    parser.add_argument("--n-frames", type=int, default=1001)
    parser.add_argument("--n-mels", type=int, default=64)
    parser.add_argument("--n-triplets", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transform-clips", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--skip-kept", action="store_true")
    parser.add_argument("--keep-file", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    load_before = os.getloadavg()
    folder = None
    if args.path is None:
        folder = tempfile.mkdtemp(prefix="bench-memmap-", dir=args.dir)
        args.path = os.path.join(folder, "X.npy")
        start = time.perf_counter()
        n_clips = write_features(args.path, args.size_gb, args.n_frames, args.n_mels)
        print(
            f"wrote {args.path}: {n_clips} clips x {args.n_frames} frames x "
            f"{args.n_mels} bands, {os.path.getsize(args.path) / 1e9:.2f} GB, "
            f"in {time.perf_counter() - start:.0f} s"
        )
    arms = ["in-memory", "memmap, small", "memmap"]
    if not args.skip_kept:
        arms.append("memmap, pages kept")
    size = os.path.getsize(args.path)
    try:
        runs = {arm: [] for arm in arms}
        for round_ in range(args.rounds):
            for arm in arms[round_ % len(arms) :] + arms[: round_ % len(arms)]:
                if args.cold and arm != "in-memory":
                    drop_from_cache(args.path)
                cached = cached_bytes(args.path)
                result = run_arm(args, arm)
                result["cached"] = None if cached is None else cached / size
                runs[arm].append(result)
        results = [summarize(runs[arm]) for arm in arms]
    finally:
        if folder is not None and not args.keep_file:
            shutil.rmtree(folder)
    load_after = os.getloadavg()

    base = results[0]
    n_per_epoch = args.n_triplets
    gb = 1e9
    print(
        f"\nTripletEmbedder.fit, {args.n_triplets} triplets x {args.epochs} epochs, "
        "default settings (frame_pool=10, strategy s2), torch threads 1; medians "
        f"of {args.rounds} rounds"
    )
    header = (
        f"{'arm':<20}{'X GB':>7}{'cached':>8}{'peak RSS':>10}{'file RSS':>10}"
        f"{'fit s':>8}{'prep s':>8}{'prep GB/s':>11}{'x':>6}{'trip/s':>8}{'x':>6}"
        f"{'tf clips/s':>12}{'x':>6}"
    )
    print(header)
    for r in results:
        cached = "?" if r["cached"] is None else f"{100 * r['cached']:.0f}%"
        prep_rate = r["x_bytes"] / gb / r["prep_s"]
        base_prep = base["x_bytes"] / gb / base["prep_s"]
        trip = n_per_epoch / r["epoch_s"]
        trip_base = n_per_epoch / base["epoch_s"]
        tf = r["transform_clips_per_s"]
        print(
            f"{r['arm']:<20}{r['x_bytes'] / gb:>7.2f}{cached:>8}"
            f"{r['peak_rss'] / gb:>9.2f}G{r['rss_file_after_fit'] / gb:>9.2f}G"
            f"{r['fit_s']:>8.1f}{r['prep_s']:>8.1f}"
            f"{prep_rate:>11.2f}{prep_rate / base_prep:>6.2f}"
            f"{trip:>8.1f}{trip / trip_base:>6.2f}"
            f"{tf:>12.1f}{tf / base['transform_clips_per_s']:>6.2f}"
        )
    for arm in arms:
        rates = ", ".join(f"{n_per_epoch / r['epoch_s']:.0f}" for r in runs[arm])
        print(f"trip/s per round, {arm}: {rates}")
    print(
        f"load average (1 min) before/after: {load_before[0]:.2f} / "
        f"{load_after[0]:.2f} on {os.cpu_count()} CPUs"
    )
    memmap = next(r for r in results if r["arm"] == "memmap")
    budget = args.rss_budget_gb * gb
    print(
        f"memmap arm: X is {memmap['x_bytes'] / gb:.2f} GB, peak RSS "
        f"{memmap['peak_rss'] / gb:.2f} GB, budget {args.rss_budget_gb} GB"
    )
    if memmap["peak_rss"] >= budget:
        sys.exit("FAIL: the memmap arm's peak RSS exceeds the budget")


if __name__ == "__main__":
    main()
