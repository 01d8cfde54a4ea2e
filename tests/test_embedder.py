import os
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback, EarlyStopping

from sktriplet.embedding import (
    TripletEmbedder,
    TripletNet,
    loudest_segments,
    segment_loudness,
)
from sktriplet.embedding._batch import SegmentTable, make_batch
from sktriplet.embedding._embedder import cpu_has_native_bf16
from sktriplet.features import pool_frames
from sktriplet.nn import ConvEmbedding
from sktriplet.sampling import (
    RuleSampler,
    SemiHardNegative,
    TransformPositive,
    Triplets,
)
from sktriplet.utils import _allocator

N_MELS = 16


@pytest.fixture(autouse=True)
def _quiet_one_thread(one_torch_thread):
    # tiny networks: thread hand-offs cost more than they save on a shared CPU
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*anchors were skipped")
        yield


def make_data(n_clips=8, n_frames=40, n_mels=N_MELS, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(-40, 5, size=(n_clips, n_frames, n_mels)).astype(np.float32)
    Y = np.zeros((n_clips, 3), dtype=int)
    Y[np.arange(n_clips), np.arange(n_clips) % 3] = 1
    for i in range(n_clips):  # class-dependent band
        X[i, :, 2 + 4 * (i % 3)] += 15
    Y[n_clips // 2 :] = -1
    return X, Y


def small(**params):
    defaults = {
        "strategy": "s2",
        "n_triplets": 32,
        "batch_size": 16,
        "segment_frames": 8,
        "frame_pool": 1,
        "loss": "triplet",
        "max_epochs": 2,
        "random_state": 0,
        "module__n_filters": 4,
    }
    defaults.update(params)
    return TripletEmbedder(**defaults)


@pytest.mark.parametrize("strategy", ["s1", "s2", "s3", "s4", "s5"])
def test_fit_transform_every_strategy(strategy):
    X, Y = make_data()
    est = small(strategy=strategy).fit(X, Y)
    E = est.transform(X)
    assert E.shape == (8, 40, 4) and E.dtype == np.float32
    assert np.isfinite(E).all()
    assert est.embedding_dim_ == 4 and est.segment_dim_ == 4
    assert est.n_features_in_ == N_MELS and est.n_frame_features_ == N_MELS
    assert len(est.history_) == 2
    assert {"train_loss", "train_active", "dur"} <= set(est.history_[-1])
    assert 0 <= est.history_[-1, "train_active"] <= 1
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])


def test_sampler_object_and_sampler_params():
    X, _ = make_data()
    sampler = RuleSampler(unlabeled=(TransformPositive(), SemiHardNegative()))
    est = small(strategy=sampler, sampler__unlabeled__positive__weights=[1, 0, 0, 0])
    est.fit(X)
    assert est.transform(X).shape == (8, 40, 4)
    assert sampler.unlabeled[0].weights is None  # the estimator's sampler is a copy


def test_transform_2d_and_uneven_lengths():
    X, Y = make_data(n_frames=43)
    est = small(n_mels=N_MELS).fit(X.reshape(len(X), -1), Y)
    E2 = est.transform(X.reshape(len(X), -1))
    E3 = est.transform(X)
    assert est.n_features_in_ == 43 * N_MELS and est.n_frame_features_ == N_MELS
    assert E3.shape == (8, 43, 4)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :40].reshape(len(X), -1))
    np.testing.assert_array_equal(E2, E3.reshape(8, -1))
    # shorter clips than a segment are embedded whole
    assert est.transform(X[:, :5]).shape == (8, 5, 4)


def test_transform_matches_module_on_segments():
    X, Y = make_data()
    est = small(strategy="s1", device="cpu").fit(X)
    E = est.transform(X[:2])
    Xs = (X[:2] - est.feature_mean_) / est.feature_std_
    module = est.net_.module_.eval()
    with torch.no_grad():
        ref = module(torch.from_numpy(Xs[:, :8]))
    np.testing.assert_allclose(E[:, :8], ref.numpy(), rtol=1e-5, atol=1e-5)


