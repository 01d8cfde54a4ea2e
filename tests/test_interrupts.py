"""Interrupts: Ctrl-C and SIGTERM stop a job, keep nothing half-done, and resume.

The fault-injection test runs the real ``sktriplet reproduce`` command line in
subprocesses on tiny data, sends signals at random moments of three phases (data
synthesis, feature extraction, a training cell), resumes, and checks that the
final results equal those of an uninterrupted run.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from sktriplet.embedding import TripletEmbedder
from sktriplet.tagging import CRNNTagger, SequenceTagger


@pytest.fixture(autouse=True)
def _sigint_raises():
    """Python's own SIGINT handler, whatever the test runner was started with (a
    shell without job control starts background commands with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _InterruptAt(Callback):
    """Ctrl-C (a real SIGINT) at the end of a batch of a given epoch."""

    def __init__(self, epoch=1):
        self.epoch = epoch

    def on_batch_end(self, net, **kwargs):
        if len(net.history) >= self.epoch:
            signal.raise_signal(signal.SIGINT)


class _StopAt(Callback):
    """Asks training to stop the way skorch's EarlyStopping does."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) >= 2:
            raise KeyboardInterrupt


def _clips(n=8, frames=120, mels=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, frames, mels)).astype(np.float32)
    y = np.zeros((n, 2), np.int64)
    y[::2, 0] = 1
    y[1::2, 1] = 1
    return X, y


def _embedder(**params):
    return TripletEmbedder(
        "s1",
        n_triplets=16,
        batch_size=8,
        segment_frames=40,
        n_mels=8,
        max_epochs=3,
        module__n_filters=4,
        random_state=0,
        **params,
    )


def _taggers(**params):
    return [
        SequenceTagger(hidden_size=4, max_epochs=3, random_state=0, **params),
        CRNNTagger(n_filters=4, hidden_size=4, max_epochs=3, random_state=0, **params),
    ]


# -- estimators ---------------------------------------------------------------------
def test_embedder_reraises_interrupt_and_stays_unfitted():
    X, _ = _clips()
    emb = _embedder(callbacks=[_InterruptAt(epoch=2)])
    with pytest.raises(KeyboardInterrupt):
        emb.fit(X)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(emb))
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(emb)


def test_embedder_interrupt_during_partial_fit_propagates():
    X, _ = _clips()
    stop = _InterruptAt(epoch=99)
    emb = _embedder(callbacks=[stop]).fit(X)
    stop.epoch = 4
    with pytest.raises(KeyboardInterrupt):
        emb.partial_fit(X)


def test_embedder_on_interrupt_stop_keeps_weights_with_warning():
    X, _ = _clips()
    emb = _embedder(callbacks=[_InterruptAt(epoch=2)], on_interrupt="stop")
    with pytest.warns(UserWarning, match="interrupted during epoch 2"):
        emb.fit(X)
    assert len(emb.history_) == 2
    assert emb.transform(X).shape[0] == len(X)


def test_embedder_interrupt_during_fine_tuning_leaves_it_unfitted():
    X, y = _clips()
    emb = _embedder(
        fine_tune=True,
        fine_tune__max_epochs=3,
        fine_tune__callbacks=[_InterruptAt(epoch=2)],
    )
    with pytest.raises(KeyboardInterrupt):
        emb.fit(X, y)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(emb)


@pytest.mark.parametrize("index", [0, 1], ids=["sequence", "crnn"])
def test_taggers_reraise_interrupt_and_stay_unfitted(index):
    X, y = _clips()
    clf = _taggers(callbacks=[_InterruptAt(epoch=2)])[index]
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(clf)
    # A refit of a fitted tagger that is interrupted does not keep the old model.
    clf.set_params(callbacks=None).fit(X, y)
    clf.set_params(callbacks=[_InterruptAt(epoch=2)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(clf)


@pytest.mark.parametrize("index", [0, 1], ids=["sequence", "crnn"])
def test_mean_teacher_fit_reraises_interrupt_and_stays_unfitted(index):
    X, y = _clips()
    y = y.copy()
    y[::4] = -1  # unlabelled clips: the consistency loss is trained
    clf = _taggers(callbacks=[_InterruptAt(epoch=2)])[index]
    clf.set_params(consistency=1.0, input_noise=0.1)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(clf)


def test_tagger_on_interrupt_stop():
    X, y = _clips()
    clf = _taggers(callbacks=[_InterruptAt(epoch=2)], on_interrupt="stop")[0]
    with pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, y)
    assert len(clf.history_) == 2
    assert clf.predict(X).shape == y.shape


@pytest.mark.parametrize("on_interrupt", ["raise", "stop"])
def test_callback_stop_request_ends_training_normally(on_interrupt):
    X, y = _clips()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb = _embedder(callbacks=[_StopAt()], on_interrupt=on_interrupt).fit(X)
        clf = _taggers(callbacks=[_StopAt()], on_interrupt=on_interrupt)[0].fit(X, y)
    assert len(emb.history_) == len(clf.history_) == 2


def test_sigint_handler_is_put_back():
    X, _ = _clips()
    before = signal.getsignal(signal.SIGINT)
    _embedder().fit(X)
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        _embedder(callbacks=[_InterruptAt(epoch=1)]).fit(X)
    assert signal.getsignal(signal.SIGINT) is before


def test_on_interrupt_is_validated():
    X, y = _clips()
    with pytest.raises(ValueError, match="on_interrupt"):
        _embedder(on_interrupt="ignore").fit(X)
    with pytest.raises(ValueError, match="on_interrupt"):
        _taggers(on_interrupt="ignore")[0].fit(X, y)


# -- the command line under signals --------------------------------------------------
# Tiny data and one triplet count, so that a whole run takes seconds; everything
# else is the real command line.
_DRIVER = textwrap.dedent(
    """
    import sys
    from sktriplet.experiments import _data, _reproduce
    _data.EMBEDDED_SIZES["quick"] = {
        "n_labeled": 8, "n_unlabeled": 8, "n_test": 6, "n_eval": 6
    }
    _reproduce.PRESETS["quick"].update(
        tables=("2",), triplet_counts=(31_560,), tsne=False
    )
    from sktriplet.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _command(tmp_path, out, cache):
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    return [
        sys.executable,
        str(driver),
        "reproduce",
        "--preset",
        "quick",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--n-jobs",
        "2",
    ]


