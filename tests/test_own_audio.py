"""From a folder of audio files to a model file, embeddings, tags, similar clips and
the HEAR API, through the command line and the Python API."""

from __future__ import annotations

import csv
import pickle

import joblib
import numpy as np
import pytest
import soundfile as sf
import torch

from sktriplet import hear
from sktriplet.cli import main
from sktriplet.datasets import load_audio_folder
from sktriplet.models import AudioModel, train_audio_model

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*anchors were skipped"),
    pytest.mark.filterwarnings("ignore:.*never positive"),
    pytest.mark.usefixtures("one_torch_thread"),
]

SR = 16000
TINY = {
    "n_triplets": 16,
    "batch_size": 8,
    "max_epochs": 1,
    "segment_frames": 40,
    "module__n_filters": 4,
}


def _tone(freq, seconds, seed, sr=SR):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.normal(size=t.size)).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    """``root/low``, ``root/high`` (6 files each), ``root/unlabeled`` (4)."""
    root = tmp_path_factory.mktemp("sounds")
    for label, freq in (("low", 220.0), ("high", 3000.0)):
        (root / label).mkdir()
        for i in range(6):
            seconds = 1.2 + 0.2 * i  # every file has its own length
            sf.write(root / label / f"{label}{i}.wav", _tone(freq, seconds, i), SR)
    (root / "unlabeled").mkdir()
    for i in range(4):
        freq = 220.0 if i % 2 else 3000.0
        sf.write(root / "unlabeled" / f"u{i}.wav", _tone(freq, 1.5, 10 + i), SR)
    # another format, sample rate, channel count and length
    stereo = np.stack([_tone(250.0, 1.3, 20, 22050), _tone(250.0, 1.3, 21, 22050)])
    sf.write(root / "low" / "stereo.flac", stereo.T, 22050)
    (root / "notes.txt").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def model(sounds):
    data = load_audio_folder(sounds)
    return train_audio_model(
        data.filenames,
        data.y,
        list(data.classes),
        duration=1.2,
        embedder_params=TINY,
        tagger_params={"max_epochs": 3, "hidden_size": 4},
        random_state=0,
    )


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("model") / "model.skt")


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


# -- the model file --------------------------------------------------------------------
def test_model_round_trip_and_outputs(model, model_file, sounds):
    loaded = AudioModel.load(model_file)
    assert loaded.classes == ["high", "low"] and loaded.tagger is not None
    # 1.8 s: 181 frames; the last one (the centred frame at 1.8 s) is dropped
    times, E = loaded.embed_file(sounds / "low" / "low3.wav")
    assert E.dtype == np.float32 and E.shape == (18, loaded.embedding_size)
    np.testing.assert_allclose(times, np.arange(18) * 0.1 + 0.045)
    np.testing.assert_array_equal(E, model.embed_file(sounds / "low" / "low3.wav")[1])
    assert loaded.tag_proba(E).shape == (2,)
    assert pickle.loads(pickle.dumps(loaded)).classes == loaded.classes


