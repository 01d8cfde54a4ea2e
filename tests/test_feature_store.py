"""The feature store: resumable extraction to disk, read back as a read-only memmap."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from sktriplet.cli import main
from sktriplet.experiments import check_layout, load_features
from sktriplet.features import (
    FeatureStore,
    LogMelExtractor,
    is_feature_store,
    open_feature_store,
    write_feature_store,
)

CLASSES = ["a", "b"]


@pytest.fixture
def clips(tmp_path):
    """11 short files of different lengths, their labels and subsets."""
    rng = np.random.default_rng(0)
    files = []
    for i in range(11):
        path = tmp_path / "audio" / f"{i:02d}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal(6000 + 400 * i), 16000)
        files.append(str(path))
    y = np.zeros((11, 2), np.int8)
    y[np.arange(11), np.arange(11) % 2] = 1
    y[8:] = -1
    subset = np.array(["weak"] * 4 + ["test"] * 2 + ["eval"] * 2 + ["unlabel"] * 3)
    return files, y, subset


def _extractor(**params):
    return LogMelExtractor(**{"sr": 16000, "duration": 0.5, "batch_size": 4, **params})


def _write(path, clips, **kwargs):
    files, y, subset = clips
    kwargs.setdefault("extractor", _extractor())
    return write_feature_store(
        path, files, y=y, classes=CLASSES, subset=subset, chunk_size=3, **kwargs
    )


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_store_round_trip_equals_in_memory_extraction(tmp_path, clips, dtype):
    files, y, subset = clips
    reference = _extractor().fit_transform(files)
    store = _write(tmp_path / "store", clips, dtype=np.dtype(dtype))
    assert isinstance(store, FeatureStore) and len(store) == 11
    assert is_feature_store(tmp_path / "store")
    assert isinstance(store.X, np.memmap) and store.X.mode == "r"
    assert store.X.dtype == dtype and store.X.shape == reference.shape
    # float32 exactly; float16 is the float32 result rounded, nothing else
    np.testing.assert_array_equal(store.X, reference.astype(dtype))
    if dtype == "float16":
        assert np.abs(store.X - reference).max() <= 1 / 32
    again = open_feature_store(tmp_path / "store")
    np.testing.assert_array_equal(again.X, store.X)
    np.testing.assert_array_equal(again.y, y)
    assert list(again.classes) == CLASSES and list(again.subset) == list(subset)
    assert list(again.filenames) == files
    assert again.extractor["params"]["duration"] == 0.5
    size = os.path.getsize(tmp_path / "store" / "X.npy")
    assert size == pytest.approx(reference.size * np.dtype(dtype).itemsize, abs=256)


def test_reading_never_writes_the_store(tmp_path, clips):
    store = _write(tmp_path / "store", clips, dtype="float16")
    x_file = tmp_path / "store" / "X.npy"
    before = (_sha(x_file), os.stat(x_file).st_mtime_ns)
    with pytest.raises(ValueError, match="read-only"):
        store.X[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        store.X[:] += 1.0
    assert check_layout(tmp_path / "store") == tmp_path / "store"
    data = load_features(tmp_path / "store", tmp_path / "cache", verbose=0)
    assert isinstance(data.X, np.memmap) and not data.X.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        data.X[1] = 0.0
    # float16 features are rounded: runs on them are not mixed with float32 runs
    assert data.preparation == {"kind": "features", "feature_dtype": "float16"}
    np.testing.assert_array_equal(data.X[data.rows("weak")], store.X[:4])
    # reproduce's cells take consecutive subsets as views of the map, not copies
    weak = data.clips(data.rows("weak"))
    assert isinstance(weak, np.memmap) and np.shares_memory(weak, data.X)
    np.testing.assert_array_equal(weak, data.X[data.rows("weak")])
    spread = data.clips(np.array([0, 2]))
    assert not np.shares_memory(spread, data.X)
    del store, data
    assert (_sha(x_file), os.stat(x_file).st_mtime_ns) == before


def _record_calls(monkeypatch, fail_at=None):
    """Record the files of each transform call; raise Ctrl-C on call ``fail_at``."""
    calls = []
    transform = LogMelExtractor.transform

    def recording(self, X):
        calls.append(list(X))
        if len(calls) == fail_at:
            raise KeyboardInterrupt
        return transform(self, X)

    monkeypatch.setattr(LogMelExtractor, "transform", recording)
    return calls


def test_interrupted_run_resumes_where_it_stopped(tmp_path, clips, monkeypatch):
    files = clips[0]
    reference = _write(tmp_path / "reference", clips).X
    calls = _record_calls(monkeypatch, fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path / "store", clips)
    done = [f for call in calls[:2] for f in call]
    assert done == files[:6]
    for read in (open_feature_store, check_layout):
        with pytest.raises(ValueError, match="incomplete: 6 of 11 clips.* again"):
            read(tmp_path / "store")

    calls = _record_calls(monkeypatch)
    store = _write(tmp_path / "store", clips)
    extracted = [f for call in calls for f in call]
    assert extracted == files[6:]  # the first two chunks are not extracted again
    np.testing.assert_array_equal(store.X, reference)
    # a complete store: a third run extracts nothing
    calls = _record_calls(monkeypatch)
    _write(tmp_path / "store", clips)
    assert calls == []


def test_files_changed_since_extraction_are_extracted_again(
    tmp_path, clips, monkeypatch
):
    files = clips[0]
    _write(tmp_path / "store", clips)
    sf.write(files[4], np.zeros(8000), 16000)
    stat = os.stat(files[4])
    os.utime(files[4], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    calls = _record_calls(monkeypatch)
    store = _write(tmp_path / "store", clips)
    assert calls == [[files[4]]]
    assert store.X[4].max() == pytest.approx(-100.0)  # silence now
    np.testing.assert_array_equal(store.X, _extractor().fit_transform(files))


@pytest.mark.parametrize(
    "change, what",
    [
        ({"extractor": _extractor(fmin=50.0)}, "extractor settings"),
        ({"extractor": _extractor(n_mels=32)}, "shape and extractor settings"),
        ({"dtype": "float16"}, "dtype"),
        ({"files": slice(0, 10)}, "shape, file list and labels"),
        ({"files": slice(None, None, -1)}, "file list and labels"),
        ({"y": 1}, "labels"),
    ],
)
def test_rerun_with_other_files_or_settings_is_refused(tmp_path, clips, change, what):
    files, y, subset = clips
    change = dict(change)
    _write(tmp_path / "store", clips)
    before = _sha(tmp_path / "store" / "X.npy")
    if "files" in change:
        cut = change.pop("files")
        clips = files[cut], y[cut], subset[cut]
    if "y" in change:
        change.pop("y")
        clips = files, np.where(y == 1, 0, 1).astype(np.int8), subset
    labels = r" \(y, classes, subset\)" if what.endswith("labels") else ""
    with pytest.raises(ValueError, match=f"of another {what}{labels}; pass overwrite"):
        _write(tmp_path / "store", clips, **change)
    assert _sha(tmp_path / "store" / "X.npy") == before
    store = _write(tmp_path / "store", clips, overwrite=True, **change)
    np.testing.assert_array_equal(store.y, clips[1])


def test_bad_arguments_and_folders(tmp_path, clips):
    files = clips[0]
    with pytest.raises(ValueError, match="duration=None"):
        write_feature_store(tmp_path / "s", files, extractor=_extractor(duration=None))
    with pytest.raises(ValueError, match="dtype must be one of"):
        write_feature_store(tmp_path / "s", files, dtype="float64")
    with pytest.raises(ValueError, match="chunk_size must be a positive"):
        write_feature_store(tmp_path / "s", files, chunk_size=0)
    with pytest.raises(ValueError, match="y has 2 rows"):
        write_feature_store(tmp_path / "s", files, y=np.zeros((2, 2)))
    with pytest.raises(TypeError, match="wrap it in a list"):
        write_feature_store(tmp_path / "s", files[0])
    with pytest.raises(TypeError, match="must be a LogMelExtractor"):
        write_feature_store(tmp_path / "s", files, extractor=object())
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        write_feature_store(tmp_path / "s", [*files, str(tmp_path / "gone.wav")])
    assert not (tmp_path / "s").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a feature store and not empty"):
        write_feature_store(other, files, overwrite=True)
    assert (other / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a feature store"):
        open_feature_store(other)
    with pytest.raises(NotADirectoryError):
        write_feature_store(other / "notes.txt", files)
    # an empty folder is filled
    (tmp_path / "empty").mkdir()
    assert len(_write(tmp_path / "empty", clips)) == 11


def _features(root, out, *extra):
    return main(["features", str(root), "--out", str(out), "--n-jobs", "1", *extra])


def test_cli_store_resumes_after_ctrl_c_and_feeds_reproduce(
    dcase_root, tmp_path, monkeypatch, capsys
):
    assert _features(dcase_root, tmp_path / "f.npz") == 0
    capsys.readouterr()
    store = tmp_path / "features"
    calls = _record_calls(monkeypatch, fail_at=2)
    assert _features(dcase_root, store, "--chunk-size", "4") == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"sktriplet: interrupted; finished chunks are kept in {store}; run the "
        "same command again to resume"
    )
    with pytest.raises(ValueError, match="incomplete: 4 of 9 clips"):
        load_features(store, tmp_path / "cache", verbose=0)
    calls = _record_calls(monkeypatch)
    assert _features(dcase_root, store, "--chunk-size", "4") == 0
    out = capsys.readouterr().out
    assert "4 of 9 clips already in" in out and "(9, 1001, 64) float32" in out
    assert [len(c) for c in calls] == [4, 1]
    data = load_features(store, tmp_path / "cache", verbose=0)
    reference = load_features(tmp_path / "f.npz", tmp_path / "cache", verbose=0)
    assert isinstance(data.X, np.memmap)
    np.testing.assert_array_equal(data.X, reference.X)
    np.testing.assert_array_equal(data.y, reference.y)
    assert data.describe() == reference.describe()
    # another dtype on the same folder: refused, then replaced on request
    assert _features(dcase_root, store, "--dtype", "float16") == 1
    assert "another dtype" in capsys.readouterr().err
    assert _features(dcase_root, store, "--dtype", "float16", "--overwrite") == 0
    assert open_feature_store(store).X.dtype == np.float16
    assert _features(dcase_root, tmp_path / "g.npz", "--chunk-size", "4") == 1
    assert "--chunk-size and --overwrite apply to a feature store" in (
        capsys.readouterr().err
    )


def test_reproduce_runs_on_a_float16_store(dcase_root, tmp_path, one_torch_thread):
    from sktriplet.experiments import reproduce
    from sktriplet.experiments._runner import PAPER_TRIPLET_COUNTS

    store = tmp_path / "features"
    assert _features(dcase_root, store, "--dtype", "float16") == 0
    out = tmp_path / "out"
    reproduce(
        store,
        out,
        repeats=1,
        cache_dir=tmp_path / "cache",
        verbose=0,
        tables=("2",),
        strategies=("s1",),
        triplet_counts=PAPER_TRIPLET_COUNTS[:1],
        extras=False,
        embedder_epochs=1,
        tagger_epochs=1,
        scale=0.0005,
        tsne=False,
        batch_size=8,
    )
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header, two baselines and S1
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "features" and config["feature_dtype"] == "float16"
    assert not (tmp_path / "cache" / "features").exists()  # nothing re-extracted


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_unreachable_scheduler_fails_in_seconds(dcase_root, tmp_path, capsys):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    code = _features(dcase_root, tmp_path / "store", "--scheduler", address)
    elapsed = time.monotonic() - start
    assert code == 1 and elapsed < 20, elapsed
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(
        f"sktriplet: error: cannot reach the Dask scheduler at {address}: "
    )
    assert not (tmp_path / "store").exists()


def test_cli_scheduler_without_distributed_says_what_to_install(
    dcase_root, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    code = _features(dcase_root, tmp_path / "store", "--scheduler", "tcp://h:1")
    assert code == 1
    assert "pip install 'sktriplet[dask]'" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def _log_entries(dask_worker):
    return len(dask_worker.state.log)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
# another cluster on this machine may hold the default HTTP port
@pytest.mark.filterwarnings("ignore:Port .* is already in use")
def test_cli_on_a_local_cluster_equals_local_extraction(
    dcase_root, tmp_path, capsys, local_cluster
):
    distributed = pytest.importorskip("distributed")
    assert _features(dcase_root, tmp_path / "local") == 0
    with (
        local_cluster() as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        before = sum(client.run(_log_entries).values())
        code = _features(
            dcase_root,
            tmp_path / "cluster",
            "--chunk-size",
            "4",
            "--scheduler",
            cluster.scheduler_address,
        )
        after = sum(client.run(_log_entries).values())
    assert code == 0
    assert "2 worker(s), 2 thread(s)" in capsys.readouterr().out
    assert after > before  # the batches ran on the workers
    local = open_feature_store(tmp_path / "local")
    remote = open_feature_store(tmp_path / "cluster")
    # float32 STFT sums may round differently in other processes
    np.testing.assert_allclose(remote.X, local.X, atol=1e-4)
    np.testing.assert_array_equal(remote.y, local.y)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
# another cluster on this machine may hold the default HTTP port
@pytest.mark.filterwarnings("ignore:Port .* is already in use")
def test_cli_scheduler_without_workers_fails(dcase_root, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        code = _features(
            dcase_root,
            tmp_path / "store",
            "--scheduler",
            cluster.scheduler_address,
            "--connect-timeout",
            "1",
        )
    assert code == 1
    assert "has no worker" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()
