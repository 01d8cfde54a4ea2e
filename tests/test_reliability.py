"""Faults a new user runs into: file-system errors, continued training with other
labels, validation splits without triplets, and small input mistakes."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest
import torch
from skorch.callbacks import EarlyStopping

from sktriplet import cli
from sktriplet.embedding import TripletEmbedder
from sktriplet.experiments import reproduce
from sktriplet.metrics import macro_f1_scorer
from sktriplet.tagging import SequenceTagger
from sktriplet.utils._files import (
    atomic_folder,
    check_writable_dir,
    check_writable_file,
    describe_os_error,
    work_folder,
)

needs_permissions = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="root (or Windows) ignores folder permissions",
)


def _clips(n=10, frames=120, mels=8, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, frames, mels)).astype(np.float32)
    y = np.zeros((n, n_classes), np.int64)
    for i in range(n):
        y[i, i % n_classes] = 1
    return X, y


def _embedder(strategy="s2", **params):
    defaults = {
        "n_triplets": 16,
        "batch_size": 8,
        "segment_frames": 40,
        "n_mels": 8,
        "max_epochs": 1,
        "module__n_filters": 4,
        "random_state": 0,
    }
    return TripletEmbedder(strategy, **{**defaults, **params})


# -- estimators -----------------------------------------------------------------------
@pytest.mark.parametrize("warm", [False, True], ids=["partial_fit", "warm_start"])
@pytest.mark.parametrize("head", [0.0, 1.0], ids=["no-head", "head"])
def test_continued_training_with_other_label_columns_is_refused(warm, head):
    X, y = _clips()
    emb = _embedder(classification_weight=head, warm_start=warm).fit(X, y)
    weights = {k: v.clone() for k, v in emb.net_.module_.state_dict().items()}
    history = len(emb.history_)
    _, y12 = _clips(n_classes=3)
    with pytest.raises(ValueError, match=r"y has 3 label columns .* fitted with 2"):
        emb.fit(X, y12) if warm else emb.partial_fit(X, y12)
    # Nothing changed.
    assert list(emb.classes_) == [0, 1]
    assert len(emb.history_) == history
    for k, v in emb.net_.module_.state_dict().items():
        assert torch.equal(v, weights[k])
    # The same columns continue fine.
    emb.partial_fit(X, y)
    assert len(emb.history_) == history + 1


def test_validation_fraction_without_triplets_fails_before_training():
    X, y = _clips()
    emb = _embedder(
        "s5",
        weak_label_share=1.0,
        validation_fraction=0.2,
        max_epochs=2,
        random_state=1,
        callbacks=[EarlyStopping()],
    )
    with pytest.warns(UserWarning, match="anchors were skipped"):
        with pytest.raises(ValueError, match="held-out clips give no triplet"):
            emb.fit(X, y)
    assert not hasattr(emb, "net_")


def test_max_epochs_zero_is_rejected():
    X, _ = _clips()
    with pytest.raises(ValueError, match="max_epochs"):
        _embedder("s1", max_epochs=0).fit(X)


def test_strategy_names_are_case_insensitive():
    X, y = _clips()
    upper = _embedder("S2").fit(X, y).transform(X)
    lower = _embedder("s2").fit(X, y).transform(X)
    assert np.array_equal(upper, lower)
    with pytest.raises(ValueError, match="strategy"):
        _embedder("s9").fit(X, y)


def test_tagger_score_is_macro_f1_of_labelled_rows():
    X, y = _clips(n=12)
    clf = SequenceTagger(hidden_size=4, max_epochs=2, random_state=0).fit(X, y)
    semi = y.copy()
    semi[:4] = -1
    assert clf.score(X, semi) == pytest.approx(macro_f1_scorer(clf, X, semi))
    assert clf.score(X, semi) == pytest.approx(clf.score(X[4:], y[4:]))
    with pytest.raises(TypeError, match="sample_weight"):
        clf.score(X, y, sample_weight=np.ones(len(y)))


# -- output paths ---------------------------------------------------------------------
def test_check_writable_dir_and_file(tmp_path):
    folder = check_writable_dir(tmp_path / "a" / "b")
    assert folder.is_dir() and not list(folder.iterdir())  # the probe is gone
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_writable_dir(tmp_path / "f", name="out")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_writable_file(tmp_path, name="--out")
    with pytest.raises(NotADirectoryError):
        check_writable_file(tmp_path / "f" / "x.npz")


@pytest.mark.skipif(sys.platform == "win32", reason="never swept on Windows")
def test_atomic_folder_sweeps_only_work_of_dead_processes_of_this_host(
    tmp_path, dead_pid
):
    root = tmp_path / "data"
    mine = work_folder(root, "partial")
    host_prefix = mine.name[: -len(str(os.getpid()))]
    dead = tmp_path / f"{host_prefix}{dead_pid}"
    # the work folder of a builder that writes through atomic_folder into its own
    inner = mine.name.removeprefix(".data")
    dead_nested = tmp_path / f".{dead.name}{inner}"
    alive_nested = tmp_path / f".{host_prefix}{os.getppid()}{inner}"
    alive = tmp_path / f"{host_prefix}{os.getppid()}"
    elsewhere = tmp_path / f".data.partial-otherhost-{dead_pid}"
    host = host_prefix.removeprefix(".data.partial-")
    other_root = tmp_path / f".database.partial-{host}{dead_pid}"
    not_a_pid = tmp_path / f"{host_prefix}x1"
    made = (dead, dead_nested, alive, alive_nested, elsewhere, other_root, not_a_pid)
    for folder in made:
        folder.mkdir()
        (folder / "clip.wav").write_bytes(b"half")
    with atomic_folder(root) as tmp:
        assert tmp == mine
        (tmp / "done.txt").write_text("yes")
    assert (root / "done.txt").read_text() == "yes"
    assert not dead.exists() and not dead_nested.exists() and not mine.exists()
    for kept in (alive, alive_nested, elsewhere, other_root, not_a_pid):
        assert (kept / "clip.wav").exists(), kept.name


@needs_permissions
def test_check_writable_dir_read_only(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(PermissionError) as info:
            check_writable_dir(ro)
        assert describe_os_error(info.value) == f"{ro}: Permission denied"
        with pytest.raises(PermissionError):
            check_writable_dir(ro / "sub")
    finally:
        ro.chmod(stat.S_IRWXU)


def _cli_error(argv, capsys):
    code = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_features_out_is_a_folder_fails_before_extracting(dcase_root, tmp_path, capsys):
    # a folder --out is a feature store: one holding other files is never replaced
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["features", str(dcase_root), "--out", str(out)]
    code, err = _cli_error(argv, capsys)
    assert code == 1
    assert len(err) == 1 and "is a folder that is not a feature store" in err[0]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert "Traceback" not in "\n".join(err)


def test_features_out_under_a_file_fails_with_one_line(dcase_root, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "features.npz"
    code, err = _cli_error(["features", str(dcase_root), "--out", str(out)], capsys)
    assert code == 1 and len(err) == 1
    assert err[0].startswith("sktriplet: error: ")
    assert str(tmp_path / "file") in err[0]


@needs_permissions
def test_features_into_read_only_folder(dcase_root, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, err = _cli_error(
            ["features", str(dcase_root), "--out", str(ro / "f.npz")], capsys
        )
    finally:
        ro.chmod(stat.S_IRWXU)
    assert code == 1 and err == [f"sktriplet: error: {ro}: Permission denied"]


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
def test_reproduce_unwritable_paths_fail_before_any_work(
    option, tmp_path, capsys, monkeypatch
):
    import sktriplet.experiments._reproduce as module

    def no_data(*args, **kwargs):
        raise AssertionError("the data step started before the paths were checked")

    monkeypatch.setattr(module, "embedded_root", no_data)
    monkeypatch.setattr(module, "load_features", no_data)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    argv = ["reproduce", "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path)]
    argv[argv.index(option) + 1] = str(blocker)
    code, err = _cli_error(argv, capsys)
    assert code == 1 and len(err) == 1
    assert "is a file, expected a folder" in err[0]
    with pytest.raises(NotADirectoryError):
        reproduce(
            out=blocker if option == "--out" else tmp_path / "o",
            cache_dir=blocker if option == "--cache-dir" else tmp_path,
        )


def test_synth_out_is_a_file(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("x")
    code, err = _cli_error(["data", "synth", "--out", str(out)], capsys)
    assert code == 1 and err == [
        f"sktriplet: error: --out {out} is a file, expected a folder."
    ]


def test_synth_non_empty_out_names_the_cli_option(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    code, err = _cli_error(["data", "synth", "--out", str(tmp_path)], capsys)
    assert code == 1
    assert err[-1].endswith("pass --overwrite to replace it.")
    assert "overwrite=True" not in err[-1]
    assert (tmp_path / "keep.txt").exists()


def test_os_errors_become_one_line(tmp_path, capsys, monkeypatch):
    def fails(args):
        raise PermissionError(13, "Permission denied", "/some/where")

    monkeypatch.setattr(cli, "_run_synth", fails)
    code, err = _cli_error(["data", "synth", "--out", str(tmp_path / "x")], capsys)
    assert code == 1 and err == ["sktriplet: error: /some/where: Permission denied"]


@pytest.mark.parametrize("kind", ["embedder", "tagger"])
def test_ragged_list_of_clips_gets_the_package_message(kind):
    # A list of 2-D clips of any lengths is accepted (tests/test_variable_length.py);
    # a list mixing clips of other dimensions gets the package's message.
    X = [np.zeros((100, 8), np.float32), np.zeros(90, np.float32)]
    y = np.array([[1, 0], [0, 1]])
    est = _embedder() if kind == "embedder" else SequenceTagger(max_epochs=1)
    with pytest.raises(ValueError, match=r"clips of different shapes \(\(100, 8\)"):
        est.fit(X, y)
