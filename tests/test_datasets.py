import os

import numpy as np
import pytest

from sktriplet.datasets import (
    DCASE2018_CLASSES,
    DatasetLayoutError,
    load_dcase2018_task4,
    make_domestic_soundscapes,
)
from sktriplet.features import LogMelExtractor


def _col(name):
    return DCASE2018_CLASSES.index(name)


def test_loader_reads_real_layout(dcase_root):
    data = load_dcase2018_task4(dcase_root)
    assert len(data.filenames) == 9
    assert data.y.shape == (9, 10) and data.y.dtype == np.int8
    assert list(data.classes) == list(DCASE2018_CLASSES)
    assert (
        list(data.subset)
        == ["weak"] * 3 + ["unlabel_in_domain"] * 2 + ["test"] * 2 + ["eval"] * 2
    )
    weak = data.y[:3]
    # comma- and semicolon-separated weak labels
    assert weak[0, _col("Dog")] == 1 and weak[0, _col("Speech")] == 1
    assert weak[0].sum() == 2
    assert weak[2, _col("Cat")] == 1 and weak[2, _col("Dishes")] == 1
    # unlabelled rows are all -1
    assert (data.y[3:5] == -1).all()
    # strong labels -> clip tags; repeated events count once
    test = data.y[5:7]
    assert test[0, _col("Frying")] == 1 and test[0, _col("Speech")] == 1
    assert test[0].sum() == 2
    # the empty-label row is a labelled clip with no event: zeros, not -1
    assert (test[1] == 0).all()
    ev = data.y[7:]
    assert ev[1, _col("Alarm_bell_ringing")] == 1
    assert ev[1, _col("Electric_shaver_toothbrush")] == 1
    assert all(os.path.isfile(f) for f in data.filenames)


def test_loader_subsets_order_and_dataset_folder(dcase_root):
    data = load_dcase2018_task4(dcase_root / "dataset", subsets=["eval", "weak"])
    assert list(data.subset) == ["eval"] * 2 + ["weak"] * 3
    assert load_dcase2018_task4(dcase_root, subsets="test").y.shape == (2, 10)


def test_loader_unknown_subset(dcase_root):
    with pytest.raises(ValueError, match="valid subsets are.*weak"):
        load_dcase2018_task4(dcase_root, subsets=["train"])


def test_loader_missing_audio_raises_with_count_and_names(dcase_root_missing):
    with pytest.raises(FileNotFoundError, match="1 of 3.*Y0a5ExN1xbSg_30.000_40.000"):
        load_dcase2018_task4(dcase_root_missing)


def test_loader_missing_audio_skip_warns(dcase_root_missing):
    with pytest.warns(UserWarning, match="Skipping 1 of 3 clips"):
        data = load_dcase2018_task4(dcase_root_missing, on_missing="skip")
    assert len(data.filenames) == 8
    assert data.n_missing["weak"] == 1
    with pytest.raises(ValueError, match="on_missing"):
        load_dcase2018_task4(dcase_root_missing, on_missing="ignore")


def test_loader_not_a_dcase_root(tmp_path):
    with pytest.raises(DatasetLayoutError, match="metadata"):
        load_dcase2018_task4(tmp_path)


def test_loader_missing_metadata_file(dcase_root):
    (dcase_root / "dataset/metadata/eval/eval.csv").unlink()
    with pytest.raises(DatasetLayoutError, match="eval.csv"):
        load_dcase2018_task4(dcase_root)


def test_loader_missing_column_names_file_and_line(dcase_root):
    path = dcase_root / "dataset/metadata/test/test.csv"
    path.write_text("filename\tonset\tevent_label\nY5J6.wav\t0.0\tSpeech\n")
    with pytest.raises(ValueError, match=r"test\.csv, line 1.*offset"):
        load_dcase2018_task4(dcase_root)


def test_loader_unknown_class_names_file_and_line(dcase_root):
    path = dcase_root / "dataset/metadata/train/weak.csv"
    text = path.read_text().replace("Running_water", "Running_waterr")
    path.write_text(text)
    with pytest.raises(ValueError, match=r"weak\.csv, line 3.*Running_waterr"):
        load_dcase2018_task4(dcase_root)


