"""Shared fixtures: a tiny tree laid out exactly like DCASE 2018 Task 4."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import soundfile as sf


def pytest_configure(config):
    # Tests write only into temporary folders (CI runs them under an empty HOME
    # and checks it stays empty): matplotlib's font cache and hypothesis's
    # storage (./.hypothesis by default) included.
    for variable in ("MPLCONFIGDIR", "HYPOTHESIS_STORAGE_DIRECTORY"):
        if variable not in os.environ:
            folder = tempfile.mkdtemp(prefix=f"sktriplet-tests-{variable.lower()}-")
            os.environ[variable] = folder
            config.add_cleanup(lambda folder=folder: shutil.rmtree(folder, True))
    from hypothesis import settings

    settings.register_profile("sktriplet", database=None)
    settings.load_profile("sktriplet")
    # Under pytest-xdist each worker gets one torch thread: N workers x N threads
    # on N cores makes recurrent layers wait on OpenMP barriers at every time step.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture
def dead_pid() -> int:
    """The id of a process of this host that has exited and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture
def one_torch_thread():
    """One torch thread during the test (the setting is put back afterwards)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


WEAK = """filename\tevent_labels
Y07fghylishw_20.000_30.000.wav\tDog,Speech
Y0a5ExN1xbSg_30.000_40.000.wav\tRunning_water
Y0bOHOafLp28_0.000_9.000.wav\tCat;Dishes
"""
UNLABEL = """filename
Y--0w1YA1Hm4_30.000_40.000.wav
Y-1HV2UBfPcI_0.000_10.000.wav
"""
# Strong labels: one event per row, a clip may repeat; an empty label = no event.
TEST = """filename\tonset\toffset\tevent_label
Y5J603SAj7QM_210.000_220.000.wav\t0.000\t1.560\tFrying
Y5J603SAj7QM_210.000_220.000.wav\t2.500\t6.000\tSpeech
Y5J603SAj7QM_210.000_220.000.wav\t7.000\t8.000\tSpeech
Y7bO0AJI-jgU_0.000_10.000.wav\t\t\t
"""
EVAL = """filename\tonset\toffset\tevent_label
Y-BJNMHMZDcU_50.000_60.000.wav\t0.000\t10.000\tVacuum_cleaner
Y-DX8ZbNadQw_0.000_10.000.wav\t1.000\t2.000\tAlarm_bell_ringing
Y-DX8ZbNadQw_0.000_10.000.wav\t3.000\t4.000\tElectric_shaver_toothbrush
"""
METADATA = {
    "train/weak.csv": WEAK,
    "train/unlabel_in_domain.csv": UNLABEL,
    "test/test.csv": TEST,
    "eval/eval.csv": EVAL,
}
AUDIO = {
    "train/weak": WEAK,
    "train/unlabel_in_domain": UNLABEL,
    "test": TEST,
    "eval": EVAL,
}


def write_dcase_tree(root, *, sr=16000, seconds=0.5, missing=()):
    """Write metadata and short wav files; files named in ``missing`` are left out."""
    rng = np.random.default_rng(0)
    for rel, text in METADATA.items():
        path = root / "dataset" / "metadata" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, text in AUDIO.items():
        folder = root / "dataset" / "audio" / rel
        folder.mkdir(parents=True, exist_ok=True)
        names = {line.split("\t")[0] for line in text.splitlines()[1:] if line}
        for name in sorted(names):
            if name in missing:
                continue
            n = int(sr * seconds * (0.9 if "_9.000" in name else 1.0))
            wave = 0.1 * rng.standard_normal((n, 2))  # stereo, as many real clips
            sf.write(folder / name, wave, sr, subtype="PCM_16")
    return root


@pytest.fixture
def dcase_root(tmp_path):
    """A complete DCASE 2018 Task 4 tree with 9 clips."""
    return write_dcase_tree(tmp_path / "dcase")


@pytest.fixture
def dcase_root_missing(tmp_path):
    """The same tree with one weakly labelled clip's audio missing."""
    return write_dcase_tree(
        tmp_path / "dcase", missing=("Y0a5ExN1xbSg_30.000_40.000.wav",)
    )


@pytest.fixture
def local_cluster():
    """Start a real Dask cluster on the loopback interface: two worker processes
    with one thread each (call it, and use the result as a context manager)."""
    import functools

    distributed = pytest.importorskip("distributed")
    return functools.partial(
        distributed.LocalCluster,
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
