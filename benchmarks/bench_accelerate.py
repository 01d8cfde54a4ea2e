"""Epoch time of data-parallel training on CPU processes (AcceleratedTripletEmbedder).

Fits on the same synthetic clips, each arm in fresh processes launched as
``torchrun`` would (torch.distributed, gloo on 127.0.0.1), with the same total
number of CPU threads:

* ``1 process``: :class:`TripletEmbedder`, ``batch_size=B * N``, ``N * T`` threads;
* ``1 process, T``: the same with ``T`` threads only (what one process of the
  next arm has);
* ``N processes``: :class:`AcceleratedTripletEmbedder`, ``batch_size=B`` per
  process (the same global batch, so the same steps), ``T`` threads each.

Per arm: seconds per epoch (median over the epochs after the first, from
``history_[:, "dur"]``), triplets per second, and the ratio to ``1 process``. The
arms run in turn ``--rounds`` times (interleaved, so that a change of load hits
them all); the table shows medians over the rounds. The load average is printed:
other processes slow every arm.

Usage::

    python benchmarks/bench_accelerate.py                      # 2 processes
    python benchmarks/bench_accelerate.py --processes 4 --threads 2
    python benchmarks/bench_accelerate.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np


def _worker(args_json: str, out_path: str) -> None:
    import torch

    from sktriplet.embedding import AcceleratedTripletEmbedder, TripletEmbedder

    a = json.loads(args_json)
    torch.set_num_threads(a["threads"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(a["clips"], a["frames"], 64)).astype(np.float32)
    params = {
        "strategy": "s1",
        "n_triplets": a["n_triplets"],
        "max_epochs": a["epochs"],
        "device": "cpu",
        "random_state": 0,
    }
    if a["processes"] == 1:
        emb = TripletEmbedder(batch_size=a["batch"] * a["global_n"], **params)
    else:
        emb = AcceleratedTripletEmbedder(batch_size=a["batch"], **params)
    emb.fit(X)
    if int(os.environ.get("RANK", "0")) == 0:
        with open(out_path, "w") as f:
            json.dump(emb.history_[:, "dur"], f)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_arm(n_processes, threads, settings, out_path) -> list:
    """Epoch durations of one fit on ``n_processes`` processes."""
    port = _free_port()
    args = json.dumps({**settings, "processes": n_processes, "threads": threads})
    procs = []
    for rank in range(n_processes):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        if n_processes > 1:
            env.update(
                RANK=str(rank),
                LOCAL_RANK=str(rank),
                WORLD_SIZE=str(n_processes),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
            )
        cmd = [sys.executable, __file__, "--worker", args, out_path]
        procs.append(subprocess.Popen(cmd, env=env))
    for proc in procs:
        if proc.wait(timeout=3600):
            raise RuntimeError(f"worker failed with exit code {proc.returncode}")
    with open(out_path) as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="per process")
    parser.add_argument("--batch", type=int, default=64, help="per process")
    parser.add_argument("--n-triplets", type=int, default=2048)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--frames", type=int, default=501)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.worker:
        _worker(*a.worker)
        return
    if a.quick:
        a.n_triplets, a.clips, a.epochs, a.rounds = 512, 60, 3, 3
    n = a.processes
    settings = {
        "batch": a.batch,
        "global_n": n,
        "n_triplets": a.n_triplets,
        "clips": a.clips,
        "frames": a.frames,
        "epochs": a.epochs,
    }
    arms = {
        "1 process": (1, n * a.threads),
        "1 process, T": (1, a.threads),
        f"{n} processes": (n, a.threads),
    }
    times = {name: [] for name in arms}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "dur.json")
        for _ in range(a.rounds):
            for name, (procs, threads) in arms.items():
                durs = run_arm(procs, threads, settings, out)
                times[name].append(float(np.median(durs[1:])))
    print(
        f"{a.n_triplets} triplets/epoch, global batch {a.batch * n}, "
        f"{a.clips} clips x {a.frames} frames x 64 mels, {n * a.threads} threads "
        f"in all; medians over {a.rounds} rounds; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'arm':<14} {'s/epoch':>9} {'triplets/s':>11} {'speed-up':>9}")
    base = np.median(times["1 process"])
    for name, values in times.items():
        t = float(np.median(values))
        print(f"{name:<14} {t:9.2f} {a.n_triplets / t:11.0f} {base / t:9.2f}")


if __name__ == "__main__":
    main()
