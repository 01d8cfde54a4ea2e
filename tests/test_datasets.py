import os
import sys

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
    assert ((labeled.sum(axis=1) >= 1) & (labeled.sum(axis=1) <= 4)).all()
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

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args)

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
    # A new data version never reuses the old folder.
    assert data.root.name == f"soundscapes-v{_embedded.DATA_VERSION}-2-2-1-1-seed5"
    monkeypatch.setattr(_embedded, "DATA_VERSION", _embedded.DATA_VERSION + 1)
    with pytest.raises(AssertionError, match="regenerated"):
        load_domestic_soundscapes(**sizes, data_home=tmp_path, random_state=5)


def test_load_domestic_soundscapes_keeps_the_copy_another_process_published(
    tmp_path, monkeypatch
):
    # Two jobs loading the same data set at once: the one that finishes second
    # must not delete the folder that the first is already reading.
    from sktriplet.datasets import _embedded, load_domestic_soundscapes

    sizes = {"n_labeled": 2, "n_unlabeled": 2, "n_test": 1, "n_eval": 1}
    final = tmp_path / _embedded.cache_name(sizes, 5)
    generate = _embedded.make_domestic_soundscapes

    def finished_second(root, **kwargs):
        generate(final, **kwargs)
        (final / "being-read").touch()
        generate(root, **kwargs)

    monkeypatch.setattr(_embedded, "make_domestic_soundscapes", finished_second)
    data = load_domestic_soundscapes(
        **sizes, data_home=tmp_path, random_state=5, features=False
    )
    assert data.root == final and (final / "being-read").exists()
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
    assert len(data.filenames) == 6


def test_publish_folder_replaces_an_incomplete_leftover(tmp_path):
    from sktriplet.utils._files import publish_folder

    def complete(path):
        return (path / "done").exists()

    root, tmp = tmp_path / "cache", tmp_path / "new"
    (root / "half").mkdir(parents=True)
    tmp.mkdir()
    (tmp / "done").touch()
    assert publish_folder(tmp, root, complete)
    assert sorted(p.name for p in root.iterdir()) == ["done"] and not tmp.exists()
    tmp.mkdir()
    assert not publish_folder(tmp, root, complete) and not tmp.exists()


def _planned(tmp_path, monkeypatch, **kwargs):
    """The clips ``make_domestic_soundscapes`` would render, without rendering them."""
    from sktriplet.datasets import _synth

    clips = []

    def record(clip, sources, room, path):
        clips.append(clip)
        path.touch()

    monkeypatch.setattr(_synth, "_render_clip", record)
    make_domestic_soundscapes(tmp_path / "plan", overwrite=True, **kwargs)
    return clips


SIZES = {"n_labeled": 40, "n_unlabeled": 40, "n_test": 40, "n_eval": 40}


def test_synth_heldout_sources_only_in_test_and_eval(tmp_path, monkeypatch):
    clips = _planned(tmp_path, monkeypatch, **SIZES, n_sources=4, n_heldout_sources=2)
    train = [
        e for c in clips if c.subset in ("weak", "unlabel_in_domain") for e in c.events
    ]
    strong = [e for c in clips if c.subset in ("test", "eval") for e in c.events]
    assert not any(e.heldout or e.source >= 4 for e in train)
    assert not any(c.room_heldout for c in clips if c.subset == "weak")
    heldout = [e for e in strong if e.heldout]
    assert all(4 <= e.source < 6 for e in heldout)
    # about half of the test/eval events (default heldout_share=0.5)
    assert 0.3 < len(heldout) / len(strong) < 0.7
    assert {e.source_id for e in heldout}.isdisjoint(e.source_id for e in train)
    assert any(c.room_heldout for c in clips if c.subset == "eval")
    # the planned events are the strong labels written
    data = load_dcase2018_task4(tmp_path / "plan")
    eval_clips = [c for c in clips if c.subset == "eval"]
    rows = data.y[data.subset == "eval"]
    for clip, row in zip(eval_clips, rows):
        assert {DCASE2018_CLASSES[i] for i in np.flatnonzero(row)} == {
            e.label for e in clip.events
        }


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0.0), (1.0, 1.0)])
def test_synth_heldout_share(tmp_path, monkeypatch, share, expected):
    clips = _planned(tmp_path, monkeypatch, **SIZES, heldout_share=share)
    strong = [e for c in clips if c.subset in ("test", "eval") for e in c.events]
    assert np.mean([e.heldout for e in strong]) == expected