def test_transform_segments():
    X, Y = make_data()
    est = small(strategy="s1").fit(X)
    S, clip, start = est.transform_segments(X, return_index=True)
    assert S.shape == (40, 4)
    np.testing.assert_array_equal(clip, np.repeat(np.arange(8), 5))
    np.testing.assert_allclose(start[:5], [0, 0.08, 0.16, 0.24, 0.32])
    E = est.transform(X)
    np.testing.assert_allclose(S[0], E[0, :8].mean(0), rtol=1e-5, atol=1e-6)
    flat = small(strategy="s1", module__pooling="flatten").fit(X)
    S = flat.transform_segments(X)
    assert S.shape == (40, 32) and flat.segment_dim_ == 32
    np.testing.assert_allclose(S[0], flat.transform(X)[0, :8].ravel(), rtol=1e-5)


def test_standardization_learnt_in_fit():
    X, Y = make_data()
    est = small(strategy="s1", max_epochs=1).fit(X)
    np.testing.assert_allclose(est.feature_mean_, X.mean((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(est.feature_std_, X.std((0, 1)), rtol=1e-4)


def test_validation_split_and_early_stopping():
    X, Y = make_data(n_clips=10)
    est = small(
        strategy="s1",
        validation_fraction=0.3,
        max_epochs=6,
        callbacks=[EarlyStopping(patience=1, threshold=10.0)],
    ).fit(X)
    h = est.history_
    assert "valid_loss" in h[-1] and "valid_active" in h[-1]
    assert len(h) < 6  # stopped early (threshold makes every epoch a non-improvement)


def test_warm_start_and_partial_fit_continue_training():
    X, Y = make_data()
    est = small(max_epochs=1).fit(X, Y)
    w0 = est.net_.module_.blocks[0].weight.detach().clone()
    est.partial_fit(X, Y)
    assert len(est.history_) == 2
    assert not torch.equal(w0, est.net_.module_.blocks[0].weight)
    est.set_params(warm_start=True).fit(X, Y)
    assert len(est.history_) == 3
    est.set_params(warm_start=False).fit(X, Y)
    assert len(est.history_) == 1


def test_get_set_params_clone_and_module_routing():
    est = small(module__dropout=0.1, optimizer__weight_decay=1e-4)
    params = est.get_params()
    assert params["module__n_filters"] == 4 and params["module__dropout"] == 0.1
    est2 = clone(est)
    assert est2.get_params()["optimizer__weight_decay"] == 1e-4
    est2.set_params(module__n_filters=6, max_epochs=1)
    X, Y = make_data()
    est2.fit(X, Y)
    assert isinstance(est2.net_, TripletNet)
    assert isinstance(est2.net_.module_, ConvEmbedding)
    assert est2.net_.module_.blocks[0].out_channels == 6
    assert est2.transform(X).shape[-1] == 6
    assert est2.net_.optimizer_.param_groups[0]["weight_decay"] == 1e-4
    with pytest.raises(TypeError, match="unexpected parameter.*n_filters"):
        TripletEmbedder(n_filters=3).fit(X, Y)


def test_margin_routed_to_loss():
    X, Y = make_data()
    est = small(margin=0.0, strategy="s1").fit(X)
    assert est.net_.criterion_.margin == 0.0


def test_fresh_triplets_every_epoch():
    X, Y = make_data()
    seen = []

    class Spy(Callback):
        def on_batch_begin(self, net, batch=None, training=None, **kw):
            seen.append(batch[0].anchor.clone())

    small(strategy="s1", max_epochs=2, n_triplets=16, callbacks=[Spy()]).fit(X)
    assert len(seen) == 2
    assert not torch.equal(seen[0], seen[1])


def test_determinism_same_random_state():
    X, Y = make_data()
    a = small(random_state=3, device="cpu").fit(X, Y).transform(X)
    b = small(random_state=3, device="cpu").fit(X, Y).transform(X)
    c = small(random_state=4, device="cpu").fit(X, Y).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_determinism_s3_remedies_with_unset_rule_seed():
    # NearestPositive's own random_state stays None: the embedder seeds it
    X, Y = make_data()
    params = {
        "strategy": "s3",
        "sampler__unlabeled__positive__n_neighbors": 2,
        "sampler__unlabeled__positive__farther_than_transform": True,
        "device": "cpu",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = small(**params).fit(X, Y)
        b = small(**params).fit(X, Y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    # the user's parameters are not changed
    assert a.get_params()["strategy"] == "s3"
    assert "sampler__unlabeled__positive__random_state" not in a.get_params()


def test_fit_leaves_global_torch_rng_alone():
    X, Y = make_data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small(max_epochs=1).fit(X, Y)
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence_round_trip(dump, tmp_path):
    X, Y = make_data()
    est = small().fit(X, Y)
    if dump == "pickle":
        est2 = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "est.joblib")
        est2 = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(est.transform(X), est2.transform(X))
    np.testing.assert_array_equal(est.transform_segments(X), est2.transform_segments(X))
    est2.partial_fit(X, Y)  # still trainable
    assert len(est2.history_) == 4


def test_amp_bf16_on_cpu():
    X, Y = make_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = small(amp=True, module__channels_last=True, max_epochs=1).fit(X, Y)
    emulated = [w for w in caught if "without native bfloat16" in str(w.message)]
    # the warning comes exactly where bfloat16 is emulated
    assert len(emulated) == (0 if cpu_has_native_bf16() else 1)
    assert est.net_.amp_dtype == torch.bfloat16
    E = est.transform(X)
    assert E.dtype == np.float32 and np.isfinite(E).all()


# -- batch assembly ------------------------------------------------------------


def test_make_batch_embeds_each_segment_once_and_masks_candidates():
    rng = np.random.default_rng(0)
    segments = rng.normal(size=(6, 4, 3)).astype(np.float32)
    clip = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [0, 1], [-1, -1]], np.int8)
    t = Triplets.empty(4)
    t.anchor[:] = [0, 0, 2, 5]
    t.labeled[:] = [True, True, False, False]
    t.positive[:] = [2, -1, 3, -1]  # index positive, noise, index, noise
    t.transform[:] = [-1, 0, -1, 0]
    t.alpha[:] = 0.5
    t.negative[:] = [4, -1, -1, -1]
    b = make_batch(segments, clip, labels, t)
    # distinct real segments: anchors {0, 2, 5}, positives {2, 3}, negatives {4}
    assert b.n_real == 5
    assert b.x.shape == (5 + 2, 4, 3)
    real = b.x[: b.n_real].numpy()
    for i, seg in enumerate([0, 2, 5]):
        np.testing.assert_array_equal(real[b.anchor[[0, 2, 3][i]]], segments[seg])
    np.testing.assert_array_equal(real[b.positive[0]], segments[2])
    np.testing.assert_array_equal(real[b.negative[0]], segments[4])
    assert b.positive[1] == 5 and b.positive[3] == 6  # generated rows follow
    assert b.negative.tolist()[1:] == [-1, -1, -1]
    uniq = [0, 2, 3, 4, 5]
    valid = b.valid.numpy()
    # labelled anchor 0 (class 0): not its clip, not sharing class 0 -> only 4, 5
    assert [uniq[j] for j in np.flatnonzero(valid[1])] == [4, 5]
    # unlabelled anchor 2: not clip 1, not its positive 3 -> 0, 4, 5
    assert [uniq[j] for j in np.flatnonzero(valid[2])] == [0, 4, 5]
    assert [uniq[j] for j in np.flatnonzero(valid[3])] == [0, 2, 3]
    assert len(b) == 4


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((4, 2, 8, 16)), "3-D"),
        (np.full((4, 40, N_MELS), np.nan), "NaN"),
        (np.full((4, 40, N_MELS), np.inf), "infinity"),
    ],
)
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        small(strategy="s1").fit(X)


