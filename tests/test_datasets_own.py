"""Loaders for your own audio: metadata files (load_weak_labels) and class folders."""

import os

import numpy as np
import pytest
import soundfile as sf

from sktriplet.datasets import (
    DCASE2018_CLASSES,
    load_audio_folder,
    load_dcase2018_task4,
    load_weak_labels,
)
from sktriplet.features import LogMelExtractor

SR = 16000


def _wav(path, seed=0):
    """A 0.2 s mono WAV at 16 kHz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = 0.1 * np.random.default_rng(seed).standard_normal(int(0.2 * SR))
    sf.write(path, wave, SR, subtype="PCM_16")
    return path


def _tree(tmp_path, text, name="meta.tsv", audio=("a.wav", "b.wav", "c.wav")):
    """A metadata file beside an ``audio/`` folder holding the given files."""
    for i, clip in enumerate(audio):
        _wav(tmp_path / "audio" / clip, seed=i)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


WEAK_TSV = "filename\tevent_labels\na.wav\tSpeech,Dog\nb.wav\tCat\nc.wav\tDog;Cat\n"
WEAK_CSV = 'filename,event_labels\na.wav,"Speech,Dog"\nb.wav,Cat\nc.wav,Dog;Cat\n'


@pytest.mark.parametrize(
    ("name", "text"), [("weak.tsv", WEAK_TSV), ("weak.csv", WEAK_CSV)]
)
def test_weak_labels_tsv_and_csv(tmp_path, name, text):
    path = _tree(tmp_path, text, name)
    data = load_weak_labels(path, tmp_path / "audio")
    assert list(data.classes) == ["Cat", "Dog", "Speech"]  # inferred, sorted
    assert data.y.dtype == np.int8
    np.testing.assert_array_equal(data.y, [[0, 1, 1], [1, 0, 0], [1, 1, 0]])
    assert [os.path.basename(f) for f in data.filenames] == ["a.wav", "b.wav", "c.wav"]
    assert all(os.path.isabs(f) and os.path.isfile(f) for f in data.filenames)
    assert list(data.subset) == ["weak"] * 3
    assert data.kinds == {"weak": "weak"} and data.n_missing == {"weak": 0}


def test_unquoted_labels_in_a_csv_name_the_line(tmp_path):
    path = _tree(tmp_path, "filename,event_labels\na.wav,Cat\nb.wav,Speech,Dog\n")
    with pytest.raises(ValueError, match=r"meta\.tsv, line 3: 3 cells.*quoted"):
        load_weak_labels(path, tmp_path / "audio")


def test_utf8_bom_and_crlf(tmp_path):
    path = tmp_path / "weak.csv"
    _tree(tmp_path, "")
    path.write_bytes(b"\xef\xbb\xbf" + WEAK_CSV.replace("\n", "\r\n").encode())
    data = load_weak_labels(path, tmp_path / "audio")
    assert list(data.classes) == ["Cat", "Dog", "Speech"] and len(data.y) == 3


def test_non_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "weak.tsv"
    path.write_bytes("filename\tevent_labels\ncaf\u00e9.wav\tDog\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"weak\.tsv, line 2: not valid UTF-8"):
        load_weak_labels(path)


def test_strong_labels_with_an_empty_label_row(tmp_path):
    text = (
        "filename\tonset\toffset\tevent_label\n"
        "a.wav\t0.0\t0.1\tDog\n"
        "a.wav\t0.1\t0.2\tSpeech\n"
        "a.wav\t0.0\t0.2\tDog\n"
        "b.wav\t\t\t\n"
    )
    path = _tree(tmp_path, text, audio=("a.wav", "b.wav"))
    data = load_weak_labels(path, tmp_path / "audio", classes=["Speech", "Dog", "Cat"])
    # the empty-label row is a labelled clip with no event: zeros, not -1
    np.testing.assert_array_equal(data.y, [[1, 1, 0], [0, 0, 0]])
    assert data.kinds == {"meta": "strong"}


def test_unlabelled_list_and_shared_vocabulary(tmp_path):
    _tree(tmp_path, "", audio=("a.wav", "b.wav", "c.wav", "u/x.wav", "u/y.flac"))
    (tmp_path / "weak.tsv").write_text("filename\tevent_labels\na.wav\tDog\n")
    (tmp_path / "unlabeled.tsv").write_text("filename\tduration\nx.wav\t0.2\ny.flac\n")
    (tmp_path / "valid.tsv").write_text(
        "filename\tonset\toffset\tevent_label\nb.wav\t0\t1\tCat\nc.wav\t\t\t\n"
    )
    data = load_weak_labels(
        [
            tmp_path / "weak.tsv",
            (tmp_path / "unlabeled.tsv", tmp_path / "audio" / "u"),
            tmp_path / "valid.tsv",
        ],
        tmp_path / "audio",
    )
    assert list(data.classes) == ["Cat", "Dog"]
    assert list(data.subset) == ["weak", "unlabeled", "unlabeled", "valid", "valid"]
    np.testing.assert_array_equal(data.y, [[0, 1], [-1, -1], [-1, -1], [1, 0], [0, 0]])
    assert data.kinds == {"weak": "weak", "unlabeled": "unlabeled", "valid": "strong"}
    # a dict names the subsets
    named = load_weak_labels(
        {
            "train": tmp_path / "weak.tsv",
            "pool": (tmp_path / "unlabeled.tsv", tmp_path / "audio" / "u"),
        },
        tmp_path / "audio",
        classes=["Dog", "Cat"],
    )
    assert list(named.subset) == ["train"] + ["pool"] * 2
    assert named.filenames[1].endswith(os.path.join("u", "x.wav"))


def test_same_stem_twice_names_subsets_by_path(tmp_path):
    for folder in ("train", "valid"):
        _wav(tmp_path / folder / "a.wav")
        (tmp_path / folder / "weak.tsv").write_text(
            "filename\tevent_labels\na.wav\tDog\n"
        )
    data = load_weak_labels([tmp_path / "train/weak.tsv", tmp_path / "valid/weak.tsv"])
    assert len(set(data.subset)) == 2
    assert data.subset[0] == str(tmp_path / "train/weak.tsv")


def test_unlabelled_only_needs_classes(tmp_path):
    path = _tree(tmp_path, "filename\na.wav\nb.wav\n", audio=("a.wav", "b.wav"))
    with pytest.raises(ValueError, match="No class names found.*classes="):
        load_weak_labels(path, tmp_path / "audio")
    data = load_weak_labels(path, tmp_path / "audio", classes=["Dog", "Cat"])
    assert data.y.shape == (2, 2) and (data.y == -1).all()


def test_mistyped_label_column_is_not_read_as_unlabelled(tmp_path):
    path = _tree(tmp_path, "filename\tlabels\na.wav\tDog\n")
    with pytest.raises(ValueError, match=r"meta\.tsv, line 1: column 'labels'"):
        load_weak_labels(path, tmp_path / "audio")


def test_missing_filename_column(tmp_path):
    path = _tree(tmp_path, "file,event_labels\na.wav,Dog\n")
    with pytest.raises(ValueError, match=r"line 1: missing.*'filename'.*comma-sep"):
        load_weak_labels(path, tmp_path / "audio")


def test_classes_given_fix_order_and_reject_unknown(tmp_path):
    path = _tree(tmp_path, WEAK_TSV)
    data = load_weak_labels(path, tmp_path / "audio", classes=["Speech", "Dog", "Cat"])
    assert list(data.classes) == ["Speech", "Dog", "Cat"]
    np.testing.assert_array_equal(data.y, [[1, 1, 0], [0, 0, 1], [0, 1, 1]])
    with pytest.raises(ValueError, match=r"meta\.tsv, line 3: unknown class 'Cat'"):
        load_weak_labels(path, tmp_path / "audio", classes=["Speech", "Dog"])


@pytest.mark.parametrize(
    ("classes", "match"),
    [
        ("Dog", "list of class names"),
        ([], "non-empty list"),
        (["Dog", "Dog"], "'Dog' twice"),
        (["Dog,Cat"], "commas"),
        ([" Dog"], "surrounding spaces"),
    ],
)
def test_bad_classes(tmp_path, classes, match):
    path = _tree(tmp_path, WEAK_TSV)
    with pytest.raises(ValueError, match=match):
        load_weak_labels(path, tmp_path / "audio", classes=classes)


@pytest.mark.parametrize("name", ["../escape.wav", "/etc/hostname", "x/../../a.wav"])
def test_paths_escaping_the_audio_folder(tmp_path, name):
    _wav(tmp_path / "escape.wav")
    path = _tree(tmp_path, f"filename\tevent_labels\na.wav\tDog\n{name}\tCat\n")
    with pytest.raises(ValueError, match=r"meta\.tsv, line 3.*outside the audio"):
        load_weak_labels(path, tmp_path / "audio")


def test_audio_dir_defaults_to_the_metadata_folder(tmp_path):
    path = _tree(tmp_path, "filename\tevent_labels\naudio/a.wav\tDog\n")
    data = load_weak_labels(path)
    assert data.filenames[0] == str((tmp_path / "audio" / "a.wav").resolve())


def test_symlinks_inside_the_audio_folder_are_followed(tmp_path):
    target = _wav(tmp_path / "store" / "object.wav")
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "link.wav").symlink_to(target)
    path = _tree(tmp_path, "filename\tevent_labels\nlink.wav\tDog\n", audio=())
    assert load_weak_labels(path, tmp_path / "audio").y.shape == (1, 1)


def test_missing_audio_raise_or_skip(tmp_path):
    path = _tree(tmp_path, WEAK_TSV, audio=("a.wav", "c.wav"))
    with pytest.raises(FileNotFoundError, match=r"1 of 3 audio files.*first: b\.wav"):
        load_weak_labels(path, tmp_path / "audio")
    with pytest.warns(UserWarning, match="Skipping 1 of 3 clips"):
        data = load_weak_labels(path, tmp_path / "audio", on_missing="skip")
    assert len(data.filenames) == 2 and data.n_missing == {"meta": 1}
    # the label set comes from the metadata, skipped clips included
    assert list(data.classes) == ["Cat", "Dog", "Speech"]
    with pytest.raises(ValueError, match="on_missing must be"):
        load_weak_labels(path, tmp_path / "audio", on_missing="ignore")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_weak_labels(path, tmp_path / "nowhere")


def test_missing_or_empty_metadata(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metadata file .*nope\.tsv"):
        load_weak_labels(tmp_path / "nope.tsv")
    path = _tree(tmp_path, "filename\tevent_labels\n")
    with pytest.raises(ValueError, match=r"Subset 'meta' is empty: .*meta\.tsv"):
        load_weak_labels(path, tmp_path / "audio")
    path.write_text("")
    with pytest.raises(ValueError, match="empty metadata file"):
        load_weak_labels(path, tmp_path / "audio")
    with pytest.raises(ValueError, match="metadata is empty"):
        load_weak_labels([])
    with pytest.raises(TypeError, match="metadata must be"):
        load_weak_labels(3)


def test_weak_row_without_label_and_conflicting_repeats(tmp_path):
    path = _tree(tmp_path, "filename\tevent_labels\na.wav\t\n")
    with pytest.raises(ValueError, match="line 2: weak label row has no label"):
        load_weak_labels(path, tmp_path / "audio")
    path.write_text("filename\tevent_labels\na.wav\tDog\nb.wav\tCat\na.wav\tCat\n")
    with pytest.warns(UserWarning, match=r"a\.wav \(lines 2, 4\)") as record:
        data = load_weak_labels(path, tmp_path / "audio")
    assert record[0].filename == __file__  # points at the caller
    np.testing.assert_array_equal(data.y, [[1, 1], [1, 0]])


def test_dcase_loader_is_built_on_load_weak_labels(dcase_root):
    base = dcase_root / "dataset"
    dcase = load_dcase2018_task4(dcase_root)
    own = load_weak_labels(
        {
            name: (base / "metadata" / meta, base / "audio" / audio)
            for name, meta, audio in [
                ("weak", "train/weak.csv", "train/weak"),
                (
                    "unlabel_in_domain",
                    "train/unlabel_in_domain.csv",
                    "train/unlabel_in_domain",
                ),
                ("test", "test/test.csv", "test"),
                ("eval", "eval/eval.csv", "eval"),
            ]
        },
        classes=DCASE2018_CLASSES,
    )
    for key in ("filenames", "y", "classes", "subset"):
        np.testing.assert_array_equal(own[key], dcase[key])
    assert dcase.kinds == {
        "weak": "weak",
        "unlabel_in_domain": "unlabeled",
        "test": "strong",
        "eval": "strong",
    }


def test_load_weak_labels_end_to_end(tmp_path):
    path = _tree(tmp_path, WEAK_CSV, "weak.csv")
    data = load_weak_labels(path, tmp_path / "audio")
    X = LogMelExtractor(sr=SR, duration=0.2).fit_transform(list(data.filenames))
    assert X.shape[0] == 3 and np.isfinite(X).all()


# -- load_audio_folder ----------------------------------------------------------


def _folder(tmp_path):
    root = tmp_path / "sounds"
    _wav(root / "Speech" / "s1.wav")
    _wav(root / "Dog" / "park" / "deep" / "d2.WAV", seed=1)
    _wav(root / "Dog" / "d1.wav", seed=2)
    _wav(root / "unlabeled" / "u1.wav", seed=3)
    (root / "Dog" / "notes.txt").write_text("not audio")
    (root / "Dog" / ".hidden.wav").write_bytes(b"")
    return root


def test_audio_folder_classes_nested_and_unlabelled(tmp_path):
    data = load_audio_folder(_folder(tmp_path))
    assert list(data.classes) == ["Dog", "Speech"]
    names = [os.path.relpath(f, tmp_path / "sounds") for f in data.filenames]
    assert names == [
        "Dog/d1.wav",
        os.path.join("Dog", "park", "deep", "d2.WAV"),
        "Speech/s1.wav",
        "unlabeled/u1.wav",
    ]
    np.testing.assert_array_equal(data.y, [[1, 0], [1, 0], [0, 1], [-1, -1]])
    assert data.y.dtype == np.int8
    assert data.target.tolist() == [0, 0, 1, -1]
    assert list(data.subset) == ["labeled"] * 3 + ["unlabeled"]


def test_audio_folder_end_to_end(tmp_path):
    data = load_audio_folder(_folder(tmp_path))
    X = LogMelExtractor(sr=SR, duration=0.2).fit_transform(data.filenames)
    assert X.shape[0] == 4 and np.isfinite(X).all()


def test_audio_folder_british_spelling_and_extensions(tmp_path):
    root = tmp_path / "sounds"
    _wav(root / "Cat" / "c.wav")
    sf.write(root / "Cat" / "c2.flac", np.zeros(1600), SR)
    _wav(root / "Unlabelled" / "u.wav")
    data = load_audio_folder(root)
    assert list(data.classes) == ["Cat"] and len(data.filenames) == 3
    assert (data.y[-1] == -1).all()
    only_flac = load_audio_folder(root, extensions=[".FLAC"])
    assert [os.path.basename(f) for f in only_flac.filenames] == ["c2.flac"]
    with pytest.raises(ValueError, match="extensions must be"):
        load_audio_folder(root, extensions=[])


def test_audio_folder_given_classes(tmp_path):
    root = _folder(tmp_path)
    data = load_audio_folder(root, classes=["Speech", "Cat", "Dog"])
    assert data.target.tolist() == [0, 2, 2, -1]
    assert (data.y[:, 1] <= 0).all()  # no Cat folder: a column of zeros
    with pytest.raises(ValueError, match=r"Class folder .*Dog is not one of"):
        load_audio_folder(root, classes=["Speech"])


def test_audio_folder_follows_symlinks_without_cycles(tmp_path):
    root = tmp_path / "sounds"
    _wav(tmp_path / "elsewhere" / "far.wav")
    _wav(root / "Dog" / "d.wav")
    (root / "Dog" / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "Dog" / "loop").symlink_to(root / "Dog")
    data = load_audio_folder(root)
    assert sorted(os.path.basename(f) for f in data.filenames) == ["d.wav", "far.wav"]


def test_audio_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio_folder(tmp_path / "nope")
    (tmp_path / "file.wav").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="file.wav"):
        load_audio_folder(tmp_path / "file.wav")
    root = tmp_path / "sounds"
    _wav(root / "unlabeled" / "u.wav")
    with pytest.raises(ValueError, match="no class folder.*classes="):
        load_audio_folder(root)
    assert (load_audio_folder(root, classes=["Dog"]).y == -1).all()
    (root / "unlabeled" / "u.wav").unlink()
    (root / "Dog").mkdir()
    with pytest.raises(ValueError, match="No audio file under"):
        with pytest.warns(UserWarning, match="holds no audio file"):
            load_audio_folder(root)


def test_audio_folder_warns_on_empty_class_and_loose_files(tmp_path):
    root = _folder(tmp_path)
    (root / "Cat").mkdir()
    (root / "Cat" / "readme.txt").write_text("no audio here")
    _wav(root / "loose.wav")
    with pytest.warns(UserWarning) as record:
        data = load_audio_folder(root)
    messages = " ".join(str(w.message) for w in record)
    assert "Ignoring 1 audio file(s) directly under" in messages
    assert "Cat holds no audio file" in messages
    assert list(data.classes) == ["Cat", "Dog", "Speech"]
    assert (data.y[:, 0] <= 0).all()