def test_synth_source_bank_depends_on_seed_only():
    from sktriplet.datasets._scenes import draw_bank

    def bank(seed):
        return draw_bank(np.random.default_rng(seed), 6, 3, 6, 2)

    assert bank(0) == bank(0)
    assert bank(0).sources["Dog"] != bank(1).sources["Dog"]
    assert bank(0).rooms != bank(1).rooms
    # identities of one class come from several sub-families
    for label, identities in bank(0).sources.items():
        assert len({p["kind"] for p in identities}) >= 2, label


def test_synth_bank_does_not_depend_on_clip_counts(tmp_path, monkeypatch):
    from sktriplet.datasets._scenes import plan_soundscapes

    kwargs = {
        "short_clip_share": 0.05,
        "n_sources": 3,
        "n_heldout_sources": 1,
        "heldout_share": 0.5,
        "snr_db": (-6, 24),
        "n_rooms": 2,
        "n_heldout_rooms": 1,
        "random_state": 4,
    }
    bank_a, _ = plan_soundscapes({"weak": 2}, **kwargs)
    bank_b, clips = plan_soundscapes({"weak": 9, "eval": 3}, **kwargs)
    assert bank_a == bank_b and len(clips) == 12


def test_synth_scene_statistics(tmp_path, monkeypatch):
    clips = _planned(
        tmp_path,
        monkeypatch,
        n_labeled=400,
        n_unlabeled=0,
        n_test=0,
        n_eval=0,
        snr_db=(-3.0, 9.0),
    )
    n_events = np.array([len(c.events) for c in clips])
    assert n_events.min() == 1 and n_events.max() <= 4
    assert 1.3 < n_events.mean() < 1.6
    events = [e for c in clips for e in c.events]
    snr = np.array([e.snr_db for e in events])
    assert snr.min() >= -3.0 and snr.max() <= 9.0
    dur = {}
    for e in events:
        assert 0 <= e.onset < e.offset <= 10.0
        dur.setdefault(e.label, []).append(e.offset - e.onset)
    assert np.mean(dur["Vacuum_cleaner"]) > 2 * np.mean(dur["Dog"])
    assert max(dur["Running_water"]) == 10.0
    # class frequencies follow DCASE's imbalance: Speech is the most frequent
    counts = {label: len(d) for label, d in dur.items()}
    assert max(counts, key=counts.get) == "Speech"


def test_synth_sources_have_unit_rms_and_identities_differ():
    from sktriplet.datasets._families import draw_source
    from sktriplet.datasets._sources import render_source

    rng = np.random.default_rng(0)
    sr = 22050

    def band_energies(x):
        spec = np.abs(np.fft.rfft(x)) ** 2
        return np.log(np.array([b.sum() for b in np.array_split(spec, 24)]) + 1e-9)

    for label in DCASE2018_CLASSES:
        identities = [draw_source(label, rng) for _ in range(6)]
        profiles = []
        for params in identities:
            short = render_source(label, params, rng, int(0.25 * sr), sr)
            assert np.sqrt(np.mean(short**2)) == pytest.approx(1, abs=1e-3), label
            events = [render_source(label, params, rng, sr, sr) for _ in range(2)]
            for x in events:
                assert np.isfinite(x).all()
            profiles.append([band_energies(x) for x in events])
        within = np.mean([np.abs(a - b).mean() for a, b in profiles])
        between = np.mean(
            [
                np.abs(profiles[i][0] - profiles[j][0]).mean()
                for i in range(6)
                for j in range(i + 1, 6)
            ]
        )
        assert between > 1.25 * within, label


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_sources", 0),
        ("n_heldout_sources", -1),
        ("heldout_share", 1.5),
        ("n_rooms", 0),
        ("n_heldout_rooms", 2.0),
        ("snr_db", (10, 0)),
        ("snr_db", "loud"),
        ("short_clip_share", -0.1),
    ],
)
def test_synth_bad_parameters(tmp_path, name, value):
    with pytest.raises(ValueError, match=name):
        make_domestic_soundscapes(tmp_path / "x", n_labeled=1, **{name: value})
    assert not (tmp_path / "x").exists()


