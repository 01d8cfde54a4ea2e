import csv
import json

import numpy as np
import pytest

from sktriplet.cli import main
from sktriplet.experiments import (
    ExperimentData,
    ReproduceConfig,
    check_layout,
    mean_ci95,
    plan_cells,
    reproduce,
)
from sktriplet.experiments import _reproduce as reproduce_module
from sktriplet.experiments._paper import PAPER_TRIPLET_COUNTS
from sktriplet.experiments._report import table2_markdown, table3_markdown
from sktriplet.experiments._results import ResultsStore, check_config

TINY = {
    "tables": ("2", "3"),
    "triplet_counts": PAPER_TRIPLET_COUNTS,
    "strategies": ("s1", "s2"),
    "extras": False,
    "embedder_epochs": 1,
    "tagger_epochs": 1,
    "scale": 0.0005,
    "labeled_shares": (1.0, 0.75),
    "tsne": True,
    "batch_size": 8,
}


def test_plan_cells_tables_and_keys():
    cfg = ReproduceConfig(
        tables=("2", "3"),
        repeats=2,
        scale=0.01,
        triplet_counts=PAPER_TRIPLET_COUNTS,
        extras=True,
    )
    cells = plan_cells(cfg)
    t2 = [c for c in cells if c.table == "2"]
    t3 = [c for c in cells if c.table == "3"]
    # per repeat: 2 baselines + 5 strategies x 3 counts + the defaults' row and
    # 3 extras at the middle
    assert len(t2) == 2 * (2 + 15 + 1 + 3)
    assert {c.n_triplets for c in t2 if c.method == "s1"} == {316, 858, 1599}
    assert {c.n_triplets for c in t2 if c.method == "s2_joint"} == {858}
    assert {c.n_triplets for c in t2 if c.method == "s2_default"} == {858}
    assert {(c.repeat, c.seed) for c in t2} == {(0, 0), (1, 1)}
    assert len(t3) == 2 * 4 * 2
    assert {c.seed for c in t3} == {0, 1}
    # the default ("cpu" preset): Table 2, baselines, S1-S5 and the one-liner at
    # its defaults, at the embedder's default budget per epoch, 3 seeds
    default = plan_cells(ReproduceConfig())
    assert len(default) == 3 * (2 + 5 + 1)
    assert not any(
        c.method == "s2_default"
        for c in plan_cells(ReproduceConfig(strategies=("s1",)))
    )
    assert {c.n_triplets for c in default if c.method == "s2"} == {2048}
    keys = [c.key for c in cells]
    assert len(set(keys)) == len(keys)
    assert plan_cells(ReproduceConfig(tables=("3",), repeats=1))[0].table == "3"


def test_side_rows_run_side_repeats_and_the_cpu_preset_uses_one():
    cells = plan_cells(ReproduceConfig(repeats=3, side_repeats=1, extras=True))
    runs = {}
    for c in cells:
        runs.setdefault(c.method, set()).add(c.seed)
    headline = {"logmel", "crnn", "s2", "s2_default"}
    assert {m for m, seeds in runs.items() if seeds == {0, 1, 2}} == headline
    assert all(runs[m] == {0} for m in runs if m not in headline)
    side = {"s1", "s3", "s4", "s5", "s3_knn", "s3_farther", "s2_joint"}
    assert set(runs) - headline == side
    more = plan_cells(ReproduceConfig(repeats=1, side_repeats=2))
    assert {c.seed for c in more if c.method == "s1"} == {0, 1}
    assert {c.seed for c in more if c.method == "crnn"} == {0}
    assert reproduce_module.PRESETS["cpu"]["side_repeats"] == 1
    assert reproduce_module.PRESETS["cpu"]["strategies"] == ("s1", "s2", "s3")
    # the longest cells go first, so that no worker finishes alone
    ordered = [c.method for c in reproduce_module.longest_first(cells)]
    assert ordered[:3] == ["s2_default"] * 3
    assert ordered[-3:] == ["logmel"] * 3
    assert sorted(map(str, ordered)) == sorted(c.method for c in cells)


