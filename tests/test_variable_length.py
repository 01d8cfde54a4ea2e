"""Clips of any length: a list of 2-D arrays ``(n_frames_i, n_features)``.

The estimators pad such a list to its longest clip and carry the lengths: the
embedder cuts segments and learns its standardization from real frames only and
returns one sequence per clip; the taggers read packed sequences and pool the
frame probabilities over real frames only.
"""

import warnings

import numpy as np
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline

from sktriplet import LogMelExtractor
from sktriplet.embedding import TripletEmbedder
from sktriplet.features import FramePooling, pool_frames, segment
from sktriplet.tagging import CRNNTagger, SequenceTagger
from sktriplet.utils import _validation
from sktriplet.utils._device import resolve_device
from sktriplet.utils._validation import check_clip_list, frame_mask, is_clip_list

N_MELS = 8
LENGTHS = (50, 73, 40, 96, 61, 88, 45, 70)
FAST = {"hidden_size": 4, "max_epochs": 2, "device": "cpu", "random_state": 0}
TAGGERS = [SequenceTagger, CRNNTagger]


@pytest.fixture(autouse=True)
def _quiet_one_thread(one_torch_thread):
    # tiny networks: thread hand-offs cost more than they save on a shared CPU
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*anchors were skipped")
        warnings.filterwarnings("ignore", message=".*never positive")
        yield


