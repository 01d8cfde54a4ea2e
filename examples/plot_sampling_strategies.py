r"""
The paper's five sampling strategies side by side
=================================================

Turpault et al. compare five ways of choosing each triplet's positive and negative
(their Table 1):

* **S1** (unsupervised): positive = a transformed anchor, negative mined semi-hard;
* **S2** (semi-supervised): labelled anchors use labels, unlabelled ones S1;
* **S3** (semi-supervised): labelled anchors use labels, unlabelled ones take the
  nearest other segment in input space as positive;
* **S4**: positive shares a label, negative semi-hard (labelled anchors only);
* **S5** (supervised): positive shares a label, negative shares none.

This example draws one epoch of triplets with each, then trains an embedder per
strategy and compares the downstream tagging macro-F1.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sktriplet import SequenceTagger, TripletEmbedder, get_sampler, segment
from sktriplet.datasets import load_domestic_soundscapes
from sktriplet.metrics import macro_f1_score

SIZES = {"n_labeled": 40, "n_unlabeled": 200, "n_test": 20, "n_eval": 40}
N_TRIPLETS, EMB_EPOCHS, TAG_EPOCHS = 256, 2, 15
# sphinx_gallery_start_ignore
import os  # noqa: E402

if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    SIZES = {"n_labeled": 8, "n_unlabeled": 8, "n_test": 4, "n_eval": 4}
    N_TRIPLETS, EMB_EPOCHS, TAG_EPOCHS = 64, 1, 2
# sphinx_gallery_end_ignore

data = load_domestic_soundscapes(**SIZES)
train = np.flatnonzero(np.isin(data.subset, ["weak", "unlabel_in_domain"]))
evaluation = data.subset == "eval"

# %%
# What each strategy draws
# ------------------------
# Samplers work on segments (0.96 s, 96 frames) that inherit their clip's labels,
# and return index arrays and recipes rather than tensors. ``negative == -1`` marks
# a negative left to semi-hard mining inside the training batch; ``transform >= 0``
# a positive generated from the anchor.
segments, clip_index, start_time = segment(data.X[train])
y_segments = data.y[train][clip_index]
rows = []
for name in ("s1", "s2", "s3", "s4", "s5"):
    sampler = get_sampler(name).fit(
        segments, y_segments, clip_index=clip_index, start_time=start_time
    )
    t = sampler.sample(1000, random_state=0)
    rows.append(
        (name, t.labeled.mean(), (t.transform >= 0).mean(), (t.negative == -1).mean())
    )
print(f"{'':4} {'labelled':>9} {'generated':>10} {'mined':>6}")
for name, lab, gen, mined in rows:
    print(f"{name:4} {lab:9.2f} {gen:10.2f} {mined:6.2f}")

# %%
# Downstream tagging with each strategy
# -------------------------------------
scores = {}
for name in ("s1", "s2", "s3", "s4", "s5"):
    # fine_tune=False: each strategy's own embeddings, as in the paper's Table 2
    # (by default the embedder fine-tunes its CNN on the labels afterwards).
    emb = TripletEmbedder(
        strategy=name,
        n_triplets=N_TRIPLETS,
        max_epochs=EMB_EPOCHS,
        fine_tune=False,
        random_state=0,
    )
    emb.fit(data.X[train], data.y[train])
    labeled = train[(data.y[train] >= 0).all(axis=1)]
    tagger = SequenceTagger(max_epochs=TAG_EPOCHS, random_state=0)
    tagger.fit(emb.transform(data.X[labeled]), data.y[labeled])
    pred = tagger.predict(emb.transform(data.X[evaluation]))
    scores[name] = macro_f1_score(data.y[evaluation], pred)
    print(f"{name}: macro-F1 {scores[name]:.3f}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([s.upper() for s in scores], list(scores.values()))
ax.set_ylabel("macro-F1 on eval")
ax.set_title("Downstream tagging by sampling strategy")
fig.tight_layout()
plt.show()
