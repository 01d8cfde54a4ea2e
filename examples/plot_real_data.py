r"""
Running on a DCASE 2018 Task 4 copy
===================================

The real data set (1,578 weakly labelled, 14,412 unlabelled in-domain clips, plus the
strongly labelled test and eval sets) is laid out as the challenge baseline
distributes it::

    DCASE2018-task4/dataset/metadata/train/weak.csv
    DCASE2018-task4/dataset/metadata/train/unlabel_in_domain.csv
    DCASE2018-task4/dataset/metadata/test/test.csv
    DCASE2018-task4/dataset/metadata/eval/eval.csv
    DCASE2018-task4/dataset/audio/{train/weak,train/unlabel_in_domain,test,eval}/

Set ``SKTRIPLET_DCASE_ROOT`` to such a folder to run this example on it. Without
it, the example writes the embedded soundscapes in the very same layout and runs on
those, so every step below is the one the real data goes through.
"""

# %%
import os
import tempfile
import time

import numpy as np

from sktriplet import LogMelExtractor
from sktriplet.datasets import load_dcase2018_task4, make_domestic_soundscapes
from sktriplet.experiments import reproduce

SIZES = {"n_labeled": 12, "n_unlabeled": 36, "n_test": 8, "n_eval": 8}
# sphinx_gallery_start_ignore
if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    SIZES = {"n_labeled": 6, "n_unlabeled": 4, "n_test": 2, "n_eval": 2}
# sphinx_gallery_end_ignore

workdir = tempfile.mkdtemp()
root = os.environ.get("SKTRIPLET_DCASE_ROOT")
if root is None:
    root = make_domestic_soundscapes(os.path.join(workdir, "dcase"), **SIZES)

# %%
# Loading the clip list and tags
# ------------------------------
# Real downloads miss some clips (YouTube removals): ``on_missing="skip"`` loads the
# others and warns with the count.
data = load_dcase2018_task4(root, on_missing="skip")
for subset in ("weak", "unlabel_in_domain", "test", "eval"):
    print(f"{subset:>18}: {(data.subset == subset).sum()} clips")
labeled = (data.y >= 0).all(axis=1)
print("labelled clips per class:", dict(zip(data.classes, data.y[labeled].sum(0))))

# %%
# Features, computed once
# -----------------------
# With ``memory`` the features are cached on disk, keyed by file path, size and
# modification time: a second extraction (or every fit of a grid search starting
# with this extractor) reads them back.
extractor = LogMelExtractor(n_jobs=2, memory=os.path.join(workdir, "cache"))
start = time.perf_counter()
X = extractor.fit_transform(data.filenames)
print(f"extracted {X.shape} in {time.perf_counter() - start:.1f} s")
start = time.perf_counter()
X = extractor.transform(data.filenames)
print(f"cached pass: {time.perf_counter() - start:.2f} s")

# %%
# The paper's experiments
# -----------------------
# ``sktriplet reproduce --data ROOT`` (or :func:`sktriplet.experiments.reproduce`)
# runs Tables 2 and 3. On the real data, use ``--scale 1`` for the paper's triplet
# counts and ``--frame-pool 1`` for its taggers (a GPU is advisable); here a
# smoke-sized Table 2 with two strategies.
tables = reproduce(
    root,
    os.path.join(workdir, "results"),
    tables="2",
    quick=True,
    strategies=("s1", "s2"),
    extras=False,
    tsne=False,
    batch_size=16,
    cache_dir=os.path.join(workdir, "cache"),
    verbose=0,
)
print(tables["table2.md"])
print(np.round(X.mean(), 1), "dB mean log-mel")