def _env():
    env = dict(os.environ)
    env.pop("SKTRIPLET_DATA", None)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run(cmd, timeout=300):
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=_env(), timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _interrupt(cmd, phase_started, delay, sig=signal.SIGINT, group=False):
    """Start ``cmd``, wait for ``phase_started()``, sleep ``delay``, signal it."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 120
    while not phase_started():
        assert proc.poll() is None, "the run ended before the phase started"
        assert time.monotonic() < deadline, "the phase never started"
        time.sleep(0.02)
    time.sleep(delay)
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _check_results_file(path: Path, columns: list[str] | None = None) -> list[dict]:
    """``results.csv`` parses, every row is whole, no key twice."""
    rows = _rows(path)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), keys
    for row in rows:
        assert None not in row.values() and None not in row, row
        assert 0.0 <= float(row["macro_f1"]) <= 100.0
    if columns is not None and rows:
        assert list(rows[0]) == columns
    return rows


def _comparable(rows):
    return {r["key"]: {k: v for k, v in r.items() if k != "fit_seconds"} for r in rows}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_reproduce_resumes_after_interrupts_in_every_phase(tmp_path):
    rng = random.Random(12)
    out, cache = tmp_path / "out", tmp_path / "cache"
    cmd = _command(tmp_path, out, cache)
    results = out / "results.csv"

    def synthesising():
        return any(cache.glob(".*partial*"))

    def extracting():
        return (cache / "features").is_dir()

    def training():
        # A cell finished in this run: the next one is training.
        return len(_rows(results)) > n_before

    phases = [
        ("synthesis", synthesising, signal.SIGINT, False, 130),
        ("features", extracting, signal.SIGINT, False, 130),
        ("training", training, signal.SIGINT, True, 130),  # Ctrl-C: the whole group
        ("training", training, signal.SIGTERM, False, 143),
    ]
    for name, started, sig, group, expected in phases:
        delay = rng.uniform(0.0, 0.5)
        n_before = len(_rows(results))
        code, err = _interrupt(cmd, started, delay, sig=sig, group=group)
        assert code == expected, f"{name} (+{delay:.2f} s): exit {code}\n{err[-2000:]}"
        last = err.strip().splitlines()[-1]
        assert last.startswith("sktriplet: "), last
        assert "run the same command again to resume" in last, last
        assert "Traceback" not in err, err[-2000:]
        _check_results_file(results)
        # No half-written data set or feature file is left to be trusted.
        assert not list(cache.glob(".*partial*"))

    _run(cmd)
    # The uninterrupted run, with its own data and feature cache: a damaged
    # cache left by an interrupt would show as a difference.
    reference = tmp_path / "reference"
    _run(_command(tmp_path, reference, tmp_path / "reference-cache"))
    ref_rows = _check_results_file(reference / "results.csv")
    assert len(ref_rows) == 8  # 2 baselines, S1-S5 and the defaults' row
    rows = _check_results_file(results, columns=list(ref_rows[0]))
    assert _comparable(rows) == _comparable(ref_rows)
    assert (out / "table2.md").read_text() == (reference / "table2.md").read_text()


def test_cli_interrupt_message_names_how_to_resume(tmp_path, monkeypatch, capsys):
    from sktriplet import cli
    from sktriplet.experiments import _reproduce

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_reproduce, "reproduce", interrupted)
    monkeypatch.setattr("sktriplet.experiments.reproduce", interrupted)
    code = cli.main(["reproduce", "--out", str(tmp_path / "o")])
    assert code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"sktriplet: interrupted; finished cells are kept in "
        f"{tmp_path / 'o' / 'results.csv'}; run the same command again to resume"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_sigterm_exits_143(tmp_path, monkeypatch, capsys):
    from sktriplet import cli

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr("sktriplet.experiments.reproduce", terminated)
    before = signal.getsignal(signal.SIGTERM)
    code = cli.main(["reproduce", "--out", str(tmp_path / "o")])
    assert code == 143
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("sktriplet: terminated; ")
    )
    assert signal.getsignal(signal.SIGTERM) is before


def test_cli_sigterm_handler_not_installed_off_main_thread(tmp_path, monkeypatch):
    from sktriplet import cli

    monkeypatch.setattr("sktriplet.experiments.reproduce", lambda *a, **k: None)
    codes = []
    with warnings.catch_warnings():
        thread = threading.Thread(
            target=lambda: codes.append(
                cli.main(["reproduce", "--out", str(tmp_path / "o")])
            )
        )
        thread.start()
        thread.join()
    assert codes == [0]


def _kill_outright_once_writing(cmd, folder):
    """Start ``cmd``, SIGKILL it once a wav file is in a hidden folder of ``folder``."""
    proc = subprocess.Popen(cmd, env=_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(folder.glob(".*/**/*.wav")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "synthesis never started"
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no cleanup code runs
    proc.communicate(timeout=60)
    return proc.pid


def _build_command(code, folder):
    return [sys.executable, "-c", f"import sys; {code}", str(folder)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_synthesis_killed_outright_is_cleaned_by_the_next_build(tmp_path):
    root = tmp_path / "data"
    build = _build_command(
        "from sktriplet.datasets import make_domestic_soundscapes as m; "
        "m(sys.argv[1], n_labeled=int(sys.argv[2]), n_unlabeled=0, n_test=0, "
        "n_eval=0, n_jobs=1, overwrite=True, random_state=0)",
        root,
    )
    pid = _kill_outright_once_writing(build + ["400"], tmp_path)
    (left,) = tmp_path.glob(".data.partial-*")
    assert left.name.endswith(f"-{pid}")

    _run(build + ["2"])
    assert not list(tmp_path.glob(".data.partial-*"))
    assert len(list(root.rglob("*.wav"))) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cached_data_set_killed_outright_is_cleaned_by_the_next_load(tmp_path):
    # load_domestic_soundscapes builds in a staging folder of its process, which
    # synthesis itself builds in a work folder: both must go.
    load = _build_command(
        "from sktriplet.datasets import load_domestic_soundscapes as f; "
        "f(data_home=sys.argv[1], n_labeled=int(sys.argv[2]), n_unlabeled=0, "
        "n_test=0, n_eval=0, features=False, n_jobs=1)",
        tmp_path,
    )
    pid = _kill_outright_once_writing(load + ["300"], tmp_path)
    assert [p for p in tmp_path.iterdir() if str(pid) in p.name]

    _run(load + ["300"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (root,) = tmp_path.glob("soundscapes-*-300-0-0-0-seed0")
    assert len(list(root.rglob("*.wav"))) == 300