def test_loader_substring_of_class_is_not_a_class(dcase_root):
    path = dcase_root / "dataset/metadata/train/weak.csv"
    path.write_text(path.read_text().replace("Running_water", "Running"))
    with pytest.raises(ValueError, match="unknown class 'Running'"):
        load_dcase2018_task4(dcase_root)


def test_synth_writes_layout_read_by_loader(tmp_path):
    root = make_domestic_soundscapes(
        tmp_path / "synth",
        n_labeled=4,
        n_unlabeled=3,
        n_test=2,
        n_eval=2,
        short_clip_share=0.5,
        random_state=1,
    )
    data = load_dcase2018_task4(root)
    assert len(data.filenames) == 11
    labeled = data.y[data.subset == "weak"]
    assert ((labeled.sum(axis=1) >= 1) & (labeled.sum(axis=1) <= 3)).all()
    assert (data.y[data.subset == "unlabel_in_domain"] == -1).all()
    strong = data.y[np.isin(data.subset, ["test", "eval"])]
    assert (strong >= 0).all()
    X = LogMelExtractor().fit_transform(list(data.filenames))
    assert X.shape == (11, 1001, 64) and np.isfinite(X).all()
    # no leftovers beside the output
    assert [p.name for p in tmp_path.iterdir()] == ["synth"]


def test_synth_is_deterministic(tmp_path):
    kwargs = {
        "n_labeled": 2,
        "n_unlabeled": 1,
        "n_test": 1,
        "n_eval": 1,
        "random_state": 3,
    }
    a = make_domestic_soundscapes(tmp_path / "a", **kwargs)
    b = make_domestic_soundscapes(tmp_path / "b", n_jobs=2, **kwargs)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_synth_refuses_non_empty_root(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_domestic_soundscapes(
            tmp_path / "out", n_labeled=1, n_unlabeled=0, n_test=0, n_eval=0
        )
    assert (tmp_path / "out" / "keep.txt").exists()


@pytest.mark.parametrize("name", ["n_labeled", "n_unlabeled", "n_test", "n_eval"])
def test_synth_bad_counts(tmp_path, name):
    with pytest.raises(ValueError, match=name):
        make_domestic_soundscapes(tmp_path / "x", **{name: -1})


def test_synth_failure_leaves_nothing(tmp_path, monkeypatch):
    from sktriplet.datasets import _synth

    calls = {"n": 0}
    real = _synth._render_clip

    def flaky(seed, path, seconds):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(seed, path, seconds)

    monkeypatch.setattr(_synth, "_render_clip", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        make_domestic_soundscapes(
            tmp_path / "out", n_labeled=2, n_unlabeled=2, n_test=0, n_eval=0
        )
    assert list(tmp_path.iterdir()) == []


def test_get_data_home(tmp_path, monkeypatch):
    from sktriplet.datasets import get_data_home

    monkeypatch.setenv("SKTRIPLET_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env" and (tmp_path / "env").is_dir()
    assert get_data_home(tmp_path / "given") == tmp_path / "given"


def test_load_domestic_soundscapes_generates_once(tmp_path, monkeypatch):
    from sktriplet.datasets import _embedded, load_domestic_soundscapes

    sizes = {"n_labeled": 2, "n_unlabeled": 2, "n_test": 1, "n_eval": 1}
    data = load_domestic_soundscapes(**sizes, data_home=tmp_path, random_state=5)
    assert data.X.shape == (6, 1001, 64) and data.y.shape == (6, 10)
    assert data.root.parent == tmp_path

    def fail(*args, **kwargs):
        raise AssertionError("regenerated")

    monkeypatch.setattr(_embedded, "make_domestic_soundscapes", fail)
    again = load_domestic_soundscapes(**sizes, data_home=tmp_path, random_state=5)
    np.testing.assert_array_equal(again.X, data.X)
    assert "X" not in load_domestic_soundscapes(
        **sizes, data_home=tmp_path, random_state=5, features=False
    )
