import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from sktriplet.features import pool_frames
from sktriplet.metrics import macro_f1_score
from sktriplet.tagging import CRNNTagger, SequenceTagger
from sktriplet.tagging._base import resolve_device
from sktriplet.tagging._training import compute_class_weight_vector

FAST = {"hidden_size": 4, "max_epochs": 2, "device": "cpu", "random_state": 0}


# Tiny networks: thread hand-offs cost more than they save on a shared CPU.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n=40, t=6, d=5, c=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, t, d).astype(np.float32)
    y = (X[:, :, :c].mean(axis=1) > 0).astype(int)
    return X, y


def _tagger(cls, **kw):
    params = dict(FAST)
    if cls is CRNNTagger:
        params.update(n_filters=2, n_conv=1)
    params.update(kw)
    return cls(**params)


TAGGERS = [SequenceTagger, CRNNTagger]


@pytest.mark.parametrize("cls", TAGGERS)
def test_multilabel_fit_predict_shapes(cls):
    X, y = _data()
    clf = _tagger(cls).fit(X, y)
    assert clf.multilabel_
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    proba = clf.predict_proba(X)
    assert proba.shape == (40, 3) and ((proba > 0) & (proba < 1)).all()
    pred = clf.predict(X)
    assert pred.shape == (40, 3) and set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    dec = clf.decision_function(X)
    np.testing.assert_array_equal(dec > 0, pred.astype(bool))
    assert clf.n_frame_features_ == 5 and clf.n_features_in_ == 5
    assert len(clf.history_) == 2


@pytest.mark.parametrize("cls", TAGGERS)
def test_1d_labels_softmax(cls):
    X, _ = _data()
    y = np.array(["dog", "cat", "bird", "-1"] * 10)
    clf = _tagger(cls).fit(X, y)
    assert not clf.multilabel_
    np.testing.assert_array_equal(clf.classes_, ["bird", "cat", "dog"])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = clf.predict(X)
    assert pred.shape == (40,)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_array_equal(
        clf.decision_function(X).argmax(axis=1), proba.argmax(axis=1)
    )


def test_binary_1d_decision_function_is_log_odds():
    X, y = _data()
    clf = _tagger(SequenceTagger).fit(X, y[:, 0])
    dec = clf.decision_function(X)
    assert dec.shape == (40,)
    np.testing.assert_array_equal(dec > 0, clf.predict(X) == 1)


def test_flattened_2d_input_with_n_features():
    X, y = _data()
    clf3 = _tagger(SequenceTagger).fit(X, y)
    clf2 = _tagger(SequenceTagger, n_features=5).fit(X.reshape(40, -1), y)
    np.testing.assert_allclose(
        clf3.predict_proba(X), clf2.predict_proba(X.reshape(40, -1)), rtol=1e-6
    )
    assert clf2.n_features_in_ == 30
    # a 3-D X is accepted by a model fitted on 2-D X with the same frame size
    np.testing.assert_allclose(clf2.predict_proba(X), clf3.predict_proba(X), rtol=1e-6)
    with pytest.raises(ValueError, match="is expecting 30 features"):
        clf2.predict(X.reshape(40, -1)[:, :-1])
    clf3.set_params(n_features=5)
    with pytest.raises(ValueError, match="not a multiple of n_features=5"):
        clf3.predict(X.reshape(40, -1)[:, :-1])


@pytest.mark.parametrize("cls", TAGGERS)
def test_unlabelled_rows_are_dropped(cls):
    X, y = _data()
    rng = np.random.RandomState(1)
    X_unl = rng.randn(15, 6, 5).astype(np.float32) * 10
    X_all = np.concatenate([X, X_unl])
    y_all = np.concatenate([y, -np.ones((15, 3), dtype=int)])
    a = _tagger(cls).fit(X, y)
    b = _tagger(cls).fit(X_all, y_all)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6)


def test_learns_a_separable_problem():
    X, y = _data(n=120, seed=3)
    clf = SequenceTagger(
        hidden_size=8,
        num_layers=1,
        max_epochs=15,
        lr=0.02,
        device="cpu",
        random_state=0,
    ).fit(X, y)
    assert macro_f1_score(y, clf.predict(X)) > 0.8


