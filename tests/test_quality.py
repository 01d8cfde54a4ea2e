"""The tagging quality bar on the embedded data (benchmarks/bench_quality.py).

The full check trains two triplet embedders and three taggers per seed on the
default embedded soundscapes (60 labelled + 540 unlabelled clips), 3 seeds: about
20 minutes on 2 cores, so it only runs with ``SKTRIPLET_QUALITY_TESTS=1``. The
small smoke test runs the same code on tiny sizes in the default suite.
"""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_quality.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    if not os.environ.get("SKTRIPLET_DATA"):
        monkeypatch.setenv("SKTRIPLET_DATA", str(tmp_path))


def test_quality_measure_smoke(bench, data_home):
    args = bench.parse_args(["--quick", "--seeds", "1", "--jobs", "1"])
    scores, seconds, chance = bench.measure(["logmel", "s2"], args)
    assert set(scores) == {"logmel", "s2"}
    for arm in scores:
        assert len(scores[arm]) == 1 and 0.0 <= scores[arm][0] <= 1.0
        assert seconds[arm][0] > 0
    assert set(chance) == {"all-positive", "prior-random"}
    assert 0.0 < chance["prior-random"] < 1.0 and 0.0 < chance["all-positive"] < 1.0


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("SKTRIPLET_QUALITY_TESTS") != "1",
    reason="about 20 min on 2 cores; run with SKTRIPLET_QUALITY_TESTS=1",
)
def test_quality_bar_on_embedded_data(bench):
    """S2 pipeline > log-mel tagger; supervised pipeline far above chance."""
    args = bench.parse_args(["--seeds", "3"])
    scores, _, chance = bench.measure(["logmel", "s2", "s5"], args)
    mean = {arm: float(np.mean(s)) for arm, s in scores.items()}
    assert mean["s2"] > mean["logmel"], mean
    assert mean["s5"] > mean["logmel"], mean
    # "a wide margin": 0.08 above tagging everything, twice random guessing
    assert mean["s5"] >= chance["all-positive"] + 0.08, (mean, chance)
    assert mean["s5"] >= 2 * chance["prior-random"], (mean, chance)
