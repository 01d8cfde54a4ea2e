"""End to end: TripletEmbedder + SequenceTagger in a Pipeline, model selection over
label ratios and strategies with LabeledKFold and macro_f1_scorer."""

import numpy as np
import pytest
import soundfile as sf
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline

from sktriplet.embedding import TripletEmbedder
from sktriplet.features import LogMelExtractor
from sktriplet.metrics import macro_f1_score, macro_f1_scorer
from sktriplet.model_selection import LabeledKFold, mask_labels
from sktriplet.tagging import SequenceTagger

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*anchors were skipped:UserWarning"),
    pytest.mark.usefixtures("one_torch_thread"),
]


def _data(n=30, t=32, m=16, c=3, seed=0):
    rng = np.random.RandomState(seed)
    y = (rng.rand(n, c) < 0.4).astype(int)
    y[np.arange(n), rng.randint(c, size=n)] = 1  # every clip has an event
    X = rng.randn(n, t, m) + (y @ (2 * rng.randn(c, m)))[:, None, :]
    return X.astype(np.float32), y


def _pipe(**emb):
    params = {
        "strategy": "s2", "n_triplets": 32, "batch_size": 16, "segment_frames": 8,
        "max_epochs": 1, "device": "cpu", "random_state": 0, "module__n_filters": 4,
    }
    params.update(emb)
    return Pipeline([
        ("emb", TripletEmbedder(**params)),
        ("clf", SequenceTagger(
            hidden_size=4, num_layers=1, max_epochs=3, lr=0.01, device="cpu",
            random_state=0,
        )),
    ])


def test_pipeline_fit_predict_with_unlabelled_rows():
    X, y = _data()
    y_semi = mask_labels(y, 0.5, random_state=0)
    pipe = _pipe().fit(X, y_semi)
    pred = pipe.predict(X)
    assert pred.shape == y.shape
    assert pipe.predict_proba(X).shape == y.shape
    assert 0.0 <= macro_f1_score(y, pred) <= 1.0
    assert 0.0 <= macro_f1_scorer(pipe, X, y_semi) <= 1.0
    # the embedder saw every clip, the tagger only the labelled ones
    assert pipe["clf"].n_frame_features_ == pipe["emb"].embedding_dim_


def test_cross_validate_with_labeled_kfold():
    X, y = _data()
    y_semi = mask_labels(y, 0.5, random_state=0)
    res = cross_validate(
        _pipe(), X, y_semi, scoring=macro_f1_scorer, cv=LabeledKFold(3)
    )
    assert res["test_score"].shape == (3,)
    assert np.all((res["test_score"] >= 0) & (res["test_score"] <= 1))


@pytest.mark.slow
def test_grid_search_over_strategies_and_label_ratios():
    X, y = _data(n=36)
    y_semi = mask_labels(y, 0.5, random_state=0)
    # s1 ignores labels, so it takes no labeled_ratio
    grid = [
        {"emb__strategy": ["s1"]},
        {"emb__strategy": ["s2", "s3"], "emb__labeled_ratio": [0.25, 0.75]},
    ]
    search = GridSearchCV(
        _pipe(), grid, scoring=macro_f1_scorer, cv=LabeledKFold(3), n_jobs=2,
        error_score="raise",
    ).fit(X, y_semi)
    res = search.cv_results_
    assert len(res["params"]) == 5
    assert np.isfinite(res["mean_test_score"]).all()
    assert sorted(res["rank_test_score"])[0] == 1
    best = res["params"][int(np.argmin(res["rank_test_score"]))]
    assert search.best_params_ == best
    assert search.best_estimator_["emb"].strategy == best["emb__strategy"]
    assert search.predict(X).shape == y.shape


def _write_clips(folder, n, sr=16000, seconds=0.5, seed=0):
    rng = np.random.RandomState(seed)
    t = np.arange(int(sr * seconds)) / sr
    freqs = np.array([440.0, 1500.0, 4000.0])
    y = (rng.rand(n, 3) < 0.5).astype(int)
    paths = []
    for i in range(n):
        wave = 0.05 * rng.randn(t.size)
        for f, on in zip(freqs, y[i]):
            wave += on * 0.3 * np.sin(2 * np.pi * f * t)
        path = folder / f"clip{i:02d}.wav"
        sf.write(path, wave, sr, subtype="PCM_16")
        paths.append(str(path))
    return paths, y


def test_logmel_pipeline_on_file_paths_extracts_once(tmp_path, monkeypatch):
    paths, y = _write_clips(tmp_path, 12)
    y = mask_labels(y, 9, random_state=0)
    calls = []
    original = LogMelExtractor._run_batches

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LogMelExtractor, "_run_batches", counting)
    mel = LogMelExtractor(
        sr=16000, n_mels=16, n_fft=512, duration=0.5, memory=tmp_path / "cache"
    )
    pipe = Pipeline([("mel", mel), *_pipe().steps])
    search = GridSearchCV(
        pipe, {"clf__hidden_size": [4, 6]}, scoring=macro_f1_scorer,
        cv=LabeledKFold(2), error_score="raise",
    ).fit(paths, y)
    # 2 folds x (train, test) + the refit; the second candidate hits the cache
    assert len(calls) <= 5
    assert search.predict(paths).shape == (12, 3)
    n_calls = len(calls)
    search.best_estimator_.fit(paths, y)
    assert len(calls) == n_calls