def test_model_file_errors(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        AudioModel.load(tmp_path / "missing.skt")
    (tmp_path / "junk.skt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not an sktriplet model file"):
        AudioModel.load(tmp_path / "junk.skt")
    joblib.dump({"weights": 1}, tmp_path / "other.skt")
    with pytest.raises(ValueError, match="is not an sktriplet model file"):
        AudioModel.load(tmp_path / "other.skt")
    joblib.dump(
        {
            "format": "sktriplet-audio-model",
            "format_version": 1,
            "sktriplet_version": "9.0.0",
            "model": model,
        },
        tmp_path / "future.skt",
    )
    with pytest.raises(ValueError, match=r"written by sktriplet 9\.0\.0"):
        AudioModel.load(tmp_path / "future.skt")


def test_too_short_audio_is_a_clear_error(model):
    with pytest.raises(ValueError, match=r"needs at least 10 \(0.10 s\)"):
        model.embed_waveforms(np.zeros((1, 800), np.float32), sr=SR)


# -- the command line ----------------------------------------------------------------
def test_cli_fit_writes_a_model(sounds, tmp_path, capsys):
    out = tmp_path / "m.skt"
    argv = ["fit", sounds, "--out", out, "--n-triplets", 16, "--max-epochs", 1]
    argv += ["--batch-size", 8, "--duration", 1.2, "--n-jobs", 1]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0, stdout
    assert "17 files, 13 labelled, 2 classes: high, low" in stdout
    assert AudioModel.load(out).tagger is not None
    code, _, err = _run(argv, capsys)
    assert code == 1 and err[-1].endswith("pass --overwrite to replace it.")


def test_cli_embed_npz(model_file, sounds, tmp_path, capsys):
    out = tmp_path / "emb.npz"
    code, _, _ = _run(["embed", model_file, sounds, "--out", out, "--scene"], capsys)
    assert code == 0
    z = np.load(out)
    assert len(z["filenames"]) == 17  # notes.txt skipped, the FLAC read
    assert any(name.endswith("stereo.flac") for name in z["filenames"])
    assert z["embeddings"].shape[0] == len(z["times"]) == len(z["file_index"])
    assert z["scene"].shape == (17, 2 * z["embeddings"].shape[1])
    first = z["times"][z["file_index"] == 0]
    np.testing.assert_allclose(np.diff(first), 0.1, atol=1e-9)
    assert not list(tmp_path.glob(".*partial*"))


def test_cli_embed_parquet(model_file, sounds, tmp_path, capsys):
    wav = sounds / "high" / "high0.wav"
    argv = ["embed", model_file, wav, "--out", tmp_path / "e.parquet"]
    try:
        import pyarrow.parquet as pq
    except ImportError:
        code, _, err = _run(argv, capsys)
        assert code == 1 and err == [
            "sktriplet: error: Writing e.parquet needs pyarrow (pip install "
            "pyarrow); or write .npz instead."
        ]
        return
    assert _run(argv, capsys)[0] == 0
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 12 and table.column_names[:3] == ["filename", "time", "e0"]


def test_cli_embed_hop(model_file, sounds, tmp_path, capsys):
    wav = sounds / "high" / "high0.wav"  # 1.2 s: 12 steps of 0.1 s
    code, _, _ = _run(
        ["embed", model_file, wav, "--out", tmp_path / "e.npz", "--hop", 0.5], capsys
    )
    assert code == 0
    np.testing.assert_allclose(
        np.load(tmp_path / "e.npz")["times"], [0.245, 0.745, 1.095]
    )
    code, _, err = _run(
        ["embed", model_file, wav, "--out", tmp_path / "e.npz", "--hop", 0.15], capsys
    )
    assert code == 1 and "multiple of the model's step" in err[-1]


def test_cli_tag(model_file, sounds, tmp_path, capsys):
    out = tmp_path / "tags.csv"
    code, _, _ = _run(["tag", model_file, sounds / "high", "--out", out], capsys)
    assert code == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and list(rows[0]) == ["filename", "high", "low", "tags"]
    assert all(0 <= float(r["high"]) <= 1 for r in rows)


def test_cli_search_finds_the_query_first_and_caches(
    model_file, sounds, tmp_path, capsys
):
    query = sounds / "low" / "low2.wav"
    argv = ["search", model_file, sounds, query, "-k", 3, "--index-dir", tmp_path]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("3 files of 17 closest to")
    assert lines[1].split()[0] == "1" and lines[1].endswith("low2.wav")
    assert float(lines[1].split()[1]) == pytest.approx(0.0, abs=1e-4)
    cached = list(tmp_path.glob("*.skindex*"))
    assert cached
    code, again, _ = _run(argv, capsys)
    assert code == 0 and again == out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["embed", "{junk}", "{sounds}", "--out", "{tmp}/e.npz"], "not an sktriplet"),
        (["embed", "{model}", "{tmp}/nothing", "--out", "{tmp}/e.npz"], "No such"),
        (["embed", "{model}", "{sounds}", "--out", "{tmp}/e.txt"], ".npz or .parquet"),
        (
            ["embed", "{model}", "{sounds}", "--out", "{junk}/e.npz"],
            "is a file, expected",
        ),
        (["tag", "{model}", "{tmp}/empty", "--out", "{tmp}/t.csv"], "No audio file"),
        (["search", "{model}", "{sounds}", "{tmp}/q.wav", "-k", "0"], "-k must be"),
        (["fit", "{tmp}/nothing", "--out", "{tmp}/m.skt"], "No such file or folder"),
    ],
)
def test_cli_errors_are_one_line(argv, message, model_file, sounds, tmp_path, capsys):
    (tmp_path / "junk").write_bytes(b"junk")
    (tmp_path / "empty").mkdir()
    values = {
        "junk": tmp_path / "junk",
        "sounds": sounds,
        "tmp": tmp_path,
        "model": model_file,
    }
    code, _, err = _run([a.format(**values) for a in argv], capsys)
    assert code == 1 and len(err) == 1 and message in err[0], err
    assert err[0].startswith("sktriplet: error: ")


