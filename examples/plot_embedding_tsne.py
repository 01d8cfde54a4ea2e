r"""
A t-SNE map of learnt segment embeddings
========================================

The paper's Figure 2 shows how embeddings of 0.96 s segments group by class. Here a
:class:`~sktriplet.TripletEmbedder` trained with S2 embeds the segments of the
evaluation clips (one vector per segment with
:meth:`~sktriplet.TripletEmbedder.transform_segments`), and t-SNE maps them to 2-D
next to a map of the raw log-mel segments.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.manifold import TSNE

from sktriplet import TripletEmbedder, segment
from sktriplet.datasets import load_domestic_soundscapes

SIZES = {"n_labeled": 40, "n_unlabeled": 200, "n_test": 20, "n_eval": 40}
N_TRIPLETS, EMB_EPOCHS = 512, 2
# sphinx_gallery_start_ignore
import os  # noqa: E402

if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    SIZES = {"n_labeled": 8, "n_unlabeled": 8, "n_test": 4, "n_eval": 4}
    N_TRIPLETS, EMB_EPOCHS = 64, 1
# sphinx_gallery_end_ignore

data = load_domestic_soundscapes(**SIZES)
train = np.isin(data.subset, ["weak", "unlabel_in_domain"])
evaluation = np.flatnonzero(data.subset == "eval")

emb = TripletEmbedder(
    strategy="s2", n_triplets=N_TRIPLETS, max_epochs=EMB_EPOCHS, random_state=0
)
emb.fit(data.X[train], data.y[train])

# %%
# Segment embeddings and their labels
# -----------------------------------
# A segment inherits its clip's labels; only segments of single-label clips get a
# colour.
Z, clip, _ = emb.transform_segments(data.X[evaluation], return_index=True)
raw, _, _ = segment(data.X[evaluation])
y_seg = data.y[evaluation][clip]
single = y_seg.sum(axis=1) == 1
colour = np.where(single, y_seg.argmax(axis=1), -1)


def tsne(points):
    perplexity = float(min(30, max(2, (len(points) - 1) // 3)))
    return TSNE(perplexity=perplexity, init="pca", random_state=0).fit_transform(points)


fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, points, title in (
    (axes[0], raw.reshape(len(raw), -1), "log-mel segments"),
    (axes[1], Z, "S2 embeddings"),
):
    xy = tsne(points)
    ax.scatter(*xy[colour < 0].T, s=4, c="lightgray")
    for c in np.unique(colour[colour >= 0]):
        ax.scatter(*xy[colour == c].T, s=6, label=data.classes[c])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
axes[1].legend(fontsize=6, markerscale=2, loc="best")
fig.tight_layout()
plt.show()
