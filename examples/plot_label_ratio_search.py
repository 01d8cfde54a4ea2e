r"""
Model selection over label ratios with GridSearchCV
===================================================

:class:`~sktriplet.model_selection.LabeledKFold` splits only the *labelled* clips
into folds and keeps every unlabelled clip in every training fold, and
:data:`~sktriplet.metrics.macro_f1_scorer` scores the labelled clips of each test
fold. Together they let :class:`~sklearn.model_selection.GridSearchCV` tune a
semi-supervised pipeline, here over the share of triplets whose anchor is labelled
(``emb__labeled_ratio``) and the strategy.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sktriplet import (
    LabeledKFold,
    SequenceTagger,
    TripletEmbedder,
    macro_f1_scorer,
)
from sktriplet.datasets import load_domestic_soundscapes

SIZES = {"n_labeled": 30, "n_unlabeled": 60, "n_test": 10, "n_eval": 10}
N_TRIPLETS, TAG_EPOCHS, RATIOS = 96, 10, [0.25, 0.75]
# sphinx_gallery_start_ignore
import os  # noqa: E402

if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    SIZES = {"n_labeled": 9, "n_unlabeled": 6, "n_test": 2, "n_eval": 2}
    N_TRIPLETS, TAG_EPOCHS, RATIOS = 32, 1, [0.5, 0.75]
# sphinx_gallery_end_ignore

data = load_domestic_soundscapes(**SIZES)
train = np.isin(data.subset, ["weak", "unlabel_in_domain"])
X, y = data.X[train], data.y[train]

pipe = Pipeline(
    [
        (
            "emb",
            TripletEmbedder(
                n_triplets=N_TRIPLETS,
                max_epochs=1,
                batch_size=32,
                fine_tune__max_epochs=TAG_EPOCHS,  # a gallery-sized budget
                random_state=0,
            ),
        ),
        ("clf", SequenceTagger(max_epochs=TAG_EPOCHS, random_state=0)),
    ]
)

# %%
# The search
# ----------
# S1 ignores labels, so it takes no labelled ratio: two grids.
grid = [
    {"emb__strategy": ["s2", "s3"], "emb__labeled_ratio": RATIOS},
    {"emb__strategy": ["s1"]},
]
search = GridSearchCV(pipe, grid, scoring=macro_f1_scorer, cv=LabeledKFold(2), n_jobs=2)
search.fit(X, y)
print("best:", search.best_params_, f"macro-F1 {search.best_score_:.3f}")

# %%
# Cross-validated macro-F1 by labelled ratio
# ------------------------------------------
res = search.cv_results_
fig, ax = plt.subplots(figsize=(5, 3))
for strategy in ("s2", "s3"):
    sel = [i for i, p in enumerate(res["params"]) if p["emb__strategy"] == strategy]
    ratios = [res["params"][i]["emb__labeled_ratio"] for i in sel]
    ax.errorbar(
        ratios,
        res["mean_test_score"][sel],
        yerr=res["std_test_score"][sel],
        marker="o",
        capsize=3,
        label=strategy.upper(),
    )
s1 = [i for i, p in enumerate(res["params"]) if p["emb__strategy"] == "s1"][0]
ax.axhline(res["mean_test_score"][s1], color="gray", linestyle="--", label="S1")
ax.set_xlabel("share of triplets with a labelled anchor")
ax.set_ylabel("CV macro-F1")
ax.legend()
fig.tight_layout()
plt.show()
