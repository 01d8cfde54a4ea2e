"""Tables (Markdown, laid out like the paper's) and plots of ``results.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..utils._files import atomic_write_text
from ._paper import METHOD_TITLES, PAPER_BEST, PAPER_F1


def read_results(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def mean_ci95(values) -> tuple[float, float]:
    """Mean and half-width of the 95 % Student-t confidence interval."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    sem = values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * sem)


def _fmt(value) -> str:
    return "–" if value is None or value == "" else f"{float(value):.2f}"


def _mean_sd(rows) -> str:
    """``"mean ± sd (runs)"`` of the rows' macro-F1, or the value of a single run."""
    if not rows:
        return ""
    values = np.array([float(r["macro_f1"]) for r in rows])
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} ({len(values)})"


def table2_markdown(rows, paper_counts, our_counts) -> str:
    """Table 2: macro-F1 (%) per method and triplet count, the paper's beside ours.

    With several runs (seeds) per cell, a cell shows mean ± standard deviation
    and the number of runs.
    """
    t2 = [r for r in rows if r["table"] == "2"]
    if not t2:
        return ""
    by: dict = {}
    for r in t2:
        by.setdefault((r["method"], r["n_triplets"]), []).append(r)
    head = " | ".join(
        f"{p:,} → {o:,} triplets" for p, o in zip(paper_counts, our_counts)
    )
    lines = [
        "## Table 2: macro-F1 (%) on eval",
        "",
        f"| Method | No triplets | {head} | Paper |",
        "|---" * (len(our_counts) + 3) + "|",
    ]
    blank = ["" for _ in our_counts]
    for method in ("logmel", "crnn"):
        if (method, "") not in by:
            continue
        cells = [_mean_sd(by[(method, "")]), *blank]
        paper = _fmt(PAPER_F1.get((method, None)))
        lines.append(f"| {METHOD_TITLES[method]} | {' | '.join(cells)} | {paper} |")
    for method in (m for m in METHOD_TITLES if m not in ("logmel", "crnn")):
        cells = [_mean_sd(by.get((method, str(n)), [])) for n in our_counts]
        if not any(cells):
            continue
        note = f"{_fmt(PAPER_BEST[1])} (best)" if method == PAPER_BEST[0] else "–"
        lines.append(f"| {METHOD_TITLES[method]} |  | {' | '.join(cells)} | {note} |")
    lines += [
        "",
        "Triplets per epoch are the paper's scaled by `--scale`; each embedder "
        "trains for its `max_epochs`. Cells with several runs give mean ± standard "
        "deviation over seeds (runs). The paper's column gives the figures its text "
        "states (CRNN baseline 49.61, classifier on log-mel 35.29, best strategy S2 "
        "54.57) on DCASE 2018 Task 4; ours are on the data named in `config.json`.",
    ]
    return "\n".join(lines) + "\n"


def table3_markdown(rows) -> str:
    """Table 3: S2/S3 macro-F1 (%) per labelled share, mean ± 95 % CI."""
    t3 = [r for r in rows if r["table"] == "3"]
    if not t3:
        return ""
    shares = sorted({float(r["labeled_share"]) for r in t3}, reverse=True)
    methods = [m for m in ("s2", "s3") if any(r["method"] == m for r in t3)]
    lines = [
        "## Table 3: macro-F1 (%) on eval by labelled / unlabelled split, "
        "mean ± 95 % CI",
        "",
        "| Labelled / unlabelled | "
        + " | ".join(f"{m.upper()} (runs)" for m in methods)
        + " | Paper |",
        "|---" * (len(methods) + 2) + "|",
    ]
    for share in shares:
        cells = []
        for m in methods:
            vals = [
                float(r["macro_f1"])
                for r in t3
                if r["method"] == m and float(r["labeled_share"]) == share
            ]
            if not vals:
                cells.append("")
                continue
            mean, ci = mean_ci95(vals)
            ci_text = "" if np.isnan(ci) else f" ± {ci:.2f}"
            cells.append(f"{mean:.2f}{ci_text} ({len(vals)})")
        split = f"{100 * share:g} / {100 * (1 - share):g}"
        lines.append(f"| {split} | {' | '.join(cells)} | – |")
    lines += [
        "",
        "Each split keeps the labels of that share of the weakly labelled training "
        "clips and treats the rest as unlabelled. The paper plots these results "
        "without stating the figures in its text, hence no paper column values.",
    ]
    return "\n".join(lines) + "\n"


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path, dpi) -> Path:
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