def test_bad_y():
    X, Y = make_data()
    with pytest.raises(ValueError, match="same length"):
        small().fit(X, Y[:5])
    bad = Y.copy()
    bad[0, 0] = 2
    with pytest.raises(ValueError, match="only -1"):
        small().fit(X, bad)


@pytest.mark.parametrize("strategy", ["s2", "s3", "s4", "s5"])
def test_labelled_strategy_without_labels(strategy):
    X, Y = make_data()
    with pytest.raises(ValueError, match=f"strategy='{strategy}' uses labels"):
        small(strategy=strategy).fit(X, np.full_like(Y, -1))
    with pytest.raises(ValueError, match="no labelled row"):
        small(strategy=strategy).fit(X)


def test_too_few_segments_or_clips():
    X, Y = make_data()
    with pytest.raises(ValueError, match="batch_size=64"):
        small(strategy="s1", batch_size=64).fit(X)
    with pytest.raises(ValueError, match="1 sample"):
        small(strategy="s1").fit(X[:1])
    with pytest.raises(ValueError, match="segment_frames=96"):
        small(strategy="s1", segment_frames=96).fit(X)


def test_transform_other_n_mels():
    X, Y = make_data()
    est = small(strategy="s1", max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="n_mels"):
        est.transform(X[:, :, :8])