def test_variable_number_of_frames_at_predict():
    X, y = _data()
    clf = _tagger(SequenceTagger).fit(X, y)
    assert clf.predict(np.zeros((3, 11, 5), dtype=np.float32)).shape == (3, 3)


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", TAGGERS)
@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((4, 2, 3, 5)), "3-D"),
        (np.zeros(4), "Expected 2D array"),
        (np.full((40, 6, 5), np.nan), "NaN"),
        (np.full((40, 6, 5), np.inf), "NaN or infinity"),
    ],
)
def test_bad_X_at_fit(cls, X, match):
    _, y = _data()
    with pytest.raises(ValueError, match=match):
        _tagger(cls).fit(X, y[: len(X)])


@pytest.mark.parametrize("cls", TAGGERS)
def test_bad_X_at_predict(cls):
    X, y = _data()
    clf = _tagger(cls).fit(X, y)
    with pytest.raises(ValueError, match="features per frame"):
        clf.predict(np.zeros((3, 6, 4), dtype=np.float32))
    X_bad = X[:3].copy()
    X_bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(X_bad)
    with pytest.raises(ValueError, match="3-D"):
        clf.predict(np.zeros((3, 6, 5, 1)))


@pytest.mark.parametrize("cls", TAGGERS)
def test_predict_before_fit(cls):
    X, _ = _data()
    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(_tagger(cls), method)(X)


@pytest.mark.parametrize(
    "y, err, match",
    [
        (np.full((40, 3), 2), ValueError, "only -1"),
        (-np.ones((40, 3), dtype=int), ValueError, "no labelled row"),
        (-np.ones(40, dtype=int), ValueError, "no labelled row"),
        (np.linspace(0, 1, 40), ValueError, "Unknown label type"),
        (np.zeros((40, 3, 1)), ValueError, "1-D"),
        (np.zeros((39, 3), dtype=int), ValueError, "same length"),
        (None, ValueError, "requires y"),
    ],
)
def test_bad_y(y, err, match):
    X, _ = _data()
    with pytest.raises(err, match=match):
        _tagger(SequenceTagger).fit(X, y)


def test_class_never_positive_warns_with_its_name():
    X, y = _data()
    y[:, 1] = 0
    y[:5] = -1
    y[5, 1] = -1
    y[5] = -1
    with pytest.warns(UserWarning, match=r"Class\(es\) \[1\] are never positive"):
        _tagger(SequenceTagger).fit(X, y)


@pytest.mark.parametrize(
    "threshold, match",
    [
        (0.0, "threshold"),
        (1.0, "threshold"),
        (1.5, "threshold"),
        ([0.5, 0.5], "one value per class"),
        ([0.5, 0.0, 0.5], r"open interval \(0, 1\)"),
        ([[0.5, 0.5, 0.5]], "one value per class"),
    ],
)
def test_bad_threshold(threshold, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        _tagger(SequenceTagger, threshold=threshold).fit(X, y)


def test_per_class_threshold():
    X, y = _data()
    clf = _tagger(SequenceTagger, threshold=[0.01, 0.5, 0.99]).fit(X, y)
    pred = clf.predict(X)
    assert pred[:, 0].all() and not pred[:, 2].any()
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(pred[:, 1], proba[:, 1] > 0.5)
    clf.set_params(threshold=[0.5, 0.5])
    with pytest.raises(ValueError, match="one value per class"):
        clf.predict(X)


@pytest.mark.parametrize("one_column", [False, True])
def test_predict_from_proba_is_predict(one_column):
    X, y = _data()
    if one_column:
        y = y[:, 0]
    clf = _tagger(SequenceTagger, threshold=[0.3, 0.5, 0.7] if y.ndim == 2 else 0.5)
    clf.fit(X, y)
    np.testing.assert_array_equal(
        clf.predict_from_proba(clf.predict_proba(X)), clf.predict(X)
    )
    with pytest.raises(ValueError, match="proba must have shape"):
        clf.predict_from_proba(np.zeros((2, 5)))


@pytest.mark.parametrize(
    "params, err",
    [
        ({"max_epochs": 0}, ValueError),
        ({"lr": -1.0}, ValueError),
        ({"class_weight": "auto"}, ValueError),
        ({"dropout": 1.0}, ValueError),
        ({"device": "tpu:x"}, ValueError),
        ({"n_features": 0}, ValueError),
    ],
)
def test_bad_params(params, err):
    X, y = _data()
    with pytest.raises(err):
        _tagger(SequenceTagger, **params).fit(X, y)


def test_class_weight_vectors():
    Y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_allclose(
        compute_class_weight_vector("balanced", Y, np.arange(3), False),
        [1 / 3, 3.0, 1.0],
    )
    Y1 = np.eye(2, dtype=int)[[0, 0, 0, 1]]
    np.testing.assert_allclose(
        compute_class_weight_vector("balanced", Y1, np.array(["a", "b"]), True),
        [4 / 6, 2.0],
    )
    np.testing.assert_allclose(
        compute_class_weight_vector({"b": 5.0}, Y1, np.array(["a", "b"]), True),
        [1.0, 5.0],
    )
    assert compute_class_weight_vector(None, Y, np.arange(3), False) is None
    with pytest.raises(ValueError, match="not a class"):
        compute_class_weight_vector({"z": 1.0}, Y1, np.array(["a", "b"]), True)


def test_balanced_class_weight_raises_rare_class_recall():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4, 3).astype(np.float32)
    y = np.zeros((120, 2), dtype=int)
    y[:, 0] = X[:, :, 0].mean(axis=1) > 0.6  # rare positives
    y[:, 1] = X[:, :, 1].mean(axis=1) > 0
    kw = {"hidden_size": 4, "max_epochs": 4, "lr": 0.02, "device": "cpu"}
    plain = SequenceTagger(random_state=0, class_weight=None, **kw).fit(X, y)
    bal = SequenceTagger(random_state=0, class_weight="balanced", **kw).fit(X, y)
    assert bal.predict(X)[:, 0].sum() > plain.predict(X)[:, 0].sum()