def plot_f1_vs_triplets(rows, path) -> Path | None:
    plt = _pyplot()

    t2 = [r for r in rows if r["table"] == "2"]
    if not t2:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in (m for m in METHOD_TITLES if m not in ("logmel", "crnn")):
        runs: dict = {}
        for r in t2:
            if r["method"] == method:
                runs.setdefault(int(r["n_triplets"]), []).append(float(r["macro_f1"]))
        if runs:
            x = sorted(runs)
            ax.plot(x, [np.mean(runs[n]) for n in x], marker="o", label=method.upper())
    for method, style in (("crnn", "--"), ("logmel", ":")):
        vals = [float(r["macro_f1"]) for r in t2 if r["method"] == method]
        if vals:
            ax.axhline(
                np.mean(vals),
                color="gray",
                linestyle=style,
                label=METHOD_TITLES[method],
            )
    ax.set_xscale("log")
    ax.set_xlabel("triplets per epoch")
    ax.set_ylabel("macro-F1 on eval (%)")
    ax.set_title("Macro-F1 versus number of triplets (mean over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(plt, fig, path, dpi=120)


def plot_f1_vs_share(rows, path) -> Path | None:
    plt = _pyplot()

    t3 = [r for r in rows if r["table"] == "3"]
    if not t3:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in ("s2", "s3"):
        shares = sorted(
            {float(r["labeled_share"]) for r in t3 if r["method"] == method}
        )
        if not shares:
            continue
        stats = [
            mean_ci95(
                [
                    float(r["macro_f1"])
                    for r in t3
                    if r["method"] == method and float(r["labeled_share"]) == s
                ]
            )
            for s in shares
        ]
        mean = np.array([m for m, _ in stats])
        ci = np.nan_to_num(np.array([c for _, c in stats]))
        x = 100 * np.array(shares)
        ax.plot(x, mean, marker="o", label=method.upper())
        ax.fill_between(x, mean - ci, mean + ci, alpha=0.2)
    ax.set_xlabel("labelled share of the training clips (%)")
    ax.set_ylabel("macro-F1 on eval (%)")
    ax.set_title("Macro-F1 versus labelled share (95 % CI)")
    ax.legend()
    fig.tight_layout()
    return _save(plt, fig, path, dpi=120)


def plot_tsne(embedding_files, classes, path, random_state=0) -> Path | None:
    """t-SNE maps of segment embeddings, one panel per method (the paper's Fig. 2).

    Segments are coloured by their clip's class when the clip has exactly one;
    segments of multi-label clips are drawn in light grey.
    """
    plt = _pyplot()
    from sklearn.manifold import TSNE

    files = [Path(f) for f in embedding_files]
    if not files:
        return None
    cols = min(len(files), 3)
    rows_n = int(np.ceil(len(files) / cols))
    fig, axes = plt.subplots(
        rows_n, cols, figsize=(4 * cols, 4 * rows_n), squeeze=False
    )
    # Own data may have more than DCASE's 10 classes: 20 colours before repeating.
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for ax, f in zip(axes.ravel(), files):
        with np.load(f) as d:
            Z, y = d["Z"], d["y"]
        perplexity = float(min(30, max(5, (len(Z) - 1) // 3)))
        xy = TSNE(
            perplexity=perplexity, init="pca", random_state=random_state
        ).fit_transform(Z)
        single = y.sum(axis=1) == 1
        ax.scatter(*xy[~single].T, s=3, c="lightgray")
        for c in range(y.shape[1]):
            sel = single & (y[:, c] == 1)
            ax.scatter(*xy[sel].T, s=4, color=cmap(c % cmap.N), label=classes[c])
        ax.set_title(f.stem.upper())
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(files) :]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=7, markerscale=3)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(plt, fig, path, dpi=110)


def write_report(out_dir: Path, paper_counts, our_counts, classes) -> dict:
    """Write ``table2.md``, ``table3.md`` and the PNG plots from ``results.csv``."""
    out_dir = Path(out_dir)
    rows = read_results(out_dir / "results.csv")
    written = {}
    for name, text in (
        ("table2.md", table2_markdown(rows, paper_counts, our_counts)),
        ("table3.md", table3_markdown(rows)),
    ):
        if text:
            atomic_write_text(out_dir / name, text)
            written[name] = text
    plot_f1_vs_triplets(rows, out_dir / "f1_vs_triplets.png")
    plot_f1_vs_share(rows, out_dir / "f1_vs_labeled_share.png")
    emb = sorted((out_dir / "embeddings").glob("*.npz"))
    plot_tsne(emb, list(classes), out_dir / "tsne.png")
    return written
