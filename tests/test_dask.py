"""GridSearchCV of the design card's pipeline on a real Dask cluster (loopback).

The promise: a search run through joblib's Dask backend gives the same results as
``n_jobs=1``. Workers are separate processes with one thread each.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import cloudpickle
import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sktriplet import LabeledKFold, SequenceTagger, TripletEmbedder, macro_f1_scorer

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (installed with distributed)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*anchors were skipped"),
    # the cluster's own shutdown chatter
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 60, 8)).astype(np.float32)
    y = np.zeros((24, 2), np.int64)
    y[np.arange(24), np.arange(24) % 2] = 1
    X[y[:, 0] == 1, :, :4] += 1.0
    y[16:] = -1  # unlabelled clips, for the embedder only
    return X, y


def _search():
    embedder = TripletEmbedder(
        "s2",
        n_triplets=32,
        batch_size=8,
        segment_frames=20,
        n_mels=8,
        max_epochs=2,
        module__n_filters=4,
        random_state=0,
    )
    tagger = SequenceTagger(hidden_size=4, max_epochs=3, random_state=0)
    return GridSearchCV(
        Pipeline([("emb", embedder), ("clf", tagger)]),
        {"emb__labeled_ratio": [0.25, 0.75], "clf__hidden_size": [4, 6]},
        cv=LabeledKFold(n_splits=2, shuffle=True, random_state=0),
        scoring=macro_f1_scorer,
    )


def _one_torch_thread():
    import torch

    torch.set_num_threads(1)
    return torch.get_num_threads()


def test_grid_search_on_a_local_cluster_equals_n_jobs_1(
    local_cluster, one_torch_thread
):
    # The reference runs with one torch thread, like each worker: with several,
    # torch splits its reductions differently and the float results drift apart.
    X, y = _data()
    reference = _search().fit(X, y)
    with (
        local_cluster() as cluster,
        distributed.Client(cluster) as client,
    ):
        # torch would use every core in each worker: one thread each, as given
        assert set(client.run(_one_torch_thread).values()) == {1}
        with joblib.parallel_config(backend="dask"):
            search = _search().fit(X, y)
        workers = len(client.scheduler_info()["workers"])
    assert workers == 2
    for key, values in reference.cv_results_.items():
        if key.startswith(("split", "mean_test", "std_test", "rank")):
            np.testing.assert_array_equal(search.cv_results_[key], values, key)
    assert search.best_params_ == reference.best_params_
    np.testing.assert_array_equal(
        search.predict_proba(X[:4]), reference.predict_proba(X[:4])
    )


def test_fitted_pipeline_pickles_small():
    """No training data, segments or loaders are kept after fit: the pickle of a
    fitted pipeline does not grow with the training set."""
    X, y = _data()
    sizes = []
    for copies in (1, 4):
        pipe = _search().estimator.fit(
            np.tile(X, (copies, 1, 1)), np.tile(y, (copies, 1))
        )
        sizes.append(len(pickle.dumps(pipe)))
    assert sizes[1] < 1.1 * sizes[0], sizes  # 4x the clips: +140 kB of features
    assert pickle.loads(pickle.dumps(pipe)).predict(X).shape == y.shape


def _log_entries(dask_worker):
    return len(dask_worker.state.log)


def test_feature_extraction_spreads_over_the_cluster(tmp_path, local_cluster):
    """LogMelExtractor's batches go to the Dask workers (files out, arrays back)."""
    import soundfile as sf

    from sktriplet import LogMelExtractor

    rng = np.random.default_rng(0)
    files = []
    for i in range(8):  # clips of different lengths: a list comes back
        path = tmp_path / f"{i}.wav"
        sf.write(path, 0.1 * rng.normal(size=8000 + 400 * i), 16000)
        files.append(str(path))
    params = {"sr": 16000, "duration": None, "n_jobs": 2, "batch_size": 2}
    reference = LogMelExtractor(**params).fit_transform(files)
    with (
        local_cluster() as cluster,
        distributed.Client(cluster) as client,
    ):
        before = sum(client.run(_log_entries).values())
        with joblib.parallel_config(backend="dask"):
            features = LogMelExtractor(**params).fit_transform(files)
        after = client.run(_log_entries)
    assert sum(after.values()) > before  # the batches ran on the workers
    assert [f.shape for f in features] == [r.shape for r in reference]
    for f, r in zip(features, reference):
        # float32 STFT sums may round differently on other threads
        np.testing.assert_allclose(f, r, atol=1e-4)


class _DiesInFit(BaseEstimator, TransformerMixin):
    """A pipeline step whose first fit kills its worker process (a crash, an OOM
    kill); later fits find ``marker`` and go on, as after a transient fault."""

    def __init__(self, marker=None):
        self.marker = marker

    def fit(self, X, y=None):
        if self.marker is not None and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(3)
        return self

    def transform(self, X):
        return X


def test_a_failing_fit_on_a_worker_fails_the_search_with_its_error(local_cluster):
    X, y = _data()
    search = _search()
    search.set_params(param_grid={"emb__max_epochs": [1, -1]}, error_score="raise")
    with (
        local_cluster() as cluster,
        distributed.Client(cluster),
        joblib.parallel_config(backend="dask"),
        pytest.raises(ValueError, match="max_epochs"),
    ):
        search.fit(X, y)


def _search_with_a_crash(marker):
    search = _search()
    search.estimator.steps.insert(0, ("crash", _DiesInFit()))
    search.set_params(param_grid={"crash__marker": [None, str(marker)]})
    return search


def _run_search_with_a_crash(marker):
    """Run in a child process: the search on a fresh cluster, retries off."""
    # _DiesInFit lives in this test module, which the workers cannot import
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    X, y = _data()
    cluster_config = {"distributed.scheduler.allowed-failures": 0}
    with (
        dask.config.set(cluster_config),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        try:
            _search_with_a_crash(marker).fit(X, y)
        except (distributed.KilledWorker, distributed.client.FutureCancelledError):
            # joblib raises the first lost task it collects: the crashed fit
            # (KilledWorker) or a finished fit whose result died with the worker
            return "failed"
    return "finished"


@pytest.mark.skipif(
    not os.environ.get("SKTRIPLET_DASK_FAULT_TESTS"),
    reason="hangs in some runs (joblib 1.6 / distributed 2026.8; docs, 'Scaling "
    "out'); run with SKTRIPLET_DASK_FAULT_TESTS=1",
)
def test_a_worker_that_dies_mid_search_fails_the_search(tmp_path):
    """One fit kills its worker: with retries off, the search should fail within
    seconds instead of waiting. It runs in a child process, so a hang is a
    failure of this test rather than of the test run."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import test_dask; "
        f"print(test_dask._run_search_with_a_crash({str(tmp_path / 'crash')!r}))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail("the search still waited 120 s after a worker died")
    assert (tmp_path / "crash").exists()  # a worker did die
    assert out.strip().splitlines()[-1] == "failed"
