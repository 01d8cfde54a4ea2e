import subprocess
import sys

import numpy as np
import pytest

import sktriplet
from sktriplet.cli import main


def test_version_and_help(capsys):
    assert isinstance(sktriplet.__version__, str)
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and sktriplet.__version__ in capsys.readouterr().out
    for argv in (["data", "synth", "--help"], ["features", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "usage" in capsys.readouterr().out


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "sktriplet", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "features" in out.stdout


def test_synth_then_features(tmp_path, capsys):
    root = tmp_path / "data"
    assert (
        main(
            [
                "data",
                "synth",
                "--out",
                str(root),
                "--n-labeled",
                "2",
                "--n-unlabeled",
                "2",
                "--n-test",
                "1",
                "--n-eval",
                "1",
            ]
        )
        == 0
    )
    assert "wrote 6 clips" in capsys.readouterr().out
    out = tmp_path / "feats.npz"
    assert main(["features", str(root), "--out", str(out), "--n-jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "extracted 6 clips" in text and "(6, 1001, 64)" in text
    with np.load(out) as f:
        assert f["X"].shape == (6, 1001, 64) and f["y"].shape == (6, 10)
        assert list(f["subset"][:2]) == ["weak", "weak"]


def test_features_on_missing_layout_fails_cleanly(tmp_path, capsys):
    out = tmp_path / "feats.npz"
    assert main(["features", str(tmp_path), "--out", str(out)]) == 1
    assert "metadata" in capsys.readouterr().err
    assert not out.exists()
