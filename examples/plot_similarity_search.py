r"""
Which clips sound like this one?
================================

:class:`~sktriplet.neighbors.EmbeddingIndex` indexes embeddings (exact search for
small collections, an HNSW graph from hnswlib for large ones) and returns the
nearest ones with their file names. Here each file of a folder gets one clip
embedding (:meth:`~sktriplet.models.AudioModel.scene_embedding`: the mean and
maximum of its embedding sequence) and we look at the spectrograms of a query and
of its nearest neighbours. From the command line::

    sktriplet search model.skt my_sounds/ query.wav -k 10
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from sktriplet.datasets import load_audio_folder, make_sound_folder
from sktriplet.models import train_audio_model
from sktriplet.neighbors import EmbeddingIndex

N_PER_CLASS, N_UNLABELED, EPOCHS = 12, 24, 30
# sphinx_gallery_start_ignore
if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    N_PER_CLASS, N_UNLABELED, EPOCHS = 3, 4, 1
# sphinx_gallery_end_ignore

data = load_audio_folder(
    make_sound_folder(
        "my_sounds", n_per_class=N_PER_CLASS, n_unlabeled=N_UNLABELED, overwrite=True
    )
)
model = train_audio_model(
    data.filenames,
    data.y,
    list(data.classes),
    embedder_params={"max_epochs": EPOCHS, "batch_size": 32},
    random_state=0,
)

# %%
# Index one embedding per file
# ----------------------------
scenes = np.stack(
    [model.scene_embedding(model.embed_file(f)[1]) for f in data.filenames]
)
index = EmbeddingIndex(metric="cosine").fit(scenes, filenames=data.filenames)
query = int(np.flatnonzero(data.subset == "labeled")[0])
distances, neighbours = index.kneighbors(scenes[[query]], n_neighbors=4)
for d, i in zip(distances[0], neighbours[0]):
    print(f"{d:.3f}  {os.path.relpath(data.filenames[i])}")

# %%
# The query (left) and its three nearest files
# --------------------------------------------
# The first neighbour is the query itself, at distance 0.
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), sharey=True)
for ax, d, i in zip(axes, distances[0], neighbours[0]):
    X = model.extractor.transform([data.filenames[i]])[0]
    ax.imshow(X.T, aspect="auto", origin="lower", cmap="magma")
    folder = os.path.basename(os.path.dirname(data.filenames[i]))
    ax.set_title(f"{folder}\ndistance {d:.3f}", fontsize=9)
    ax.set_xlabel("frame")
axes[0].set_ylabel("mel band")
fig.tight_layout()
plt.show()
