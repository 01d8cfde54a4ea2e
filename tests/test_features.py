import numpy as np
import pytest
import soundfile as sf
from joblib import Memory

from sktriplet import LogMelExtractor, segment


def _librosa_logmel(wave, sr=44100):
    import librosa

    mel = librosa.feature.melspectrogram(
        y=wave,
        sr=sr,
        n_fft=2048,
        hop_length=441,
        win_length=1102,
        n_mels=64,
        center=True,
        pad_mode="constant",
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T


def test_defaults_match_librosa_and_frame_count():
    wave = np.random.default_rng(0).normal(scale=0.1, size=441000).astype("float32")
    X = LogMelExtractor().fit_transform(wave[np.newaxis])
    assert X.shape == (1, 1001, 64) and X.dtype == np.float32
    np.testing.assert_allclose(X[0], _librosa_logmel(wave), atol=1e-3)


def test_silence_is_finite_floor():
    X = LogMelExtractor(duration=1.0).fit_transform(np.zeros((1, 44100), "float32"))
    assert np.isfinite(X).all() and X.max() == pytest.approx(-100.0)


def test_files_stereo_resampled_and_padded(dcase_root):
    from sktriplet.datasets import load_dcase2018_task4

    data = load_dcase2018_task4(dcase_root)
    ext = LogMelExtractor(duration=0.5, n_jobs=2, batch_size=4)
    X = ext.fit_transform(list(data.filenames))
    assert X.shape == (9, 51, 64)
    # the 9.000 clip is 10 % shorter: its tail is padded silence
    short = [i for i, f in enumerate(data.filenames) if "_9.000" in f][0]
    assert X[short, -1].max() == pytest.approx(-100.0)
    # mixed down and resampled: same as feeding the mono mean at the file's rate
    wave, sr = sf.read(data.filenames[0], dtype="float32")
    X0 = LogMelExtractor(duration=0.5, input_sr=sr).fit_transform([wave.T])
    np.testing.assert_allclose(X0[0], X[0], atol=1e-3)


def test_waveform_list_and_array_agree():
    rng = np.random.default_rng(1)
    waves = rng.normal(size=(3, 8000)).astype("float32")
    ext = LogMelExtractor(sr=8000, n_mels=16, duration=1.0, n_fft=256).fit()
    np.testing.assert_array_equal(ext.transform(waves), ext.transform(list(waves)))


def test_interrupt_waits_for_running_batches_and_cancels_the_rest():
    # A worker thread left inside torch at interpreter exit aborts the process
    # (exit -6 instead of 130 for an interrupted command).
    import threading
    import time

    ext = LogMelExtractor(duration=0.1, n_jobs=2, batch_size=1).fit()
    lock, running, started = threading.Lock(), [], []

    def load_batch(start, stop):
        with lock:
            running.append(start)
            started.append(start)
        try:
            if start == 0:
                raise KeyboardInterrupt
            time.sleep(0.3)
            return [np.zeros(4410, dtype=np.float32)]
        finally:
            with lock:
                running.remove(start)

    with pytest.raises(KeyboardInterrupt):
        ext._run_batches(40, load_batch)
    assert running == []  # no batch still at work when the interrupt propagates
    assert len(started) < 10  # the batches not started were cancelled


def test_memory_cache_reuses_features(tmp_path, monkeypatch):
    from sktriplet.features import _logmel

    waves = np.random.default_rng(2).normal(size=(2, 8000)).astype("float32")
    params = {"sr": 8000, "duration": 1.0, "n_fft": 256, "n_mels": 16}
    # A path, its string, or a joblib.Memory: each caches.
    first = LogMelExtractor(memory=str(tmp_path), **params).fit().transform(waves)
    LogMelExtractor(memory=Memory(tmp_path / "m", verbose=0), **params).fit().transform(
        waves
    )
    calls = []
    monkeypatch.setattr(
        _logmel.LogMelExtractor, "_log_mel", lambda self, w: calls.append(1) or 0
    )
    # n_jobs, batch_size and verbose do not change features: still a cache hit
    again = (
        LogMelExtractor(memory=tmp_path, n_jobs=2, batch_size=1, **params)
        .fit()
        .transform(waves)
    )
    also = (
        LogMelExtractor(memory=Memory(tmp_path / "m", verbose=0), **params)
        .fit()
        .transform(waves)
    )
    assert calls == []
    assert np.array_equal(first, again) and np.array_equal(first, also)


def test_memory_cache_invalidated_when_file_changes(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(8000), 8000)
    ext = LogMelExtractor(
        sr=8000, duration=1.0, n_fft=256, n_mels=16, memory=tmp_path / "cache"
    ).fit()
    silent = ext.transform([path])
    sf.write(path, np.random.default_rng(0).normal(size=8000) * 0.1, 8000)
    assert not np.array_equal(silent, ext.transform([path]))


def test_verbose_progress_bar(capsys):
    LogMelExtractor(
        sr=8000, duration=0.2, n_fft=256, verbose=1, batch_size=1
    ).fit().transform(np.zeros((3, 1600), "float32"))
    assert "log-mel" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_waveform_rejected(bad):
    waves = np.zeros((2, 4000), "float32")
    waves[1, 10] = bad
    with pytest.raises(ValueError, match=r"X\[1\] contains NaN"):
        LogMelExtractor(sr=8000, n_fft=256).fit_transform(waves)


def test_missing_empty_and_corrupt_files_named(tmp_path):
    ext = LogMelExtractor().fit()
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        ext.transform([tmp_path / "nope.wav"])
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.wav"):
        ext.transform([empty])
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(ValueError, match="corrupt.wav"):
        ext.transform([corrupt])


def test_bad_inputs():
    ext = LogMelExtractor(sr=8000, n_fft=256).fit()
    with pytest.raises(TypeError, match="single path"):
        ext.transform("a.wav")
    with pytest.raises(ValueError, match="1-D array"):
        ext.transform(np.zeros(100))
    with pytest.raises(ValueError, match="empty"):
        ext.transform([])
    with pytest.raises(TypeError, match="mixes"):
        ext.transform(["a.wav", np.zeros(10)])
    with pytest.raises(ValueError, match="n_fft"):
        LogMelExtractor(win_seconds=0.1).fit()
    with pytest.raises(ValueError, match="n_mels"):
        LogMelExtractor(n_mels=0).fit()
    # duration=None keeps each clip's length (tests/test_variable_length.py)
    ragged = LogMelExtractor(sr=8000, n_fft=256, duration=None).fit()
    lengths = [len(x) for x in ragged.transform([np.zeros(800), np.zeros(900)])]
    assert lengths == [11, 12]


def test_segment_layout_and_inheritance():
    X = np.arange(2 * 250 * 3, dtype=np.float32).reshape(2, 250, 3)
    segs, clip, start = segment(X)
    assert segs.shape == (4, 96, 3)
    np.testing.assert_array_equal(clip, [0, 0, 1, 1])
    np.testing.assert_allclose(start, [0.0, 0.96, 0.0, 0.96])
    np.testing.assert_array_equal(segs[3], X[1, 96:192])
    y = np.array([[1, 0], [-1, -1]])
    assert (y[clip][2:] == -1).all()
    segs, clip, start = segment(X, n_frames=100, hop=50)
    assert segs.shape == (8, 100, 3)
    np.testing.assert_allclose(start[:3], [0.0, 0.5, 1.0])


def test_segment_bad_input():
    X = np.zeros((1, 50, 3), np.float32)
    with pytest.raises(ValueError, match="fewer than n_frames"):
        segment(X)
    with pytest.raises(ValueError, match="hop"):
        segment(X, n_frames=10, hop=0)
    with pytest.raises(ValueError, match="3-D"):
        segment(np.zeros((2, 3, 4, 5)))


def test_frame_pooling():
    from sktriplet.features import FramePooling

    X = np.arange(2 * 25 * 3, dtype=np.float32).reshape(2, 25, 3)
    P = FramePooling(10).fit_transform(X)
    assert P.shape == (2, 2, 3) and P.dtype == np.float32
    np.testing.assert_allclose(P[1, 1], X[1, 10:20].mean(axis=0))
    np.testing.assert_array_equal(FramePooling(1).fit_transform(X), X)
    flat = FramePooling(5, n_features=3).fit(X.reshape(2, -1))
    np.testing.assert_array_equal(
        flat.transform(X.reshape(2, -1)), FramePooling(5).fit_transform(X)
    )
    with pytest.raises(ValueError, match="fewer than size"):
        FramePooling(30).fit(X).transform(X)
    with pytest.raises(ValueError, match="values per frame"):
        FramePooling(5).fit(X).transform(X[:, :, :2])
    with pytest.raises(ValueError, match="size"):
        FramePooling(0).fit(X)


@pytest.mark.parametrize(
    "dtype, subtype",
    [("int16", "PCM_16"), ("int32", "PCM_32"), ("uint8", "PCM_U8"), ("int8", "PCM_S8")],
)
def test_integer_pcm_scaled_like_files(tmp_path, dtype, subtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    pcm = rng.integers(info.min, info.max, size=(2, 4000), endpoint=True).astype(dtype)
    # the file holds the same samples: soundfile writes floats k / 2**(bits-1)
    # (centred on 128 for unsigned 8-bit) back as the integers k exactly
    offset = 128 if dtype == "uint8" else 0
    scale = 2.0 ** (info.bits - 1)
    # WAV has no signed 8-bit subtype, AIFF has
    path = tmp_path / f"{dtype}.{'aiff' if subtype == 'PCM_S8' else 'wav'}"
    sf.write(path, (pcm.T.astype(np.float64) - offset) / scale, 8000, subtype=subtype)
    assert np.array_equal(sf.read(path, dtype="float64")[0] * scale + offset, pcm.T)
    ext = LogMelExtractor(sr=8000, duration=0.5, n_fft=256, n_mels=16).fit()
    from_file = ext.transform([path])
    from_array = ext.transform([pcm])
    np.testing.assert_allclose(from_array, from_file, atol=1e-3)
    np.testing.assert_allclose(ext.transform(pcm[:1]), ext.transform([pcm[0]]))


def test_integer_types_without_pcm_convention_rejected():
    ext = LogMelExtractor(sr=8000, n_fft=256).fit()
    for dtype in ("int64", "uint16"):
        with pytest.raises(ValueError, match=rf"X\[0\] has integer dtype {dtype}"):
            ext.transform(np.zeros((1, 800), dtype))


def test_truncated_wav_warns_with_both_lengths(tmp_path):
    import struct

    path = tmp_path / "cut.wav"
    sf.write(path, np.full((8000, 2), 0.1), 8000, subtype="PCM_16")  # 1 s stereo
    raw = path.read_bytes()
    assert struct.unpack("<I", raw[40:44]) == (32000,)  # the header's data size
    path.write_bytes(raw[:-8000])  # cut a quarter of the frames off the end
    # libsndfile itself says nothing: it decodes the 0.75 s that are there
    assert sf.info(path).frames == 6000
    ext = LogMelExtractor(sr=8000, duration=1.0, n_fft=256, n_mels=16).fit()
    with pytest.warns(UserWarning, match=r"cut\.wav is truncated.*0\.750 s.*1\.000 s"):
        X = ext.transform([path])
    assert X[0, -1].max() == pytest.approx(-100.0)  # the missing tail is padded
