r"""
A custom triplet sampler
========================

Strategies are :class:`~sktriplet.TripletSampler` objects. There are two ways to
make a new one:

* **compose** existing positive and negative rules with
  :class:`~sktriplet.RuleSampler`, one pair for labelled anchors and one for
  unlabelled anchors, without writing a class;
* **subclass** :class:`~sktriplet.TripletSampler` and implement ``_sample``, which
  receives the anchors of an epoch and returns a :class:`~sktriplet.sampling.Triplets`
  of indices and recipes.

Either plugs into :class:`~sktriplet.TripletEmbedder` as ``strategy``.
"""

# %%
import numpy as np

from sktriplet import (
    GaussianNoise,
    LabelNegative,
    LabelPositive,
    RuleSampler,
    SemiHardNegative,
    TimeFrequencyShift,
    TransformPositive,
    TripletEmbedder,
    TripletSampler,
)
from sktriplet.datasets import load_domestic_soundscapes
from sktriplet.sampling import Triplets

SIZES = {"n_labeled": 40, "n_unlabeled": 200, "n_test": 20, "n_eval": 40}
N_TRIPLETS = 256
# sphinx_gallery_start_ignore
import os  # noqa: E402

if os.environ.get("SKTRIPLET_EXAMPLES_SMOKE") == "1":
    SIZES = {"n_labeled": 8, "n_unlabeled": 8, "n_test": 4, "n_eval": 4}
    N_TRIPLETS = 64
# sphinx_gallery_end_ignore

data = load_domestic_soundscapes(**SIZES)
train = np.isin(data.subset, ["weak", "unlabel_in_domain"])
X, y = data.X[train], data.y[train]

# %%
# Composing rules
# ---------------
# S2 with only two of the paper's four transforms (noise and time/frequency shift)
# for unlabelled anchors.
composed = RuleSampler(
    labeled=(LabelPositive(), LabelNegative()),
    unlabeled=(
        TransformPositive([GaussianNoise(0.5), TimeFrequencyShift(10)]),
        SemiHardNegative(),
    ),
)
emb = TripletEmbedder(
    strategy=composed, n_triplets=N_TRIPLETS, max_epochs=1, random_state=0
).fit(X, y)
print("composed sampler, final triplet loss:", emb.history_[-1, "train_loss"])


# %%
# Subclassing
# -----------
# A strategy the rules do not express: the positive is the *next* segment of the
# anchor's clip (strict temporal adjacency), the negative is a random segment of
# another clip. ``_sample`` gets the anchors and a random generator; the base class
# draws the anchors, validates what ``_sample`` returns and counts skipped anchors.
class NextSegment(TripletSampler):
    """Positive: the following segment of the same clip; negative: another clip."""

    def _sample(self, anchors, labeled, rng):
        nxt = anchors + 1
        ok = nxt < self.n_segments_
        ok[ok] &= self.clip_index_[nxt[ok]] == self.clip_index_[anchors[ok]]
        t = Triplets.empty(int(ok.sum()))
        t.anchor[:] = anchors[ok]
        t.labeled[:] = labeled[ok]
        t.positive[:] = nxt[ok]
        neg = rng.integers(0, self.n_segments_, len(t))
        same = self.clip_index_[neg] == self.clip_index_[t.anchor]
        neg[same] = (neg[same] + 10) % self.n_segments_  # 10 segments per clip
        t.negative[:] = neg
        t.n_skipped = int((~ok).sum())
        return t


emb = TripletEmbedder(
    strategy=NextSegment(), n_triplets=N_TRIPLETS, max_epochs=1, random_state=0
).fit(X)
print("NextSegment sampler, final triplet loss:", emb.history_[-1, "train_loss"])
print("embeddings:", emb.transform(X[:2]).shape)
