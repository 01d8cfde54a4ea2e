r"""
Training on a folder of your own sounds
=======================================

The usual home-made data set is a folder with one sub-folder of recordings per
class, plus recordings nobody has labelled yet::

    my_sounds/
        Cat/*.wav   Dog/*.wav   Speech/*.wav   ...
        unlabeled/*.wav

:func:`~sktriplet.datasets.load_audio_folder` reads that layout (files of any
length, sample rate and format libsndfile reads) and
:func:`~sktriplet.models.train_audio_model` trains the embedder on every file and a
tagger on the labelled ones. The result is one
:class:`~sktriplet.models.AudioModel` file, the same as ``sktriplet fit my_sounds/
--out model.skt`` writes. Here :func:`~sktriplet.datasets.make_sound_folder` writes
such a folder of synthetic sounds; point ``ROOT`` at your own instead.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sktriplet.datasets import load_audio_folder, make_sound_folder
from sktriplet.models import AudioModel, train_audio_model

N_PER_CLASS, N_UNLABELED, EPOCHS = 16, 40, 30
# sphinx_gallery_start_ignore
import os  # noqa: E402

if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    N_PER_CLASS, N_UNLABELED, EPOCHS = 3, 4, 1
# sphinx_gallery_end_ignore

ROOT = make_sound_folder(
    "my_sounds", n_per_class=N_PER_CLASS, n_unlabeled=N_UNLABELED, overwrite=True
)
data = load_audio_folder(ROOT)
print(f"{len(data.filenames)} files, classes {', '.join(data.classes)}")

# %%
# Keep two files per class aside to try the model on
# ---------------------------------------------------
# Their labels are hidden from training (rows of ``-1``, sktriplet's convention for
# unlabelled clips), so the embedder still learns from their sound.
rng = np.random.default_rng(0)
labelled = np.flatnonzero(data.subset == "labeled")
held_out = np.concatenate(
    [
        rng.choice(labelled[data.target[labelled] == c], 2, replace=False)
        for c in range(len(data.classes))
    ]
)
y_train = data.y.copy()
y_train[held_out] = -1
model = train_audio_model(
    data.filenames,
    y_train,
    list(data.classes),
    embedder_params={"max_epochs": EPOCHS, "batch_size": 32},
    random_state=0,
)
model.save("my_model.skt")

# %%
# Tag the files kept aside
# ------------------------
# ``AudioModel.load("my_model.skt")`` gives the model back in another session.
model = AudioModel.load("my_model.skt")
proba = np.stack(
    [model.tag_proba(model.embed_file(f)[1]) for f in data.filenames[held_out]]
)
fig, ax = plt.subplots(figsize=(6, 3.5))
im = ax.imshow(proba, vmin=0, vmax=1, cmap="viridis")
ax.set_xticks(range(len(model.classes)), model.classes, rotation=30, ha="right")
ax.set_yticks(range(len(held_out)), [data.classes[t] for t in data.target[held_out]])
ax.set_ylabel("true class")
ax.set_title("Tag probabilities of files kept aside")
fig.colorbar(im, ax=ax)
fig.tight_layout()
plt.show()
