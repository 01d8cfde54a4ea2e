"""The tagging quality bar on the embedded data (benchmarks/bench_quality.py).

The full check fits the design card's pipeline (S1, S2, S3) and both baselines at
their defaults on the small embedded soundscapes (60 labelled + 540 unlabelled
clips), 3 seeds: about 25 minutes on 2 cores at the present defaults (the sum
of bench_quality's fit times, not timed as one run; 8.8 minutes measured at the
first defaults), so it only runs with ``SKTRIPLET_QUALITY_TESTS=1``. The
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
    results, chance, desc = bench.measure(["logmel", "s2"], args)
    assert set(results) == {"logmel", "s2"}
    for arm, res in results.items():
        assert len(res["f1"]) == 1 and 0.0 <= res["f1"][0] <= 1.0
        assert 0.0 <= res["auc"][0] <= 1.0
        assert res["seconds"][0] > 0
        assert 0.0 <= res["f1_thr"][0] <= 1.0
        assert 0.0 <= res["f1_test"][0] <= 1.0
    assert set(chance) == {"all-positive", "prior-random"}
    assert 0.0 < chance["prior-random"] < 1.0 and 0.0 < chance["all-positive"] < 1.0
    assert "16 labelled" in desc and "12 test clips" in desc
    table = bench.format_table(["logmel", "s2"], results, chance)
    assert table.splitlines()[1].startswith("logmel")
    assert "test F1" in table.splitlines()[0]


def test_quality_params_and_arms(bench):
    assert bench.parse_params(["lr=0.01", "loss=supcon", "labeled_ratio=None"]) == {
        "lr": 0.01,
        "loss": "supcon",
        "labeled_ratio": None,
    }
    args = bench.parse_args(["--emb-param", "weak_label_share=1.0"])
    pipe = bench.build("supcon:s2", args, seed=3)
    emb = pipe.named_steps["emb"]
    assert (emb.loss, emb.weak_label_share, emb.random_state) == ("supcon", 1.0, 3)
    assert type(bench.build("crnn", args, 0)).__name__ == "CRNNTagger"
    assert bench.build("triplet:s3", args, 0).named_steps["emb"].loss == "triplet"
    assert bench.build("s2", args, 0).named_steps["emb"].fine_tune == "auto"
    assert bench.build("frozen:s2", args, 0).named_steps["emb"].fine_tune is False
    finetune = bench.build("finetune:s2", args, 0)
    assert finetune.tagger.cnn_init is None and finetune.embedder.fine_tune is False
    with pytest.raises(SystemExit):
        bench.build("what:s2", args, 0)


QUALITY_TESTS = pytest.mark.skipif(
    os.environ.get("SKTRIPLET_QUALITY_TESTS") != "1",
    reason="about 25 min on 2 cores; run with SKTRIPLET_QUALITY_TESTS=1",
)


@pytest.fixture(scope="module")
def quality(bench):
    """Mean eval macro-F1 per arm, and the chance levels, of one 3-seed run."""
    args = bench.parse_args(["--seeds", "3"])
    results, chance, _ = bench.measure(["logmel", "crnn", "s1", "s2", "s3"], args)
    return {arm: float(np.mean(res["f1"])) for arm, res in results.items()}, chance


@pytest.mark.slow
@QUALITY_TESTS
def test_quality_bar_on_embedded_data(quality):
    """The design card's pipeline at its defaults, 3 seeds, on the small preset.

    Measured with bench_quality at the present defaults (user guide, "Band
    gains in the triplet stage" and "What to expect"): S2 0.654, CRNN 0.599,
    log-mel tagger 0.362. Asserted, as the method promises: S2 0.03 above the
    CRNN, 0.10 above the log-mel tagger, and well above chance.
    """
    mean, chance = quality
    assert mean["s2"] >= mean["crnn"] + 0.03, mean
    assert mean["s2"] >= mean["logmel"] + 0.10, mean
    assert mean["s2"] >= chance["all-positive"] + 0.25, (mean, chance)


@pytest.mark.slow
@QUALITY_TESTS
def test_s2_above_s1_and_s3_on_embedded_data(quality):
    """S2 above S1 and S3 at their defaults.

    Measured with bench_quality at the present defaults (user guide, "Where
    this leaves the method"): S2 0.654, S3 0.646, S1 0.611; before band gains
    S2 0.600, S3 0.593, S1 0.574.

    Close: S3 is 0.008 below S2, inside the seed spreads; with the former
    mean-teacher fine-tuning S2 was last.
    """
    mean, _ = quality
    assert mean["s2"] > mean["s1"], mean
    assert mean["s2"] > mean["s3"], mean