def test_bad_params():
    X, Y = make_data()
    with pytest.raises(ValueError, match="strategy"):
        small(strategy="s9").fit(X, Y)
    with pytest.raises(ValueError, match="amp"):
        small(amp="fp16", device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="device"):
        small(device="tpu").fit(X, Y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda():
    X, Y = make_data()
    with pytest.raises(RuntimeError, match="device='cuda'"):
        small(device="cuda").fit(X, Y)


def test_divergence_raises():
    X, Y = make_data()

    class Poison(Callback):
        def on_batch_begin(self, net, **kw):
            with torch.no_grad():
                net.module_.blocks[0].weight.fill_(float("nan"))

    with pytest.raises(RuntimeError, match="diverged"):
        small(callbacks=[Poison()]).fit(X, Y)


def test_cpu_has_native_bf16(monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not cpu_has_native_bf16()
    X, Y = make_data()
    with pytest.warns(UserWarning, match="amp=True on a CPU without native"):
        small(amp=True, max_epochs=1, device="cpu").fit(X, Y)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert cpu_has_native_bf16()
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert cpu_has_native_bf16()


def test_tune_allocator_changes_speed_not_results():
    X, Y = make_data()
    # glibc's allocator is a CPU matter, and only the CPU gives bit-identical fits
    tuned = small(tune_allocator=True, device="cpu").fit(X, Y)
    assert _allocator._state["depth"] == 0  # the block ended with fit
    untuned = small(tune_allocator=False, device="cpu").fit(X, Y)
    np.testing.assert_array_equal(tuned.transform(X), untuned.transform(X))
    assert _allocator._state["depth"] == 0
    with pytest.raises(ValueError, match="tune_allocator"):
        small(tune_allocator="yes").fit(X, Y)


def test_tune_allocator_auto_only_when_alone(monkeypatch):
    from sktriplet.embedding._cpu import allocator_scope

    assert small().tune_allocator == "auto"
    monkeypatch.setattr(_allocator.threading, "active_count", lambda: 1)
    with allocator_scope("auto", "cpu"):
        assert _allocator._state["depth"] == 1  # alone: tuned for the call
    monkeypatch.setattr(_allocator.threading, "active_count", lambda: 2)
    with allocator_scope("auto", "cpu"):
        assert _allocator._state["depth"] == 0  # another thread could observe it
    with allocator_scope(True, "cpu"):
        assert _allocator._state["depth"] == 1
    assert _allocator._state["depth"] == 0


def test_n_mels_in_is_a_deprecated_alias_and_old_pickles_load():
    X, Y = make_data()
    est = small(max_epochs=1).fit(X, Y)
    with pytest.warns(FutureWarning, match="n_frame_features_"):
        assert est.n_mels_in_ == est.n_frame_features_ == N_MELS
    state = est.__getstate__()
    state["n_mels_in_"] = state.pop("n_frame_features_")  # as pickled before
    old = TripletEmbedder.__new__(TripletEmbedder)
    old.__setstate__(state)
    assert old.n_frame_features_ == N_MELS
    np.testing.assert_array_equal(old.transform(X), est.transform(X))


def test_unpickle_model_from_before_tune_allocator():
    X, Y = make_data()
    est = small(max_epochs=1).fit(X, Y)
    expected = est.transform(X)
    del est.tune_allocator  # as pickled by a version without the parameter
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.get_params()["tune_allocator"] is True
    np.testing.assert_array_equal(loaded.transform(X), expected)


# -- GPU -----------------------------------------------------------------------

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("amp", [False, True, "fp16"])
def test_cuda_fit(amp):
    X, Y = make_data()
    est = small(device="auto", amp=amp).fit(X, Y)
    assert est.device_.startswith("cuda")
    assert next(est.net_.module_.parameters()).is_cuda
    E = est.transform(X)
    assert E.shape == (8, 40, 4) and np.isfinite(E).all()


@pytest.mark.gpu
@gpu
def test_gpu_fitted_model_loads_on_cpu(tmp_path):
    import subprocess
    import sys

    X, Y = make_data()
    est = small(device="cuda").fit(X, Y)
    joblib.dump(est, tmp_path / "est.joblib")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "E.npy", est.transform(X))
    code = (
        "import joblib, numpy as np, torch, warnings;"
        "warnings.simplefilter('ignore');"
        "assert not torch.cuda.is_available();"
        f"est = joblib.load({str(tmp_path / 'est.joblib')!r});"
        "assert est.device_ == 'cpu', est.device_;"
        f"E = est.transform(np.load({str(tmp_path / 'X.npy')!r}));"
        f"np.testing.assert_allclose(E, np.load({str(tmp_path / 'E.npy')!r}),"
        " rtol=1e-3, atol=1e-4)"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_prefetched_batches_are_identical():
    from sktriplet.embedding._batch import SegmentTable
    from sktriplet.sampling import get_sampler

    rng = np.random.default_rng(0)
    segments = rng.normal(size=(20, 4, 3)).astype(np.float32)
    clip = np.repeat(np.arange(5), 4)
    labels = np.full((20, 0), -1, np.int8)
    out = []
    for prefetch in (False, True):
        sampler = get_sampler("s1").fit(segments, clip_index=clip)
        table = SegmentTable(
            segments,
            clip,
            labels,
            sampler,
            n_triplets=20,
            batch_size=6,
            labeled_ratio=None,
            rng=np.random.default_rng(1),
            feature_mean=None,
            feature_std=None,
            prefetch=prefetch,
        )
        out.append([b for b, _ in table.batches()])
    assert len(out[0]) == len(out[1]) == 4
    for a, b in zip(*out):
        torch.testing.assert_close(a.x, b.x)
        torch.testing.assert_close(a.anchor, b.anchor)
        torch.testing.assert_close(a.valid, b.valid)


@pytest.mark.parametrize("pooling", ["mean", "flatten"])
def test_joint_classification_loss(pooling):
    X, Y = make_data()
    with warnings.catch_warnings():
        # logging the class loss must not convert a tensor that requires grad
        warnings.filterwarnings("error", message=".*requires_grad=True")
        est = small(classification_weight=1.0, module__pooling=pooling).fit(X, Y)
    head = est.net_.head_
    assert head.out_features == 3
    assert head.in_features == est.segment_dim_
    opt_params = {id(p) for g in est.net_.optimizer_.param_groups for p in g["params"]}
    assert id(head.weight) in opt_params
    assert "train_class_loss" in est.history_[-1, "batches", 0]
    assert est.transform(X).shape == (8, 40, 4)
    est2 = pickle.loads(pickle.dumps(est))
    torch.testing.assert_close(est2.net_.head_.weight, head.weight)
    est2.partial_fit(X, Y)
    with pytest.raises(ValueError, match="classification_weight"):
        small(strategy="s1", classification_weight=1.0).fit(X)


# -- pooled input, weak-label salience, contrastive loss ------------------------


def test_frame_pool_equals_pooling_the_input_first():
    X, Y = make_data(n_frames=400)
    # two fits agree to rounding on the CPU only (cuDNN's kernels are not deterministic)
    pooled = small(frame_pool=10, segment_frames=80, device="cpu").fit(X, Y)
    plain = small(frame_pool=1, segment_frames=8, device="cpu")
    plain.fit(pool_frames(X, 10), Y)
    assert pooled.segment_steps_ == 8
    E = pooled.transform(X)
    assert E.shape == (8, 40, 4)
    np.testing.assert_allclose(E, plain.transform(pool_frames(X, 10)), atol=1e-5)
    S, clip, start = pooled.transform_segments(X, return_index=True)
    assert S.shape == (40, 4)
    np.testing.assert_allclose(start[:5], [0.0, 0.8, 1.6, 2.4, 3.2])
    # a trailing partial step is embedded too: 405 frames give 41 steps
    assert pooled.transform(np.concatenate([X, X[:, :5]], axis=1)).shape[1] == 41
    # the segment length is checked in input frames
    with pytest.raises(ValueError, match="segment_frames=80"):
        small(frame_pool=10, segment_frames=80).fit(X[:, :60], Y)


def test_weak_label_share_keeps_labels_on_loudest_segments(monkeypatch):
    X, Y = make_data(n_frames=80)  # 10 segments of 8 frames per clip
    X[0, 16:24] += 30  # the loud third segment of labelled clip 0
    seen = {}
    original = SegmentTable.__init__

    def spy(self, segments, clip_index, labels, *args, **kwargs):
        seen["clip"], seen["labels"] = clip_index, labels
        original(self, segments, clip_index, labels, *args, **kwargs)

    monkeypatch.setattr(SegmentTable, "__init__", spy)
    small(weak_label_share=0.2).fit(X, Y)
    labeled = (seen["labels"] >= 0).all(axis=1)
    per_clip = np.bincount(seen["clip"][labeled], minlength=8)
    np.testing.assert_array_equal(per_clip, [2, 2, 2, 2, 0, 0, 0, 0])
    assert labeled[2]  # clip 0's loudest segment keeps its label
    small(weak_label_share=1.0).fit(X, Y)
    labeled = (seen["labels"] >= 0).all(axis=1)
    assert np.bincount(seen["clip"][labeled], minlength=8).tolist()[:4] == [10] * 4
    with pytest.raises(ValueError, match="weak_label_share"):
        small(weak_label_share=0.0).fit(X, Y)


def test_loudest_segments_and_loudness():
    X = np.zeros((2, 6, 3), np.float32)
    X[0, 4:6] = 5.0
    X[1, 0:2] = 1.0
    loud = segment_loudness(X, 2)
    np.testing.assert_allclose(loud, [0, 0, 5, 1, 0, 0])
    keep = loudest_segments(loud, np.repeat([0, 1], 3), 0.5)
    # ties keep the earlier segment
    assert keep.tolist() == [True, False, True, True, True, False]
    with pytest.raises(ValueError, match="share"):
        loudest_segments(loud, np.repeat([0, 1], 3), 1.5)
    with pytest.raises(ValueError, match="same length"):
        loudest_segments(loud, [0, 1], 0.5)


def test_labeled_ratio_auto_balances_semi_supervised_strategies(monkeypatch):
    X, Y = make_data()
    seen = []
    original = SegmentTable.__init__

    def spy(self, *args, labeled_ratio=None, **kwargs):
        seen.append(labeled_ratio)
        original(self, *args, labeled_ratio=labeled_ratio, **kwargs)

    monkeypatch.setattr(SegmentTable, "__init__", spy)
    for strategy, expected in [("s2", 0.5), ("s3", 0.5), ("s1", None), ("s5", None)]:
        small(strategy=strategy, labeled_ratio="auto", max_epochs=1).fit(X, Y)
        assert seen[-1] == expected, strategy
    small(strategy="s2", labeled_ratio=0.25, max_epochs=1).fit(X, Y)
    assert seen[-1] == 0.25
    # every segment labelled: nothing to balance
    Y_all = Y.copy()
    Y_all[4:] = np.eye(3, dtype=int)[np.arange(4) % 3]
    small(strategy="s2", weak_label_share=1.0, max_epochs=1).fit(X, Y_all)
    assert seen[-1] is None


def test_supcon_loss_trains_and_logs_active_share():
    X, Y = make_data()
    est = small(loss="supcon", max_epochs=3).fit(X, Y)
    losses = est.history_[:, "train_loss"]
    assert np.all(np.isfinite(losses))
    assert 0 <= est.history_[-1, "train_active"] <= 1
    assert est.net_.objective == "supcon"
    other = small(loss="supcon", temperature=0.5, max_epochs=3).fit(X, Y)
    assert not np.allclose(other.transform(X), est.transform(X))
    assert est.transform(X).shape == (8, 40, 4)
    with pytest.raises(ValueError, match="loss"):
        small(loss="hinge").fit(X, Y)
    with pytest.raises(ValueError, match="temperature"):
        small(loss="supcon", temperature=0.0).fit(X, Y)


def test_band_gain_colours_each_training_segment_apart():
    X, Y = make_data()
    plain = small(loss="supcon", fine_tune=False, band_gain=0.0).fit(X, Y)
    est = small(loss="supcon", fine_tune=False, band_gain=0.5).fit(X, Y)
    assert est.net_.band_gain == 0.5 and plain.net_.band_gain == 0.0
    assert not np.allclose(est.transform(X), plain.transform(X))
    again = small(loss="supcon", fine_tune=False, band_gain=0.5).fit(X, Y)
    np.testing.assert_array_equal(again.transform(X), est.transform(X))
    # what the network sees: x plus one curve per segment, the same in every
    # frame, within +-band_gain, in training only
    net = est.net_
    seen = []
    net._embed_segments = lambda xb: seen.append(xb) or xb.mean(dim=(1, 2))
    batch = type("B", (), {"x": torch.zeros(6, 8, N_MELS)})()
    net.module_.train()
    net.infer(batch)
    net.module_.eval()
    net.infer(batch)
    coloured, untouched = seen
    assert torch.equal(untouched, batch.x)
    assert torch.equal(coloured, coloured[:, :1].expand_as(coloured))
    assert 0 < coloured.abs().max() <= 0.5
    assert len({tuple(row[0].tolist()) for row in coloured}) == 6
    with pytest.raises(ValueError, match="band_gain"):
        small(band_gain=-1.0).fit(X, Y)


def test_supcon_loss_value_on_a_hand_made_batch():
    net = small(loss="supcon", temperature=1.0).fit(*make_data()).net_
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    batch = type("B", (), {})()
    batch.n_real = 4
    batch.valid = torch.tensor([[False, False, True, False]])
    batch.shared = torch.tensor([[False, False, False, True]])
    loss, active = net._contrastive_loss(
        emb, batch, torch.tensor([0]), torch.tensor([1])
    )
    # positives: the view (cos 1) and the shared segment (cos 1); negative cos 0
    log_p = 1 - np.log(2 * np.e + 1)
    assert float(loss) == pytest.approx(-log_p, rel=1e-5)
    assert float(active) == 0.0


def test_unpickle_embedder_from_before_frame_pool():
    X, Y = make_data()
    est = small(max_epochs=1).fit(X, Y)
    expected = est.transform(X)
    for name in ("frame_pool", "weak_label_share", "loss", "temperature", "band_gain"):
        delattr(est, name)
    del est.segment_steps_
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.frame_pool == 1 and loaded.segment_steps_ == 8
    np.testing.assert_array_equal(loaded.transform(X), expected)
