r"""
Model selection on a Dask cluster
=================================

A :class:`~sklearn.model_selection.GridSearchCV` over the design card's pipeline
runs on a Dask cluster through joblib's backend, with the same results as on one
process. Set ``SCHEDULER`` to your scheduler's address (``tcp://host:8786``); left
at ``None``, this example starts a two-worker cluster on this machine.

Each worker is given one thread, and torch is told so (``client.run``): torch
would otherwise start one thread per core in every worker.
"""

# %%
import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sktriplet import (
    LabeledKFold,
    SequenceTagger,
    TripletEmbedder,
    macro_f1_scorer,
)
from sktriplet.datasets import load_domestic_soundscapes

SCHEDULER = None  # e.g. "tcp://scheduler:8786"
SIZES = {"n_labeled": 40, "n_unlabeled": 120, "n_test": 4, "n_eval": 4}
EPOCHS = 10
# sphinx_gallery_start_ignore
import os  # noqa: E402

if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    SIZES = {"n_labeled": 8, "n_unlabeled": 8, "n_test": 4, "n_eval": 4}
    EPOCHS = 1
# sphinx_gallery_end_ignore


def make_search():
    pipe = Pipeline(
        [
            (
                "emb",
                TripletEmbedder(
                    max_epochs=EPOCHS,
                    batch_size=32,
                    fine_tune__max_epochs=EPOCHS,
                    random_state=0,
                ),
            ),
            ("clf", SequenceTagger(random_state=0)),
        ]
    )
    return GridSearchCV(
        pipe,
        {"emb__labeled_ratio": [0.25, 0.5]},
        cv=LabeledKFold(n_splits=2, shuffle=True, random_state=0),
        scoring=macro_f1_scorer,
    )


def one_torch_thread():
    import torch

    torch.set_num_threads(1)


# %%
# Run the search on the cluster
# -----------------------------
# The local cluster's workers are new processes that import this script again:
# the work sits under ``if __name__ == "__main__"``, as multiprocessing requires
# (with a remote scheduler it is not needed).
def run_on_cluster(search, X, y, scheduler=None):
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    with Client(scheduler or cluster) as client:
        client.run(one_torch_thread)
        with joblib.parallel_config(backend="dask"):
            search.fit(X, y)
    if cluster is not None:
        cluster.close()
    return search


if __name__ == "__main__":
    data = load_domestic_soundscapes(**SIZES)
    train = np.isin(data.subset, ["weak", "unlabel_in_domain"])
    search = run_on_cluster(make_search(), data.X[train], data.y[train], SCHEDULER)
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"]
    ):
        print(f"{params}: macro-F1 {score:.3f}")
    print("best:", search.best_params_)
