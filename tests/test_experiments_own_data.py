"""``reproduce --data`` on your own data: a class-folder tree or a metadata file."""

import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf

from sktriplet.cli import main
from sktriplet.datasets import make_sound_folder
from sktriplet.experiments import _reproduce as reproduce_module
from sktriplet.experiments import check_layout, load_features, reproduce
from sktriplet.experiments._data import clip_seconds, split_labeled

# Table 2 with one strategy at one triplet count: 3 cells of a few seconds each.
TINY = {
    "preset": "quick",
    "tables": ("2",),
    "repeats": 1,
    "triplet_counts": (31_560,),
    "strategies": ("s2",),
    "scale": 0.0005,
    "embedder_epochs": 1,
    "tagger_epochs": 1,
    "batch_size": 8,
    "tsne": False,
    "n_jobs": 1,
    "verbose": 0,
}
# Class names that are not DCASE's, to show they reach every output.
RENAME = {"Cat": "miaou", "Dog": "woof", "Speech": "chatter"}


@pytest.fixture(scope="module")
def own_root(tmp_path_factory):
    """3 classes x 8 files of 0.5-1 s and 4 unlabelled ones, plus a metadata file."""
    root = make_sound_folder(
        tmp_path_factory.mktemp("own") / "sounds",
        classes=tuple(RENAME),
        n_per_class=8,
        n_unlabeled=4,
        seconds=(0.5, 1.0),
    )
    for old, new in RENAME.items():
        (root / old).rename(root / new)
    lines = ["filename\tevent_labels"]
    for name in RENAME.values():
        for i, wav in enumerate(sorted((root / name).glob("*.wav"))):
            # one multi-label clip per class
            extra = ",chatter" if i == 0 and name != "chatter" else ""
            lines.append(f"{name}/{wav.name}\t{name}{extra}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n")
    return root


