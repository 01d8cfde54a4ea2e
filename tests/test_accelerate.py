"""Data-parallel training (AcceleratedTripletEmbedder) on two CPU processes.

The two-process tests launch this file as a worker twice, with torch.distributed's
environment (gloo on 127.0.0.1), as ``accelerate launch --cpu --num_processes 2``
would; each worker records the triplets it draws and trains on, its weights, its
history and (rank 0) the pickled model.
"""

import json
import os
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("accelerate")

import torch  # noqa: E402
from sklearn.base import clone  # noqa: E402

from sktriplet.embedding import (  # noqa: E402
    AcceleratedTripletEmbedder,
    TripletEmbedder,
)
from sktriplet.embedding._accelerated_net import shard_bounds  # noqa: E402

N_PROCESSES = 2
BATCH = 8  # per process
PARAMS = {
    "strategy": "s2",
    "n_triplets": 36,  # 2 steps of 16 and a last one of 4: 2 triplets per process
    "segment_frames": 20,
    "frame_pool": 2,
    "max_epochs": 2,
    "weak_label_share": 1.0,
    "classification_weight": 0.5,
    "validation_fraction": 0.5,
    "device": "cpu",
    "random_state": 0,
    "module__n_filters": 4,
}
TIMEOUT = 120  # a hung collective must fail the test, not block it


def _data(n_clips=24):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_clips, 60, 8)).astype(np.float32)
    y = np.arange(n_clips) % 3
    y[18:] = -1
    return X, y


def _rows(triplets):
    """One integer row per triplet (what identifies it)."""
    t = triplets
    cols = (t.anchor, t.positive, t.negative, t.transform, t.seed, t.labeled)
    return np.column_stack([np.asarray(c, dtype=np.int64) for c in cols])


def _batch_losses(emb):
    batches = [b for epoch in emb.history_ for b in epoch["batches"]]
    return [b["train_loss"] for b in batches if "train_loss" in b]


def _worker(data_path, out_dir, overrides="{}"):
    """Fit on this process's share; save what the test checks."""
    from sktriplet.embedding._batch import SegmentTable

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    data = np.load(data_path)
    drawn, used = [], []
    draw, make_batch = SegmentTable.draw, SegmentTable.make_batch

    def recording_draw(table):
        triplets = draw(table)
        if not table.fixed:
            drawn.append(_rows(triplets))
        return triplets

    def recording_make_batch(table, triplets):
        if not table.fixed:
            used.append((len(drawn) - 1, _rows(triplets)))
        return make_batch(table, triplets)

    SegmentTable.draw = recording_draw
    SegmentTable.make_batch = recording_make_batch
    params = {**PARAMS, **json.loads(overrides)}
    emb = AcceleratedTripletEmbedder(batch_size=BATCH, **params)
    emb.fit(data["X"], data["y"])
    state = {k: v.numpy().copy() for k, v in emb.net_.module_.state_dict().items()}
    head = getattr(emb.net_, "head_", None)
    if head is not None:
        state.update(
            {f"head.{k}": v.numpy().copy() for k, v in head.state_dict().items()}
        )
    record = {
        "state": state,
        "train_loss": emb.history_[:, "train_loss"],
        "batch_loss": _batch_losses(emb),
        "valid_loss": [e.get("valid_loss") for e in emb.history_],
        "drawn": drawn,
        "used": used,
    }
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(record, f)
    if rank == 0:
        with open(os.path.join(out_dir, "model.pkl"), "wb") as f:
            pickle.dump(emb, f)
    # as the docs' recipe does: a process group left to the interpreter's exit
    # can abort it ("terminate called without an active exception")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, datasets, overrides=None):
    """Run one worker per data file; return their exit codes and stderr."""
    for _ in range(3):
        results = _launch_once(tmp_path, datasets, overrides, _free_port())
        # another program may take the free port before the workers bind it
        if not any("Address already in use" in err for _, err in results):
            break
    return results