def ragged_clips(lengths=LENGTHS, n_mels=N_MELS, seed=0):
    """Log-mel-like clips of the given lengths, two classes with their own band."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(-40, 5, size=(n, n_mels)).astype(np.float32) for n in lengths]
    Y = np.zeros((len(X), 2), dtype=int)
    Y[np.arange(len(X)), np.arange(len(X)) % 2] = 1
    for i, x in enumerate(X):
        x[:, 1 + 4 * (i % 2)] += 15
    return X, Y


def embedder(**params):
    defaults = {
        "strategy": "s2",
        "n_triplets": 32,
        "batch_size": 16,
        "segment_frames": 16,
        "frame_pool": 4,
        "n_mels": N_MELS,
        "loss": "triplet",
        "max_epochs": 2,
        "random_state": 0,
        "module__n_filters": 4,
    }
    return TripletEmbedder(**{**defaults, **params})


def tagger(cls, **params):
    defaults = dict(FAST, frame_pool=1)
    if cls is CRNNTagger:
        defaults.update(n_filters=2, n_conv=1)
    return cls(**{**defaults, **params})


def steps(n_frames, frame_pool=4):
    return -(-n_frames // frame_pool)


@pytest.fixture
def nan_padding(monkeypatch):
    """Lists padded with NaN instead of zeros: any read of the padding shows."""

    def padded(X, **kwargs):
        X3, lengths = check_clip_list(X, **kwargs)
        if lengths is not None:
            X3[~frame_mask(lengths, X3.shape[1])] = np.nan
        return X3, lengths

    monkeypatch.setattr(_validation, "check_clip_list", padded)


# -- the convention -------------------------------------------------------------------
def test_check_clip_list_pads_and_returns_lengths():
    X = [np.ones((3, 2)), np.full((5, 2), 2, dtype=np.int16)]
    assert is_clip_list(X) and is_clip_list(tuple(X))
    assert not is_clip_list([[1.0, 2.0], [3.0, 4.0]])  # rows of a 2-D X
    assert not is_clip_list([]) and not is_clip_list(np.ones((2, 3, 2)))
    X3, lengths = check_clip_list(X)
    assert X3.shape == (2, 5, 2) and X3.dtype == np.float32
    np.testing.assert_array_equal(lengths, [3, 5])
    np.testing.assert_array_equal(X3[0, 3:], 0)
    same, none = check_clip_list([np.ones((4, 2))] * 3)
    assert none is None
    np.testing.assert_array_equal(same, np.ones((3, 4, 2)))


@pytest.mark.parametrize(
    "make", [embedder, lambda: tagger(SequenceTagger), lambda: FramePooling(2)]
)
def test_bad_clips_of_a_list_are_named(make):
    X, Y = ragged_clips(lengths=(40, 30, 30))
    mixed = X[:2] + [X[2][:, :6]]
    with pytest.raises(ValueError, match=r"X\[2\] has 6 features per frame.*X\[0\] "):
        make().fit(mixed, Y)
    with pytest.raises(ValueError, match=r"X\[1\] contains NaN"):
        make().fit([X[0], np.full((30, N_MELS), np.nan), X[2]], Y)
    with pytest.raises(ValueError, match=r"X\[1\] has an empty dimension"):
        make().fit([X[0], np.zeros((0, N_MELS)), X[2]], Y)


# -- features -------------------------------------------------------------------------
def test_extractor_without_duration_keeps_each_clip_length(tmp_path):
    rng = np.random.default_rng(0)
    waves = [rng.normal(0, 0.1, n).astype(np.float32) for n in (800, 1600, 1200)]
    ext = LogMelExtractor(
        sr=8000, n_fft=256, n_mels=N_MELS, duration=None, batch_size=2
    ).fit()
    X = ext.transform(waves)
    assert isinstance(X, list)
    assert [x.shape for x in X] == [(11, N_MELS), (21, N_MELS), (16, N_MELS)]
    for x, wave in zip(X, waves):
        np.testing.assert_allclose(x, ext.transform([wave])[0], atol=1e-3)
    # Equal lengths, or a duration, give a 3-D array as before.
    assert ext.transform(waves[:1] * 3).shape == (3, 11, N_MELS)
    fixed = clone(ext).set_params(duration=0.15).fit()
    assert fixed.transform(waves).shape == (3, 16, N_MELS)
    # Integer PCM is scaled like a file's samples (int16 full scale is 1.0) ...
    pcm = (np.clip(waves[1], -1, 1) * 2**15 - 1).astype(np.int16)
    scaled = ext.transform([waves[0], pcm])[1]
    np.testing.assert_allclose(scaled, ext.transform([pcm / 2**15])[0], atol=1e-3)
    # ... and files of different lengths give a list too.
    paths = []
    for i, wave in enumerate([waves[0], pcm]):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], wave, 8000, subtype="PCM_16")
    from_files = ext.transform(paths)
    assert [len(x) for x in from_files] == [11, 21]
    np.testing.assert_allclose(from_files[1], scaled, atol=1e-3)


def test_segment_and_pooling_read_each_clip_alone():
    X, _ = ragged_clips()
    segments, clip, start = segment(X, 16, hop=8, frame_seconds=0.5)
    padded, lengths = check_clip_list(X)
    padded[~frame_mask(lengths, padded.shape[1])] = np.nan
    same = segment(padded, 16, hop=8, frame_seconds=0.5, lengths=lengths)
    np.testing.assert_array_equal(same[0], segments)
    pooled = pool_frames(padded, 4, keep_partial=True, lengths=lengths)
    for i, x in enumerate(X):
        alone, _, alone_start = segment(x[None], 16, hop=8, frame_seconds=0.5)
        np.testing.assert_array_equal(segments[clip == i], alone)
        np.testing.assert_array_equal(start[clip == i], alone_start)
        by_itself = pool_frames(x[None], 4, keep_partial=True)[0]
        np.testing.assert_array_equal(pooled[i, : steps(len(x))], by_itself)
        np.testing.assert_array_equal(pooled[i, steps(len(x)) :], 0)
    with pytest.raises(ValueError, match=r"X\[2\] has 40 frames, fewer than"):
        segment(X, 41)
    pooled = FramePooling(size=4).fit(X).transform(X)
    assert [p.shape for p in pooled] == [(n // 4, N_MELS) for n in LENGTHS]
    with pytest.raises(ValueError, match=r"X\[1\] has 3 frames, fewer than size=4"):
        FramePooling(size=4).fit(X).transform([X[0], X[1][:3]])


# -- the embedder ---------------------------------------------------------------------
def test_embedder_gives_each_clip_its_own_sequence():
    X, Y = ragged_clips()
    emb = embedder().fit(X, Y)
    E = emb.transform(X)
    assert isinstance(E, list)
    assert [e.shape for e in E] == [(steps(n), 4) for n in LENGTHS]
    for x, e in zip(X, E):  # a clip's embedding does not depend on the others
        np.testing.assert_allclose(emb.transform([x])[0], e, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(emb.transform(x[None])[0], e, rtol=1e-5, atol=1e-5)
    S, clip, _ = emb.transform_segments(X, return_index=True)
    np.testing.assert_array_equal(np.bincount(clip), [steps(n) // 4 for n in LENGTHS])
    # Standardization statistics come from real (pooled) frames only.
    pooled = np.concatenate([pool_frames(x[None], 4, keep_partial=True)[0] for x in X])
    np.testing.assert_allclose(emb.feature_mean_, pooled.mean(0), rtol=1e-5)
    np.testing.assert_allclose(emb.feature_std_, pooled.std(0), rtol=1e-4)


def test_equal_length_list_is_the_3d_array():
    X, Y = ragged_clips(lengths=(48,) * 8)
    X3 = np.stack(X)
    # compared bit for bit: on the CPU (cuDNN's kernels are not deterministic)
    from_list = embedder(device="cpu").fit(X, Y)
    from_array = embedder(device="cpu").fit(X3, Y)
    E_list, E_array = from_list.transform(X), from_array.transform(X3)
    assert isinstance(E_list, list) and E_array.shape == (8, 12, 4)
    np.testing.assert_array_equal(np.stack(E_list), E_array)
    for cls in TAGGERS:
        P_list = tagger(cls).fit(E_list, Y).predict_proba(E_list)
        np.testing.assert_array_equal(
            P_list, tagger(cls).fit(E_array, Y).predict_proba(E_array)
        )


def test_embedder_never_reads_padding(nan_padding):
    X, Y = ragged_clips()
    # NaN padding never reaches the embeddings, which equal zero padding's bit
    # for bit: compared on the CPU (cuDNN's kernels are not deterministic) ...
    E = embedder(device="cpu").fit(X, Y).transform(X)
    assert all(np.isfinite(e).all() for e in E)
    if resolve_device("auto") != "cpu":  # ... and on a GPU, the default there
        assert all(np.isfinite(e).all() for e in embedder().fit(X, Y).transform(X))
    with pytest.MonkeyPatch.context() as mp:  # zero padding again
        mp.setattr(_validation, "check_clip_list", check_clip_list)
        ref = embedder(device="cpu").fit(X, Y).transform(X)
    for a, b in zip(E, ref):
        np.testing.assert_array_equal(a, b)


def test_clip_shorter_than_a_segment():
    X, Y = ragged_clips()
    short = X[:3] + [X[3][:10]] + X[4:]
    with pytest.raises(
        ValueError, match=r"X\[3\] has 10 frames, fewer than segment_frames=16"
    ):
        embedder().fit(short, Y)
    emb = embedder().fit(X, Y)
    assert emb.transform(short)[3].shape == (steps(10), 4)  # embedded whole
    with pytest.raises(ValueError, match=r"X\[3\] has 10 frames"):
        emb.transform_segments(short)


# -- the taggers ----------------------------------------------------------------------
def tagger_data(seed=0):
    rng = np.random.RandomState(seed)
    lengths = rng.randint(3, 30, size=32)
    X = [rng.randn(n, 5).astype(np.float32) for n in lengths]
    y = np.array([(x[:, :3].mean(axis=0) > 0) for x in X]).astype(int)
    return X, y


@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("cls", TAGGERS)
def test_tagger_clip_alone_equals_clip_in_a_padded_batch(cls, pooling):
    X, y = tagger_data()
    clf = tagger(cls, pooling=pooling).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (32, 3)
    alone = np.concatenate([clf.predict_proba([x]) for x in X])
    np.testing.assert_allclose(proba, alone, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X[0][None]), alone[:1], atol=1e-6)
    # Zero padding read as frames would change the predictions.
    padded, _ = check_clip_list(X)
    assert not np.allclose(clf.predict_proba(padded), proba, atol=1e-3)
    assert clf.predict(X).shape == (32, 3)


@pytest.mark.parametrize("cls", TAGGERS)
def test_tagger_training_ignores_padding(cls, nan_padding):
    X, y = tagger_data()
    padded, _, _ = _validation.validate_clips(None, X, reset=False)
    assert np.isnan(padded).any()  # what the estimators get here
    proba = tagger(cls).fit(X, y).predict_proba(X)
    assert np.isfinite(proba).all()
    with pytest.MonkeyPatch.context() as mp:  # zero padding again
        mp.setattr(_validation, "check_clip_list", check_clip_list)
        ref = tagger(cls).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(proba, ref)


def test_tagger_frame_pool_auto_follows_the_median_length():
    rng = np.random.RandomState(0)
    X = [rng.randn(n, 3).astype(np.float32) for n in (150, 250, 320, 2000, 230)]
    y = np.array([[1, 0], [0, 1]] * 2 + [[1, 1]])
    clf = SequenceTagger(**{**FAST, "max_epochs": 1}).fit(X, y)
    assert clf.frame_pool_ == 2  # median 250 frames -> about 100 steps


# -- pipelines ------------------------------------------------------------------------
def test_pipeline_from_waveforms_of_any_length():
    rng = np.random.default_rng(0)
    sizes = rng.integers(2400, 6400, size=8)
    waves = [rng.normal(0, 0.1, n).astype(np.float32) for n in sizes]
    y = np.array([[1, 0], [0, 1]] * 4)
    for i in range(0, 8, 2):  # class 0 is louder
        waves[i] *= 10
    pipe = make_pipeline(
        LogMelExtractor(sr=8000, n_fft=256, n_mels=N_MELS, duration=None),
        embedder(),
        tagger(SequenceTagger),
    )
    pipe.fit(waves, y)
    assert pipe.predict(waves).shape == (8, 2)
    E = pipe[:2].transform(waves)
    assert [len(e) for e in E] == [steps(1 + n // 80) for n in sizes]


def test_cross_val_score_over_a_ragged_list():
    X, Y = ragged_clips(lengths=LENGTHS * 2)
    pipe = Pipeline([("emb", embedder(max_epochs=1)), ("clf", tagger(SequenceTagger))])
    scores = cross_val_score(pipe, X, Y, cv=KFold(2))
    assert scores.shape == (2,) and np.isfinite(scores).all()