# -- HEAR ----------------------------------------------------------------------------
def test_hear_api_conformance(model_file):
    model = hear.load_model(str(model_file))
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 44100
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    rng = np.random.default_rng(0)
    for seconds in (0.5, 1.0, 2.37):
        n = int(seconds * model.sample_rate)
        audio = torch.from_numpy(rng.uniform(-0.5, 0.5, (3, n)).astype(np.float32))
        emb, ts = hear.get_timestamp_embeddings(audio, model)
        assert emb.dtype == torch.float32 and ts.dtype == torch.float32
        assert emb.shape[:2] == ts.shape and emb.shape[0] == 3
        assert emb.shape[2] == model.timestamp_embedding_size
        # milliseconds, evenly spaced (within 1 ms), covering the sound
        steps = torch.diff(ts, dim=1)
        assert torch.all(torch.abs(steps - steps[0, 0]) < 1.0)
        assert 0 <= ts[0, 0] < steps[0, 0] and ts[0, -1] <= 1000 * seconds
        scene = hear.get_scene_embeddings(audio, model)
        assert scene.dtype == torch.float32
        assert scene.shape == (3, model.scene_embedding_size)
        # each sound is embedded on its own: batching does not change it
        alone, _ = hear.get_timestamp_embeddings(audio[1:2], model)
        torch.testing.assert_close(alone[0], emb[1])


def test_hear_errors(model_file):
    with pytest.raises(ValueError, match="model_file_path is required"):
        hear.load_model("")
    model = hear.load_model(str(model_file))
    with pytest.raises(ValueError, match="2-D"):
        hear.get_scene_embeddings(torch.zeros(44100), model)
    with pytest.raises(TypeError, match="torch.Tensor"):
        hear.get_scene_embeddings(np.zeros((1, 44100)), model)


# -- a folder of synthetic sounds ---------------------------------------------------
def test_make_sound_folder(tmp_path):
    from sktriplet.datasets import make_sound_folder

    root = make_sound_folder(
        tmp_path / "s",
        classes=("Dog", "Cat"),
        n_per_class=2,
        n_unlabeled=1,
        seconds=(0.5, 0.8),
    )
    data = load_audio_folder(root)
    assert list(data.classes) == ["Cat", "Dog"] and len(data.filenames) == 5
    assert (data.y[data.subset == "labeled"].sum(axis=1) == 1).all()
    lengths = [sf.info(f).duration for f in data.filenames]
    assert all(0.5 <= s <= 0.8 for s in lengths) and len(set(lengths)) > 1
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_sound_folder(root, classes=("Dog",), n_per_class=1, n_unlabeled=0)
    with pytest.raises(ValueError, match="classes must be"):
        make_sound_folder(tmp_path / "t", classes=("Unicorn",))
