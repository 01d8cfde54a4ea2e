"""The paper's experimental settings and the reference figures it reports."""

from __future__ import annotations

#: Triplets per epoch in the paper's Table 2.
PAPER_TRIPLET_COUNTS = (31_560, 85_780, 159_900)

#: Labelled shares of the paper's Table 3 (75/25, 50/50, 37.5/62.5, 25/75).
PAPER_LABELED_SHARES = (0.75, 0.5, 0.375, 0.25)

#: The names of the paper's strategies (Table 1), the rows of its Table 2; the
#: samplers themselves are :data:`sktriplet.sampling.STRATEGIES`.
PAPER_STRATEGIES = ("s1", "s2", "s3", "s4", "s5")

#: Macro-F1 (%) reported by the paper on the DCASE 2018 Task 4 eval set, keyed by
#: (method, triplet count or None). Only figures stated in the paper's text are
#: listed; the tables show "–" for the others.
PAPER_F1 = {
    ("crnn", None): 49.61,
    ("logmel", None): 35.29,
}

#: The paper's best configuration (S2) and its macro-F1 (%).
PAPER_BEST = ("s2", 54.57)

METHOD_TITLES = {
    "logmel": "Classifier on log-mel",
    "crnn": "CRNN baseline",
    "s1": "S1 unsupervised",
    "s2": "S2 semi-supervised (transforms)",
    "s3": "S3 semi-supervised (nearest)",
    "s4": "S4 supervised, semi-hard negative",
    "s5": "S5 supervised",
    "s3_knn": "S3, positive among k nearest (remedy 1)",
    "s3_farther": "S3, nearest farther than transform (remedy 2)",
    "s2_joint": "S2 + classification loss (joint)",
    "s2_default": "S2 at the defaults: contrastive loss, fine-tuned (one-liner)",
}