def test_paper_rows_keep_the_paper_method_and_the_default_row_the_defaults():
    from sktriplet import TripletEmbedder
    from sktriplet.experiments._runner import make_embedder

    cfg = ReproduceConfig()
    for method in ("s1", "s2", "s3", "s4", "s5", "s3_knn", "s2_joint"):
        params = make_embedder(method, 64, cfg, seed=0).get_params()
        assert params["loss"] == "triplet" and params["fine_tune"] is False
        assert params["module__dropout"] == 0.0 and params["band_gain"] == 0.0
    row = make_embedder("s2_default", 64, cfg, seed=0).get_params()
    defaults = TripletEmbedder().get_params()
    for name in ("loss", "fine_tune", "band_gain", "strategy", "max_epochs"):
        assert row[name] == defaults[name]
    assert "module__dropout" not in row


def test_mean_ci95():
    mean, ci = mean_ci95([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and ci == pytest.approx(2.4841, rel=1e-3)
    assert np.isnan(mean_ci95([4.0])[1])


def test_results_store_is_atomic_and_reloads(tmp_path):
    store = ResultsStore(tmp_path / "results.csv", ["a", "b"])
    store.add(
        {"key": "k1", "table": "2", "method": "s1", "macro_f1": 10.0, "f1_a": 1.0}
    )
    store.add({"key": "k2", "table": "2", "method": "s2", "macro_f1": 20.0})
    again = ResultsStore(tmp_path / "results.csv", ["a", "b"])
    assert "k1" in again and len(again) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]
    with pytest.raises(ValueError, match="Unknown result columns"):
        store.add({"key": "k3", "nope": 1})


def test_check_config_refuses_mixing(tmp_path):
    check_config(tmp_path, {"scale": 0.01}, force=False)
    (tmp_path / "results.csv").write_text("key\n")
    check_config(tmp_path, {"scale": 0.01}, force=False)  # same: fine
    with pytest.raises(ValueError, match="another configuration.*--force"):
        check_config(tmp_path, {"scale": 0.02}, force=False)
    check_config(tmp_path, {"scale": 0.02}, force=True)
    assert not (tmp_path / "results.csv").exists()
    assert json.loads((tmp_path / "config.json").read_text()) == {"scale": 0.02}


def test_check_layout_names_what_is_missing(dcase_root):
    assert check_layout(dcase_root).name == "dataset"
    (dcase_root / "dataset/metadata/test/test.csv").unlink()
    with pytest.raises(ValueError, match=r"not a DCASE 2018 Task 4 layout.*test\.csv"):
        check_layout(dcase_root)


def test_tables_markdown():
    rows = [
        {"table": "2", "method": "crnn", "n_triplets": "", "macro_f1": "40.5"},
        {"table": "2", "method": "s2", "n_triplets": "10", "macro_f1": "45.25"},
        {"table": "3", "method": "s2", "labeled_share": "0.5", "macro_f1": "30"},
        {"table": "3", "method": "s2", "labeled_share": "0.5", "macro_f1": "34"},
    ]
    t2 = table2_markdown(rows, (31560, 85780), (10, 20))
    assert "| CRNN baseline | 40.50 |" in t2 and "49.61" in t2
    assert "| S2 semi-supervised (transforms) |  | 45.25 |  | 54.57 (best) |" in t2
    t3 = table3_markdown(rows)
    assert "| 50 / 50 | 32.00 ± 25.41 (2) | – |" in t3


def test_reproduce_end_to_end_resumes_and_refuses_mixing(dcase_root, tmp_path):
    out = tmp_path / "out"
    written = reproduce(
        dcase_root, out, repeats=2, cache_dir=tmp_path / "cache", verbose=0, **TINY
    )
    assert set(written) == {"table2.md", "table3.md"}
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # the cpu preset's side rows run once: 2 x (2 baselines + S2 x 3 counts +
    # the defaults' row) + S1 x 3 counts; 2 strategies x 2 shares x 2
    assert len(rows) == 2 * 6 + 3 + 8
    assert {r["seed"] for r in rows if r["method"] == "s1"} == {"0"}
    assert sum(r["method"] == "s2_default" for r in rows) == 2
    assert {"macro_f1", "fit_seconds", "device", "f1_Speech"} <= set(rows[0])
    for name in (
        "table2.md",
        "table3.md",
        "f1_vs_triplets.png",
        "f1_vs_labeled_share.png",
        "tsne.png",
    ):
        assert (out / name).stat().st_size > 0
    assert sorted(p.name for p in (out / "embeddings").iterdir()) == [
        "s1.npz",
        "s2.npz",
    ]
    # a re-run finds every cell done and trains nothing
    calls = []
    real = reproduce_module.run_cell
    reproduce_module.run_cell = lambda *a: calls.append(a) or real(*a)
    try:
        reproduce(
            dcase_root, out, repeats=2, cache_dir=tmp_path / "cache", verbose=0, **TINY
        )
    finally:
        reproduce_module.run_cell = real
    assert calls == []
    with pytest.raises(ValueError, match="another configuration"):
        reproduce(
            dcase_root,
            out,
            cache_dir=tmp_path / "cache",
            verbose=0,
            **{**TINY, "tagger_epochs": 2},
        )


def test_interrupt_leaves_valid_results(dcase_root, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = reproduce_module.run_cell
    done = []

    def interrupted(cell, data, config):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(cell.key)
        return real(cell, data, config)

    monkeypatch.setattr(reproduce_module, "run_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(
            dcase_root,
            out,
            cache_dir=tmp_path / "cache",
            verbose=0,
            n_jobs=1,
            **{**TINY, "tables": "2"},
        )
    with open(out / "results.csv", newline="") as f:
        assert [r["key"] for r in csv.DictReader(f)] == done
    assert (out / "table2.md").exists()
    assert not list(out.glob(".*partial*"))


def test_reproduce_bad_arguments(dcase_root, tmp_path):
    with pytest.raises(ValueError, match="tables"):
        reproduce(dcase_root, tmp_path, tables=("4",))
    with pytest.raises(ValueError, match="scale"):
        reproduce(dcase_root, tmp_path, scale=0)
    with pytest.raises(ValueError, match="repeats"):
        reproduce(dcase_root, tmp_path, repeats=0)
    with pytest.raises(ValueError, match="side_repeats"):
        reproduce(dcase_root, tmp_path, side_repeats=0)
    with pytest.raises(TypeError, match="Unknown reproduce settings"):
        reproduce(dcase_root, tmp_path, cache_dir=tmp_path / "c", verbose=0, bogus=1)


def test_cli_reproduce_rejects_non_dcase_data(tmp_path, capsys):
    assert (
        main(["reproduce", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
        == 1
    )
    assert "not a DCASE 2018 Task 4 root" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_cli_reproduce_passes_strategies_and_side_repeats(tmp_path, monkeypatch):
    import sktriplet.experiments as experiments

    seen = {}
    monkeypatch.setattr(experiments, "reproduce", lambda *a, **k: seen.update(k))
    args = ["reproduce", "--out", str(tmp_path), "--strategies", "s2", "s4"]
    assert main(args + ["--side-repeats", "2"]) == 0
    assert seen["strategies"] == ("s2", "s4") and seen["side_repeats"] == 2
    assert main(["reproduce", "--out", str(tmp_path)]) == 0
    assert seen["strategies"] is None and seen["side_repeats"] is None


def test_experiment_data_rows():
    data = ExperimentData(
        X=np.zeros((3, 1, 1)),
        y=np.zeros((3, 2)),
        subset=np.array(["weak", "eval", "weak"]),
        classes=np.array(["a", "b"]),
        root=None,
    )
    np.testing.assert_array_equal(data.rows("weak"), [0, 2])
    assert data.describe() == {"eval": 1, "weak": 2}


@pytest.mark.parametrize("cls", ["SequenceTagger", "CRNNTagger"])
def test_best_epoch_on_held_out_scores_what_the_network_sees(cls):
    import sktriplet.tagging as tagging
    from sktriplet.experiments import BestEpochOnHeldOut
    from sktriplet.metrics import macro_f1_score

    rng = np.random.RandomState(0)
    # log-mel-like scale and 250 frames: the tagger pools and standardizes
    X = rng.normal(-40, 5, size=(60, 250, 8)).astype(np.float32)
    y = (X[:, :, :2].mean(axis=1) > -40).astype(int)
    X_test, y_test = X[40:], y[40:]
    kw = {"hidden_size": 4, "max_epochs": 6, "lr": 0.01, "device": "cpu"}
    if cls == "CRNNTagger":
        kw.update(n_filters=4, n_conv=1)
    seen = []

    class Recording(BestEpochOnHeldOut):
        def on_epoch_end(self, net, **kwargs):
            super().on_epoch_end(net, **kwargs)
            seen.append(self.inputs_)

    tagger = getattr(tagging, cls)(
        random_state=0, callbacks=[Recording(X_test, y_test)], **kw
    ).fit(X[:40], y[:40])
    # pooled to about 100 steps and standardized like the training clips
    assert seen[0].shape == (20, 125, 8)
    assert abs(float(seen[0].mean())) < 0.5 and 0.2 < float(seen[0].std()) < 2
    scores = tagger.history_[:, "heldout_f1"]
    # the restored epoch scores on test exactly what the callback measured
    assert macro_f1_score(y_test, tagger.predict(X_test)) == pytest.approx(max(scores))


def test_load_features_reads_a_features_file(tmp_path):
    from sklearn.utils import Bunch

    from sktriplet.cli import save_features
    from sktriplet.experiments import load_features

    rng = np.random.default_rng(0)
    subset = np.array(["weak", "weak", "unlabel_in_domain", "test", "eval"])
    y = np.array([[1, 0], [0, 1], [-1, -1], [1, 1], [0, 0]])
    meta = Bunch(y=y, classes=["a", "b"], filenames=list("vwxyz"), subset=subset)
    X = rng.normal(size=(5, 20, 4)).astype(np.float32)
    path = tmp_path / "f.npz"
    save_features(path, X=X, data=meta)
    assert check_layout(path) == path
    data = load_features(path, tmp_path / "cache", verbose=0)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert list(data.rows("weak", "unlabel_in_domain")) == [0, 1, 2]
    np.savez(tmp_path / "bad.npz", X=X)
    with pytest.raises(ValueError, match="lacks the array"):
        check_layout(tmp_path / "bad.npz")


def test_defaults_row_fine_tuning_keeps_its_best_epoch_on_test(monkeypatch):
    import pickle

    from sktriplet.experiments import _runner
    from sktriplet.experiments._runner import DEFAULT_METHOD, Cell, run_cell
    from sktriplet.experiments._selection import BestEpochOnHeldOut

    rng = np.random.default_rng(0)
    subset = np.array(
        ["weak"] * 8 + ["unlabel_in_domain"] * 8 + ["test"] * 4 + ["eval"] * 4
    )
    y = np.zeros((len(subset), 2), dtype=int)
    y[::2, 0] = 1
    y[1::2, 1] = 1
    y[subset == "unlabel_in_domain"] = -1
    X = rng.normal(-40, 5, size=(len(subset), 200, 64)).astype(np.float32)
    X[y[:, 0] == 1, :, :8] += 10.0
    data = ExperimentData(
        X=X, y=y, subset=subset, classes=np.array(["a", "b"]), root=None
    )
    config = ReproduceConfig(
        embedder_epochs=1, tagger_epochs=3, batch_size=8, device="cpu", n_jobs=1
    )
    scored = []

    class Recording(BestEpochOnHeldOut):
        def on_epoch_end(self, net, **kwargs):
            super().on_epoch_end(net, **kwargs)
            scored.append(self.inputs_)

    monkeypatch.setattr(_runner, "BestEpochOnHeldOut", Recording)
    row, embedder = run_cell(Cell("2", DEFAULT_METHOD, 64, None, 0, 0), data, config)
    history = embedder.fine_tune_history_
    assert len(history) == 3 and all("heldout_f1" in epoch for epoch in history)
    # 3 fine-tuning epochs, then 3 tagger epochs, each scored on test; the
    # fine-tuning read test as it reads its own clips (pooled by 10, standardized)
    assert len(scored) == 6
    expected = embedder._fine_tune_input(X[subset == "test"])
    assert scored[0].shape == (4, 20, 64)
    np.testing.assert_allclose(scored[0], expected)
    # the test clips are not kept with the fitted embedder, which pickles
    assert embedder.get_params()["fine_tune__callbacks"] is None
    pickle.loads(pickle.dumps(embedder))
    assert 0 <= row["macro_f1"] <= 100
