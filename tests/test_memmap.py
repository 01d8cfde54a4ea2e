"""Fitting and predicting on memory-mapped ``X`` (``np.load(path, mmap_mode="r")``).

The estimators read a memmap a chunk of clips at a time: they never copy it whole
(float16 files become float32 chunk by chunk), never write it, release the file
pages they have read, and give exactly what they give on the same ``X`` in memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import tracemalloc

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sktriplet.embedding import TripletEmbedder
from sktriplet.features import FramePooling
from sktriplet.tagging import CRNNTagger, SequenceTagger
from sktriplet.utils import _chunks

EMBEDDER = {
    "strategy": "s2",
    "n_triplets": 32,
    "batch_size": 16,
    "segment_frames": 40,
    "max_epochs": 2,
    "random_state": 0,
    "module__n_filters": 4,
}
# Fits compared bit for bit run on the CPU: on a GPU cuDNN's kernels are not
# deterministic, so two identical fits there differ in the last digits.
EXACT = {**EMBEDDER, "device": "cpu"}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of about 3 clips, so that every chunked path runs over several."""
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 3 * 200 * 16 * 4)


def _data(n_clips=12, n_frames=200, n_mels=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_clips, n_frames, n_mels)).astype(np.float32)
    y = np.full((n_clips, 2), -1)
    y[: n_clips // 2] = rng.integers(0, 2, (n_clips // 2, 2))
    y[0] = [1, 0]
    y[1] = [0, 1]
    return X, y


def _memmap(path, X, dtype):
    """``X`` written as a ``.npy`` of ``dtype``; returns the read-only memmap and
    ``X`` as the file holds it, in memory as float32."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=X.shape)
    out[:] = X
    out.flush()
    del out
    return np.load(path, mmap_mode="r"), X.astype(dtype).astype(np.float32)


def _fingerprint(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("frame_pool", [10, 1])
def test_embedder_on_memmap_equals_in_memory(tmp_path, small_chunks, dtype, frame_pool):
    X, y = _data()
    path = tmp_path / "X.npy"
    Xm, X_mem = _memmap(path, X, dtype)
    before = _fingerprint(path)

    on_file = TripletEmbedder(frame_pool=frame_pool, **EXACT).fit(Xm, y)
    in_memory = TripletEmbedder(frame_pool=frame_pool, **EXACT).fit(X_mem, y)

    np.testing.assert_array_equal(on_file.feature_mean_, in_memory.feature_mean_)
    np.testing.assert_array_equal(on_file.feature_std_, in_memory.feature_std_)
    np.testing.assert_array_equal(on_file.transform(Xm), in_memory.transform(X_mem))
    S, clip, start = on_file.transform_segments(Xm, return_index=True)
    S0, clip0, start0 = in_memory.transform_segments(X_mem, return_index=True)
    np.testing.assert_array_equal(S, S0)
    np.testing.assert_array_equal(clip, clip0)
    np.testing.assert_array_equal(start, start0)
    # The file is only read.
    assert Xm.mode == "r" and not Xm.flags.writeable
    assert _fingerprint(path) == before


def test_embedder_on_flat_memmap(tmp_path, small_chunks):
    X, y = _data()
    X2 = X.reshape(len(X), -1)
    Xm, X_mem = _memmap(tmp_path / "X.npy", X2, np.float16)
    on_file = TripletEmbedder(n_mels=16, **EXACT).fit(Xm, y)
    in_memory = TripletEmbedder(n_mels=16, **EXACT).fit(X_mem, y)
    assert on_file.n_features_in_ == X2.shape[1]
    np.testing.assert_array_equal(on_file.transform(Xm), in_memory.transform(X_mem))


def test_memmap_with_nan_is_refused(tmp_path, small_chunks):
    X, y = _data()
    X[-1, -1, -1] = np.nan  # in the last chunk
    Xm, _ = _memmap(tmp_path / "X.npy", X, np.float16)
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(1 values\)"):
        TripletEmbedder(**EMBEDDER).fit(Xm, y)


def test_fit_and_transform_never_hold_x_whole(tmp_path, small_chunks):
    # 48 clips of 10 s, 64 bands: 12 MB as float32 (6 MB on disk in float16).
    X, y = _data(n_clips=48, n_frames=1000, n_mels=64)
    Xm, _ = _memmap(tmp_path / "X.npy", X, np.float16)
    emb = TripletEmbedder(n_mels=64, **{**EMBEDDER, "max_epochs": 1})
    tracemalloc.start()
    try:
        emb.fit(Xm, y)
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        emb.transform(Xm)
        _, transform_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # What fit holds is the pooled clips and their segments, each a tenth of X as
    # float32; a float32 copy of X (X.nbytes) would show.
    assert fit_peak < 0.4 * X.nbytes, fit_peak
    # transform returns 2 values per 10 frames of 64 bands (n_filters=4).
    assert transform_peak < 0.2 * X.nbytes, transform_peak


def _mapped_rss_kib(path):
    """Resident KiB of the mappings of ``path`` in this process (Linux)."""
    rss, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                rss += int(line.split()[1])
    return rss


@pytest.mark.skipif(
    not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc/self/smaps"
)
def test_fit_releases_the_pages_it_has_read(tmp_path, small_chunks):
    X, y = _data(n_clips=48, n_frames=1000, n_mels=64)
    path = tmp_path / "X.npy"
    Xm, _ = _memmap(path, X, np.float32)
    emb = TripletEmbedder(n_mels=64, **{**EMBEDDER, "max_epochs": 1}).fit(Xm, y)
    emb.transform(Xm)
    # Every page was read; at most the last chunk's may still be mapped.
    assert _mapped_rss_kib(path) * 1024 < 0.25 * X.nbytes
    Xm[:].sum()  # reading the whole array maps it all: the check can see it
    assert _mapped_rss_kib(path) * 1024 > 0.9 * X.nbytes


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize(
    "tagger",
    [
        SequenceTagger(hidden_size=8, max_epochs=2, frame_pool=1, random_state=0),
        SequenceTagger(hidden_size=8, max_epochs=2, frame_pool=10, random_state=0),
        CRNNTagger(
            n_filters=4, pool_freq=2, hidden_size=8, max_epochs=2, random_state=0
        ),
    ],
    ids=["sequence", "sequence-pooled", "crnn"],
)
def test_taggers_on_memmap_equal_in_memory(tmp_path, small_chunks, tagger, dtype):
    X, y = _data()
    path = tmp_path / "X.npy"
    Xm, X_mem = _memmap(path, X, dtype)
    before = _fingerprint(path)
    on_file = tagger.__class__(**tagger.get_params()).fit(Xm, y)
    in_memory = tagger.__class__(**tagger.get_params()).fit(X_mem, y)
    np.testing.assert_array_equal(
        on_file.predict_proba(Xm), in_memory.predict_proba(X_mem)
    )
    assert _fingerprint(path) == before


def test_pipeline_on_memmap(tmp_path, small_chunks):
    X, y = _data()
    Xm, X_mem = _memmap(tmp_path / "X.npy", X, np.float16)

    def pipeline():
        return make_pipeline(
            TripletEmbedder(**EMBEDDER),
            FramePooling(size=2),
            SequenceTagger(hidden_size=8, max_epochs=2, frame_pool=1, random_state=0),
        )

    on_file = pipeline().fit(Xm, y)
    in_memory = pipeline().fit(X_mem, y)
    np.testing.assert_array_equal(on_file.predict(Xm), in_memory.predict(X_mem))


def test_frame_pooling_of_a_memmap(tmp_path, small_chunks):
    X, _ = _data()
    Xm, X_mem = _memmap(tmp_path / "X.npy", X, np.float16)
    pooled = FramePooling(size=10).fit_transform(Xm)
    assert pooled.dtype == np.float32
    np.testing.assert_array_equal(pooled, FramePooling(size=10).fit_transform(X_mem))