def _rows(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_reproduce_on_class_folders_uses_its_classes_and_resumes(
    own_root, tmp_path, monkeypatch
):
    out, cache = tmp_path / "out", tmp_path / "cache"
    written = reproduce(own_root, out, cache_dir=cache, **TINY)
    assert set(written) == {"table2.md"}
    assert (out / "table2.md").stat().st_size > 0
    assert (out / "f1_vs_triplets.png").stat().st_size > 0
    rows = _rows(out)
    # rows are written as cells finish, the longest cells run first
    assert [r["method"] for r in rows] == ["s2_default", "s2", "crnn", "logmel"]
    assert [c for c in rows[0] if c.startswith("f1_")] == [
        "f1_chatter",
        "f1_miaou",
        "f1_woof",
    ]
    # 3 x 8 labelled files: 4 weak per class, 4 unlabelled
    assert {(r["n_labeled"], r["n_unlabeled"]) for r in rows} == {("12", "4")}
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == ["chatter", "miaou", "woof"]
    assert config["clip_seconds"] == 1.0
    assert config["split"] == {"weak": 0.5, "test": 0.2, "eval": 0.3, "seed": 0}
    assert config["clips"] == {
        "weak": 12,
        "test": 6,
        "eval": 6,
        "unlabel_in_domain": 4,
    }

    # a re-run finds every cell done
    def no_run(*args):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(reproduce_module, "run_cell", no_run)
    assert set(reproduce(own_root, out, cache_dir=cache, **TINY)) == {"table2.md"}
    # another seed splits the clips differently: its results are not mixed in
    with pytest.raises(ValueError, match="another configuration.*split"):
        reproduce(own_root, out, cache_dir=cache, seed=1, **TINY)


def test_reproduce_on_a_metadata_file(own_root, tmp_path):
    out = tmp_path / "out"
    reproduce(own_root / "labels.tsv", out, cache_dir=tmp_path / "cache", **TINY)
    rows = _rows(out)
    assert len(rows) == 4  # logmel, crnn, s2, s2_default
    assert {"f1_chatter", "f1_miaou", "f1_woof"} <= set(rows[0])
    # a metadata file lists labelled clips only
    assert {r["n_unlabeled"] for r in rows} == {"0"}
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "metadata"
    assert config["data"] == str((own_root / "labels.tsv").resolve())


def test_own_data_features_are_split_and_padded(own_root, tmp_path):
    data = load_features(own_root, tmp_path, seed=3, n_jobs=1, verbose=0)
    assert data.X.shape == (28, 101, 64)  # 1 s: the 1-s floor and longest file
    again = load_features(own_root, tmp_path, seed=3, n_jobs=1, verbose=0)
    np.testing.assert_array_equal(data.subset, again.subset)
    other = load_features(own_root, tmp_path, seed=4, n_jobs=1, verbose=0)
    assert not np.array_equal(data.subset, other.subset)
    for subset, n in (("weak", 4), ("test", 2), ("eval", 2)):
        rows = data.rows(subset)
        np.testing.assert_array_equal(data.y[rows].sum(axis=0), [n, n, n])
    assert (data.y[data.rows("unlabel_in_domain")] == -1).all()


def test_split_labeled_is_stratified_and_deterministic():
    y = np.zeros((44, 3), dtype=np.int8)
    y[:10, 0] = 1
    y[10:30, 1] = 1
    y[30:35, 2] = 1
    y[35:37, 1:] = 1  # multi-label: grouped with its rarest class (2)
    y[37:40] = 0  # labelled, no event
    y[40:] = -1
    subset = split_labeled(y, ["a", "b", "c"], seed=0)
    np.testing.assert_array_equal(subset, split_labeled(y, ["a", "b", "c"], seed=0))
    assert not np.array_equal(subset, split_labeled(y, ["a", "b", "c"], seed=1))
    assert (subset[40:] == "unlabel_in_domain").all()
    counts = {
        group: [int((subset[rows] == s).sum()) for s in ("weak", "test", "eval")]
        for group, rows in {
            "a": slice(0, 10),
            "b": slice(10, 30),
            "c": slice(30, 37),
            "none": slice(37, 40),
        }.items()
    }
    # 50 / 20 / 30 %, rounded, at least one of each
    assert counts == {
        "a": [5, 2, 3],
        "b": [10, 4, 6],
        "c": [4, 1, 2],
        "none": [1, 1, 1],
    }


def test_split_labeled_needs_three_clips_per_class():
    y = np.eye(3, dtype=np.int8)[[0, 0, 0, 1, 1, 2, 2, 2]]
    with pytest.raises(ValueError, match=r"class 'b' has 2 labelled clip\(s\)"):
        split_labeled(y, ["a", "b", "c"])


def test_clip_seconds_is_the_longest_file_within_1_and_10_s(tmp_path):
    def wav(name, seconds):
        path = tmp_path / name
        sf.write(path, np.zeros(int(seconds * 8000)), 8000)
        return path

    assert clip_seconds([wav("a.wav", 0.3), wav("b.wav", 0.5)]) == 1.0
    assert clip_seconds([wav("c.wav", 0.5), wav("d.wav", 1.23)]) == 1.3
    assert clip_seconds([wav("e.wav", 12.0)]) == 10.0


def test_too_few_clips_fails_before_any_output(own_root, tmp_path, capsys):
    root = tmp_path / "few"
    root.mkdir()
    for name, n in (("miaou", 8), ("woof", 2)):
        (root / name).mkdir()
        for wav in sorted((own_root / name).glob("*.wav"))[:n]:
            (root / name / wav.name).write_bytes(wav.read_bytes())
    with pytest.raises(ValueError, match="class 'woof' has 2 labelled clip"):
        check_layout(root)
    out = tmp_path / "out"
    assert main(["reproduce", "--data", str(root), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "class 'woof' has 2 labelled clip" in err and err.count("\n") == 1
    assert not out.exists()


def _bad_data(folder, kind):
    if kind == "not-metadata":
        (folder / "notes.json").write_text("{}")
        return folder / "notes.json"
    if kind == "bad-metadata":
        (folder / "bad.csv").write_text("filename,label\na.wav,x\n")
        return folder / "bad.csv"
    return folder / "missing" if kind == "missing" else folder


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "--data .* does not exist"),
        ("empty-folder", "not a DCASE 2018 Task 4 root .* nor a folder of class"),
        ("not-metadata", "not a metadata file"),
        ("bad-metadata", "bad.csv, line 1: column 'label' is not understood"),
    ],
)
def test_cli_bad_data_is_one_line(tmp_path, capsys, kind, message):
    folder = tmp_path / "in"
    folder.mkdir()
    out = tmp_path / "out"
    data = _bad_data(folder, kind)
    assert main(["reproduce", "--data", str(data), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert re.match(f"sktriplet: error: .*{message}", err)
    assert err.count("\n") == 1
    assert not out.exists()