# ------------------------------------------------------ determinism, persistence
@pytest.mark.parametrize("cls", TAGGERS)
def test_random_state_determinism(cls):
    X, y = _data()
    a = _tagger(cls, dropout=0.2).fit(X, y).predict_proba(X)
    b = _tagger(cls, dropout=0.2).fit(X, y).predict_proba(X)
    c = _tagger(cls, dropout=0.2, random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_does_not_touch_global_torch_rng():
    X, y = _data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _tagger(SequenceTagger).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


@pytest.mark.parametrize("cls", TAGGERS)
def test_pickle_joblib_clone(cls, tmp_path):
    X, y = _data()
    clf = _tagger(cls).fit(X, y)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict_proba(X), expected
    )
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "clf.joblib").predict_proba(X), expected
    )
    fresh = clone(clf)
    assert not hasattr(fresh, "module_")
    np.testing.assert_array_equal(fresh.fit(X, y).predict_proba(X), expected)


def test_callbacks_are_used_and_not_mutated():
    class Count(Callback):
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    cb = Count()
    X, y = _data()
    clf = _tagger(SequenceTagger, callbacks=[cb]).fit(X, y)
    assert cb.epochs == 0  # a copy was trained, the parameter is left as given
    assert len(clf.history_) == 2


def test_verbose_prints_training_log(capsys):
    X, y = _data()
    _tagger(SequenceTagger, verbose=1).fit(X, y)
    assert "train_loss" in capsys.readouterr().out
    _tagger(SequenceTagger).fit(X, y)
    assert capsys.readouterr().out == ""


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device='cuda'.*not available"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", TAGGERS)
def test_gpu_fitted_model_predicts_on_cpu(cls, tmp_path):
    X, y = _data()
    clf = _tagger(cls, device="auto").fit(X, y)
    on_gpu = clf.predict_proba(X)
    assert next(clf.module_.parameters()).device.type == "cpu"
    restored = pickle.loads(pickle.dumps(clf))
    restored.set_params(device="cpu")
    # TF32 convolutions / GRUs on the GPU: agreement to about 1e-5
    np.testing.assert_allclose(restored.predict_proba(X), on_gpu, atol=1e-3)
    # a process that sees no GPU loads the model and predicts with device="auto"
    joblib.dump((clf, X, on_gpu), tmp_path / "clf.joblib")
    code = (
        "import joblib, numpy as np, torch; assert not torch.cuda.is_available(); "
        f"clf, X, ref = joblib.load({str(tmp_path / 'clf.joblib')!r}); "
        "np.testing.assert_allclose(clf.predict_proba(X), ref, atol=1e-3)"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("cls", TAGGERS)
def test_standardize_makes_the_tagger_scale_invariant(cls):
    X, y = _data()
    a = _tagger(cls).fit(X, y)
    b = _tagger(cls).fit(X * 50 - 60, y)
    # The standardized inputs differ in their last float32 bits, which training
    # amplifies to about 1e-4 on some CPUs; without standardization they would
    # differ by tenths.
    np.testing.assert_allclose(
        a.predict_proba(X), b.predict_proba(X * 50 - 60), rtol=0, atol=1e-3
    )
    assert b.feature_mean_.shape == (5,) and b.feature_std_.shape == (5,)
    c = _tagger(cls, standardize=False).fit(X, y)
    assert c.feature_mean_ is None


# ------------------------------------------- frame pooling, clip pooling, decay
@pytest.mark.parametrize("cls", TAGGERS)
def test_frame_pool_auto_and_fixed(cls):
    X, y = _data(t=250)
    auto = _tagger(cls).fit(X, y)
    assert auto.frame_pool_ == 2  # about 100 steps per clip
    assert _tagger(cls).fit(X[:, :101], y).frame_pool_ == 1
    fixed = _tagger(cls, frame_pool=2).fit(X, y)
    np.testing.assert_allclose(auto.predict_proba(X), fixed.predict_proba(X))
    # pooling the input first is the same model, and a short tail is one step
    pre = _tagger(cls, frame_pool=1).fit(pool_frames(X, 2), y)
    np.testing.assert_allclose(
        pre.predict_proba(pool_frames(X, 2)), fixed.predict_proba(X), atol=1e-6
    )
    assert fixed.predict_proba(X[:, :3]).shape == (40, 3)
    with pytest.raises(ValueError, match="frame_pool"):
        _tagger(cls, frame_pool=0).fit(X, y)


@pytest.mark.parametrize("cls", TAGGERS)
def test_clip_pooling_and_weight_decay_change_the_model(cls):
    X, y = _data()
    p_max = _tagger(cls, pooling="max").fit(X, y).predict_proba(X)
    p_mean = _tagger(cls, pooling="mean").fit(X, y).predict_proba(X)
    assert not np.allclose(p_max, p_mean)
    decayed = _tagger(cls, weight_decay=0.5, max_epochs=5).fit(X, y)
    plain = _tagger(cls, weight_decay=0.0, max_epochs=5).fit(X, y)

    def norm(clf):
        return sum(float(p.norm()) for p in clf.module_.parameters())

    assert norm(decayed) < norm(plain)
    with pytest.raises(ValueError, match="pooling"):
        _tagger(cls, pooling="median").fit(X, y)


def test_unpickle_tagger_from_before_frame_pool():
    X, y = _data()
    clf = _tagger(SequenceTagger, frame_pool=1, pooling="mean").fit(X, y)
    expected = clf.predict_proba(X)
    for name in ("frame_pool", "pooling", "weight_decay", "frame_pool_"):
        delattr(clf, name)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.frame_pool == 1 and loaded.pooling == "mean"
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_crnn_front_end_initialised_from_an_embedder():
    from sktriplet.embedding import TripletEmbedder

    rng = np.random.RandomState(0)
    X = rng.randn(12, 40, 8).astype(np.float32)
    y = (X[:, :, :2].mean(axis=1) > 0).astype(int)
    emb = TripletEmbedder(
        strategy="s1",
        n_triplets=16,
        batch_size=8,
        segment_frames=8,
        frame_pool=1,
        max_epochs=1,
        random_state=0,
        module__n_filters=4,
        device="cpu",
    ).fit(X)
    kw = {"n_filters": 4, "hidden_size": 4, "max_epochs": 1, "device": "cpu"}
    clf = CRNNTagger(cnn_init=emb.net_.module_, lr=1e-12, random_state=0, **kw)
    clf.fit(X, y)
    # the weights start from the embedder's (BatchNorm statistics move anyway),
    # layer by layer: its dropout (0.2 by default, none here) numbers them apart
    tuned = list(clf.module_.cnn.parameters())
    initial = list(emb.net_.module_.parameters())
    assert len(tuned) == len(initial) == 12
    for value, start in zip(tuned, initial):
        torch.testing.assert_close(value, start, atol=1e-6, rtol=0)
    scratch = CRNNTagger(lr=1e-12, random_state=0, **kw).fit(X, y)
    first = next(iter(emb.net_.module_.state_dict()))
    assert not torch.allclose(
        scratch.module_.cnn.state_dict()[first], clf.module_.cnn.state_dict()[first]
    )
    # a state dict works too, and clone / pickle keep the parameter
    state = emb.net_.module_.state_dict()
    again = clone(CRNNTagger(cnn_init=state, random_state=0, **kw)).fit(X, y)
    pickle.loads(pickle.dumps(again)).predict(X[:2])
    with pytest.raises(ValueError, match="cnn_init does not fit"):
        CRNNTagger(cnn_init=emb.net_.module_, **{**kw, "n_filters": 8}).fit(X, y)
    with pytest.raises(ValueError, match="cnn_init"):
        CRNNTagger(cnn_init="weights.pt", **kw).fit(X, y)