def _launch_once(tmp_path, datasets, overrides, port):
    procs = []
    for rank, data_path in enumerate(datasets):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(len(datasets)),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            OMP_NUM_THREADS="1",
            # CPU processes: on a machine with a GPU, accelerate's barrier would
            # address GPU <rank>, which a one-GPU machine lacks for rank 1
            CUDA_VISIBLE_DEVICES="",
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    str(data_path),
                    str(tmp_path),
                    json.dumps(overrides or {}),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=TIMEOUT)
            results.append((proc.returncode, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def _save(path, X, y):
    np.savez(path, X=X, y=y)
    return path


def _run(tmp, overrides):
    data = _save(tmp / "data.npz", *_data())
    results = _launch(tmp, [data] * N_PROCESSES, overrides)
    for rc, err in results:
        assert rc == 0, err[-3000:]
    ranks = []
    for rank in range(N_PROCESSES):
        with open(tmp / f"rank{rank}.pkl", "rb") as f:
            ranks.append(pickle.load(f))
    return tmp, ranks


#: Negatives mined in the batch, contrastive loss, classification head; no
#: random_state: the processes must take the main process's seeds; no
#: validation, whose forward passes would also send the BatchNorm buffers.
MINING = {"random_state": None, "validation_fraction": None}
#: Label negatives only and the triplet loss: a triplet's loss needs no pool.
# No dropout or band gains either: their draws depend on how a step's batch is
# split between processes, and this run is compared step by step with one process.
NO_MINING = {
    "strategy": "s5",
    "loss": "triplet",
    "module__dropout": 0.0,
    "band_gain": 0.0,
}


@pytest.fixture(scope="module")
def mining_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("mining"), MINING)


@pytest.fixture(scope="module")
def no_mining_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("no_mining"), NO_MINING)


@pytest.mark.parametrize("run", ["mining_run", "no_mining_run"])
def test_processes_end_with_identical_weights(request, run):
    _, (r0, r1) = request.getfixturevalue(run)
    assert r0["state"].keys() == r1["state"].keys()
    assert any("running_mean" in k for k in r0["state"])  # BatchNorm buffers too
    assert any(k.startswith("head.") for k in r0["state"])
    for key in r0["state"]:
        np.testing.assert_array_equal(r0["state"][key], r1["state"][key], err_msg=key)
    # the logged scores are means over the processes
    assert r0["batch_loss"] == r1["batch_loss"]
    assert r0["valid_loss"] == r1["valid_loss"]


@pytest.mark.parametrize("run", ["mining_run", "no_mining_run"])
def test_every_triplet_of_an_epoch_is_used_once(request, run):
    _, ranks = request.getfixturevalue(run)
    n_epochs = PARAMS["max_epochs"]
    for r in ranks:
        assert len(r["drawn"]) == n_epochs
    for epoch in range(n_epochs):
        drawn = ranks[0]["drawn"][epoch]
        # same seeds: every process draws the same epoch
        np.testing.assert_array_equal(drawn, ranks[1]["drawn"][epoch])
        shares = [[rows for e, rows in r["used"] if e == epoch] for r in ranks]
        assert len(shares[0]) == len(shares[1])  # same number of steps
        assert all(len(s) for step in zip(*shares) for s in step)  # none empty
        used = np.concatenate([rows for share in shares for rows in share])
        assert len(used) == len(drawn)
        # as multisets: each drawn triplet is used once, on one process
        np.testing.assert_array_equal(np.unique(used, axis=0), np.unique(drawn, axis=0))
        _, n_drawn = np.unique(drawn, axis=0, return_counts=True)
        _, n_used = np.unique(used, axis=0, return_counts=True)
        np.testing.assert_array_equal(n_used, n_drawn)
        # in epoch order: step k is step k of a single process with the global batch
        order = np.concatenate([rows for step in zip(*shares) for rows in step])
        np.testing.assert_array_equal(order, drawn)


def test_loss_curve_matches_single_process_with_global_batch(no_mining_run):
    _, (r0, _) = no_mining_run
    X, y = _data()
    torch.set_num_threads(1)
    params = {**PARAMS, **NO_MINING}
    single = TripletEmbedder(batch_size=BATCH * N_PROCESSES, **params).fit(X, y)
    # Same seeds, triplets, initial weights and steps, and no negative mined in
    # the batch: only BatchNorm's batch statistics differ (each process
    # normalises its half of the step). Measured: 0.5 % on the epoch losses and
    # the first step's, while another random_state moves them by 3-10 %.
    history = single.history_
    np.testing.assert_allclose(r0["train_loss"], history[:, "train_loss"], rtol=0.02)
    np.testing.assert_allclose(r0["valid_loss"], history[:, "valid_loss"], rtol=0.02)
    first = _batch_losses(single)[0]
    np.testing.assert_allclose(r0["batch_loss"][0], first, rtol=0.02)
    assert len(r0["batch_loss"]) == len(_batch_losses(single))  # same steps