class _Generated(Exception):
    pass


def test_load_domestic_soundscapes_presets(tmp_path, monkeypatch):
    from sktriplet.datasets import SOUNDSCAPE_PRESETS, _embedded
    from sktriplet.datasets import load_domestic_soundscapes as load

    def fake(root, **kwargs):
        raise _Generated(root, kwargs)

    monkeypatch.setattr(_embedded, "make_domestic_soundscapes", fake)

    def generated(**kwargs):
        with pytest.raises(_Generated) as info:
            load(data_home=tmp_path, **kwargs)
        root, call = info.value.args
        # Generated into a staging folder of this process, published by name.
        name, staging = root.name.removeprefix(".").split(".staging-")
        assert staging.endswith(f"-{os.getpid()}")
        return name, {k: call[k] for k in SOUNDSCAPE_PRESETS["small"]}

    assert generated() == (
        f"soundscapes-v{_embedded.DATA_VERSION}-60-540-100-200-seed0",
        {"n_labeled": 60, "n_unlabeled": 540, "n_test": 100, "n_eval": 200},
    )
    name, sizes = generated(preset="dcase", random_state=2)
    assert (
        sizes
        == SOUNDSCAPE_PRESETS["dcase"]
        == {
            "n_labeled": 300,
            "n_unlabeled": 2700,
            "n_test": 150,
            "n_eval": 300,
        }
    )
    assert name.endswith("-300-2700-150-300-seed2")
    name, sizes = generated(preset="dcase", n_eval=7, n_labeled=0)
    assert sizes == {"n_labeled": 0, "n_unlabeled": 2700, "n_test": 150, "n_eval": 7}
    with pytest.raises(ValueError, match="preset must be one of.*dcase"):
        load(preset="huge", data_home=tmp_path)


@pytest.mark.skipif(sys.platform == "win32", reason="never swept on Windows")
def test_load_domestic_soundscapes_sweeps_staging_of_killed_processes(
    tmp_path, monkeypatch, dead_pid
):
    from sktriplet.datasets import _embedded
    from sktriplet.datasets import load_domestic_soundscapes as load

    def fake(root, **kwargs):
        raise _Generated(root)

    monkeypatch.setattr(_embedded, "make_domestic_soundscapes", fake)
    with pytest.raises(_Generated) as info:
        load(data_home=tmp_path)
    staging = info.value.args[0]
    # What a process killed while generating leaves behind (its pid is gone).
    host_prefix = staging.name.removesuffix(str(os.getpid()))
    left = staging.with_name(f"{host_prefix}{dead_pid}")
    (left / "audio").mkdir(parents=True)
    with pytest.raises(_Generated):
        load(data_home=tmp_path)
    assert not left.exists()


