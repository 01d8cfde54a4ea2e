"""Feature store against the ``.npz`` file: writing cost, size, and reading memory.

On the same ``--n-clips`` noise clips of 10 s (44.1 kHz, the paper's settings), in
one run:

* writing: ``LogMelExtractor.fit_transform`` + the ``.npz`` of ``sktriplet
  features`` against :func:`~sktriplet.features.write_feature_store` (float32 with
  the default chunk of 256 files and with chunks of 8, float16): median wall time
  over ``--repeats`` (a fresh store each time), clips/s, ratio to the ``.npz``,
  size on disk;
* reading: :func:`~sktriplet.experiments.load_features` of each, in a fresh process
  per arm: the time to open, the resident memory it adds (``VmRSS``), and the time
  of one pass over all features (``X.mean()``), which pages a store in.

    python benchmarks/bench_feature_store.py [--n-clips 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _timing import median_time

READ = r"""
import json, sys, time
import numpy as np

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

from sktriplet.experiments import load_features
before = rss()
t = time.perf_counter()
data = load_features(sys.argv[1], sys.argv[2], verbose=0)
opened = time.perf_counter() - t
added = rss() - before
t = time.perf_counter()
float(np.mean(data.X, dtype=np.float64))
one_pass = time.perf_counter() - t
print(json.dumps({"open": opened, "rss": added, "pass": one_pass}))
"""


def _write_clips(folder: Path, n: int) -> tuple[list[str], dict]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    files = []
    for i in range(n):
        path = folder / f"{i:04d}.wav"
        sf.write(path, 0.1 * rng.standard_normal(441000), 44100, subtype="PCM_16")
        files.append(str(path))
    y = np.zeros((n, 2), np.int8)
    y[np.arange(n), np.arange(n) % 2] = 1
    subset = np.array(["weak", "test", "eval", "weak"] * n)[:n]
    return files, {"y": y, "classes": ["a", "b"], "subset": subset}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir())


def main(argv=None):
    from sklearn.utils import Bunch

    from sktriplet.cli import save_features
    from sktriplet.features import LogMelExtractor, write_feature_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files, labels = _write_clips(tmp / "audio", args.n_clips)
        meta = Bunch(filenames=files, **labels)
        extractor = LogMelExtractor(n_jobs=args.n_jobs)
        written = []  # the output of each run, the last one read below

        def npz():
            X = extractor.fit_transform(files)
            save_features(tmp / "features.npz", X=X, data=meta)
            written.append(tmp / "features.npz")

        def store(dtype, chunk_size):
            def run():
                path = tmp / f"store-{len(written)}"  # a fresh store each run
                write_feature_store(
                    path,
                    files,
                    extractor=extractor,
                    dtype=dtype,
                    chunk_size=chunk_size,
                    **labels,
                )
                written.append(path)

            return run

        arms = [
            (".npz (today)", npz),
            ("store float32, chunks of 256", store("float32", 256)),
            ("store float32, chunks of 8", store("float32", 8)),
            ("store float16, chunks of 256", store("float16", 256)),
        ]
        rows = []
        for name, fn in arms:
            seconds = median_time(fn, args.repeats)
            rows.append((name, seconds, written[-1]))

        print(
            f"{args.n_clips} clips of 10 s, n_jobs={args.n_jobs}, median of "
            f"{args.repeats} runs; load average {os.getloadavg()[0]:.1f}"
        )
        print(f"{'writing':<30} {'s':>7} {'clips/s':>8} {'vs .npz':>8} {'MiB':>7}")
        base = rows[0][1]
        for name, seconds, out in rows:
            print(
                f"{name:<30} {seconds:7.2f} {args.n_clips / seconds:8.1f} "
                f"{base / seconds:7.2f}x {_size(out) / 2**20:7.1f}"
            )
        print(
            f"{'reading (load_features)':<30} {'open s':>7} {'+RSS MiB':>9} "
            f"{'pass s':>7}"
        )
        for name, _, out in rows:
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            result = subprocess.run(
                [sys.executable, "-c", READ, str(out), str(tmp / "cache")],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            got = json.loads(result.stdout.strip().splitlines()[-1])
            print(
                f"{name:<30} {got['open']:7.3f} {got['rss'] / 2**20:9.1f} "
                f"{got['pass']:7.3f}"
            )


if __name__ == "__main__":
    main()