def test_saved_model_transforms_in_a_plain_process(mining_run):
    tmp, (r0, _) = mining_run
    with open(tmp / "model.pkl", "rb") as f:
        emb = pickle.load(f)
    assert emb.accelerator is None and emb.net_.accelerator is None
    assert type(emb.net_.module_).__name__ == "ConvEmbedding"
    for key, value in emb.net_.module_.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), r0["state"][key])
    X, _ = _data()
    E = emb.transform(X)
    assert E.shape == (len(X), 30, 4)
    assert np.isfinite(E).all()
    assert emb.device_ == "cpu"
    # ... also where accelerate cannot be imported: the pickle holds none of it
    code = (
        "import sys, pickle, numpy as np; sys.modules['accelerate'] = None; "
        f"emb = pickle.load(open({str(tmp / 'model.pkl')!r}, 'rb')); "
        "X = np.load(sys.argv[1])['X']; np.save(sys.argv[2], emb.transform(X))"
    )
    data, out = tmp / "data.npz", tmp / "E.npy"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data), str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out), E)


def test_fit_without_accelerate_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)
    X, y = _data()
    with pytest.raises(ImportError, match=r"sktriplet\[accelerate\]"):
        AcceleratedTripletEmbedder(batch_size=BATCH, **PARAMS).fit(X, y)


@pytest.mark.parametrize(
    "kind, match",
    [
        ("size", "clips, values, shape of y"),
        pytest.param("content", "CRC-32", marks=pytest.mark.slow),
    ],
)
def test_processes_given_different_data_stop_with_clear_error(tmp_path, kind, match):
    X, y = _data()
    if kind == "size":
        other = (X[:20], y[:20])
    else:
        other = (X + 1, y)
    data = [_save(tmp_path / "a.npz", X, y), _save(tmp_path / "b.npz", *other)]
    for rc, err in _launch(tmp_path, data):
        assert rc != 0
        assert "processes were given different data" in err, err[-3000:]
        assert match in err


@pytest.mark.parametrize(
    "n, batch, processes",
    [(36, 8, 2), (32, 8, 2), (33, 8, 2), (17, 8, 2), (35, 4, 3), (2, 8, 2), (9, 3, 4)],
)
def test_shard_bounds_cover_the_epoch_once(n, batch, processes):
    steps = shard_bounds(n, batch, processes)
    flat = [b for step in steps for b in step]
    assert all(len(step) == processes for step in steps)
    assert flat[0][0] == 0 and flat[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(flat, flat[1:]))  # contiguous, once
    for step in steps:
        sizes = [stop - start for start, stop in step]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
        assert max(sizes) <= batch + 1


def test_shard_bounds_need_a_triplet_per_process():
    with pytest.raises(ValueError, match="fewer than the 3 processes"):
        shard_bounds(2, 8, 3)


def test_one_process_trains_like_the_plain_embedder():
    X, y = _data()
    torch.set_num_threads(1)
    acc = AcceleratedTripletEmbedder(batch_size=BATCH, **PARAMS).fit(X, y)
    plain = TripletEmbedder(batch_size=BATCH, **PARAMS).fit(X, y)
    assert acc.history_[:, "train_loss"] == plain.history_[:, "train_loss"]
    np.testing.assert_array_equal(acc.transform(X), plain.transform(X))
    assert acc.net_.accelerator is not None  # kept for continued training
    more = pickle.loads(pickle.dumps(acc)).set_params(warm_start=True).fit(X, y)
    assert len(more.history_) == 2 * PARAMS["max_epochs"]


def test_clone_and_params():
    from accelerate import Accelerator

    emb = AcceleratedTripletEmbedder(accelerator=Accelerator(cpu=True), n_triplets=7)
    params = clone(emb).get_params()
    assert params["n_triplets"] == 7 and params["accelerator"] is not None
    assert params.keys() == emb.get_params().keys()
    assert set(TripletEmbedder().get_params()) < set(params)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"device": "cpu"}, "leave device='auto'"),
        ({"amp": "bf16"}, "mixed_precision on the Accelerator"),
    ],
)
def test_accelerator_settings_conflicts(params, match):
    from accelerate import Accelerator

    X, y = _data()
    emb = AcceleratedTripletEmbedder(
        accelerator=Accelerator(cpu=True), **{**PARAMS, "device": "auto", **params}
    )
    with pytest.raises(ValueError, match=match):
        emb.fit(X, y)


if __name__ == "__main__":
    _worker(*sys.argv[1:4])
