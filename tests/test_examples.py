"""Every gallery example runs, in a smoke mode with tiny sizes."""

import os
import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def test_gallery_has_the_documented_examples():
    names = {p.stem for p in EXAMPLES}
    assert {
        "plot_quickstart",
        "plot_sampling_strategies",
        "plot_label_ratio_search",
        "plot_embedding_tsne",
        "plot_custom_sampler",
        "plot_real_data",
        "plot_own_sounds",
        "plot_cli_embed",
        "plot_similarity_search",
    } <= names


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("SKTRIPLET_EXAMPLES_SMOKE", "1")
    monkeypatch.setenv("SKTRIPLET_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("SKTRIPLET_DCASE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(path), run_name="__main__")
    assert os.environ["SKTRIPLET_EXAMPLES_SMOKE"] == "1"
