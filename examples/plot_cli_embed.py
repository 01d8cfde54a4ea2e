r"""
Embedding a folder from the command line
========================================

``sktriplet embed`` turns audio files into time-stamped embeddings without any
Python: it searches folders recursively, reads every format libsndfile reads at any
length and sample rate, and writes one ``.npz`` (or ``.parquet``) file::

    sktriplet fit my_sounds/ --out model.skt
    sktriplet embed model.skt recordings/ --out emb.npz --scene

This example runs the same two commands through :func:`sktriplet.cli.main` (the
function behind the ``sktriplet`` program) and looks at what ``emb.npz`` holds.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from sktriplet.cli import main
from sktriplet.datasets import make_sound_folder

N_PER_CLASS, N_UNLABELED, EPOCHS = 12, 24, 30
# sphinx_gallery_start_ignore
if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    N_PER_CLASS, N_UNLABELED, EPOCHS = 3, 4, 1
# sphinx_gallery_end_ignore

make_sound_folder(
    "my_sounds", n_per_class=N_PER_CLASS, n_unlabeled=N_UNLABELED, overwrite=True
)
main(
    [
        "fit",
        "my_sounds",
        "--out",
        "model.skt",
        "--max-epochs",
        str(EPOCHS),
        "--batch-size",
        "32",
        "--overwrite",
    ]
)
main(["embed", "model.skt", "my_sounds", "--out", "emb.npz", "--scene"])

# %%
# What ``emb.npz`` holds
# ----------------------
# One row per time step of every file: the file (``file_index`` into
# ``filenames``), the centre of the step in seconds (``times``) and its embedding;
# ``scene`` has one row per file (mean and maximum over time).
z = np.load("emb.npz")
for name in z.files:
    print(f"{name:12s} {z[name].shape}")

# %%
# The embedding of one file over time
# -----------------------------------
rows = z["file_index"] == 0
fig, ax = plt.subplots(figsize=(6, 3))
ax.imshow(
    z["embeddings"][rows].T,
    aspect="auto",
    origin="lower",
    extent=[
        z["times"][rows][0] - 0.05,
        z["times"][rows][-1] + 0.05,
        0,
        z["embeddings"].shape[1],
    ],
)
ax.set_xlabel("time (s)")
ax.set_ylabel("embedding dimension")
ax.set_title(os.path.basename(str(z["filenames"][0])))
fig.tight_layout()
plt.show()