def test_get_data_home_created_user_only(tmp_path, monkeypatch):
    from sktriplet.datasets import get_data_home

    monkeypatch.delenv("SKTRIPLET_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    home = get_data_home()
    assert home == tmp_path / ".cache" / "sktriplet"
    assert home.stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("SKTRIPLET_DATA", str(tmp_path / "env"))
    assert get_data_home().stat().st_mode & 0o777 == 0o700
    # an existing folder keeps the mode its owner gave it
    (tmp_path / "shared").mkdir(mode=0o755)
    (tmp_path / "shared").chmod(0o755)
    assert get_data_home(tmp_path / "shared").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    "name",
    ["../../../../etc/passwd", "/etc/hostname", "sub/../../unlabel_in_domain/x.wav"],
)
def test_loader_refuses_filenames_outside_audio_folder(dcase_root, name):
    path = dcase_root / "dataset/metadata/train/weak.csv"
    path.write_text(path.read_text() + f"{name}\tDog\n")
    with pytest.raises(ValueError, match=r"weak\.csv, line 5.*outside the audio"):
        load_dcase2018_task4(dcase_root)


def test_loader_follows_symlinks_inside_the_audio_folder(dcase_root, tmp_path):
    # git-annex / DataLad data sets: every audio file links into .git/annex.
    store = tmp_path / "annex" / "object.wav"
    store.parent.mkdir()
    store.write_bytes(b"x")
    (dcase_root / "dataset/audio/train/unlabel_in_domain/link.wav").symlink_to(store)
    path = dcase_root / "dataset/metadata/train/unlabel_in_domain.csv"
    path.write_text(path.read_text() + "link.wav\n")
    data = load_dcase2018_task4(dcase_root, subsets="unlabel_in_domain")
    assert any(
        f.endswith("object.wav") or f.endswith("link.wav") for f in data.filenames
    )


def test_loader_accepts_utf8_bom(dcase_root):
    path = dcase_root / "dataset/metadata/train/weak.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = load_dcase2018_task4(dcase_root, subsets="weak")
    assert data.y[0, _col("Dog")] == 1 and len(data.filenames) == 3


def test_loader_non_utf8_names_file_and_line(dcase_root):
    path = dcase_root / "dataset/metadata/test/test.csv"
    path.write_bytes(path.read_bytes() + "Ycaf\u00e9.wav\t\t\t\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"test\.csv, line 6: not valid UTF-8"):
        load_dcase2018_task4(dcase_root)


def test_loader_warns_on_conflicting_weak_labels(dcase_root):
    path = dcase_root / "dataset/metadata/train/weak.csv"
    text = path.read_text()
    # an exact repeat is harmless; a repeat with other labels is reported
    path.write_text(
        text + "Y0a5ExN1xbSg_30.000_40.000.wav\tRunning_water\n"
        "Y07fghylishw_20.000_30.000.wav\tCat\n"
    )
    with pytest.warns(UserWarning, match=r"weak\.csv: 1 filename.*Y07fgh.*lines 2, 6"):
        data = load_dcase2018_task4(dcase_root, subsets="weak")
    assert len(data.filenames) == 3
    assert data.y[0, [_col("Dog"), _col("Speech"), _col("Cat")]].tolist() == [1, 1, 1]


def test_loader_strong_label_repeats_do_not_warn(dcase_root, recwarn):
    load_dcase2018_task4(dcase_root)  # test.csv and eval.csv repeat clips
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_loader_empty_subset_named(dcase_root):
    path = dcase_root / "dataset/metadata/eval/eval.csv"
    path.write_text("filename\tonset\toffset\tevent_label\n")
    with pytest.raises(ValueError, match=r"Subset 'eval' is empty: .*eval\.csv"):
        load_dcase2018_task4(dcase_root)
    assert len(load_dcase2018_task4(dcase_root, subsets=["weak", "test"]).y) == 5


def test_load_domestic_soundscapes_with_an_empty_subset(tmp_path):
    from sktriplet.datasets import load_domestic_soundscapes

    data = load_domestic_soundscapes(
        n_labeled=4,
        n_unlabeled=0,
        n_test=2,
        n_eval=0,
        data_home=tmp_path,
        features=False,
    )
    assert sorted(set(data.subset)) == ["test", "weak"] and len(data.y) == 6
