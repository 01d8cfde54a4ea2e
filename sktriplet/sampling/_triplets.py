"""The :class:`Triplets` container: index arrays and recipes, no tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Codes stored in ``Triplets.transform``; ``-1`` = segment ``positive`` as is.
TRANSFORM_CODES = {
    "gaussian_noise": 0,
    "time_frequency_shift": 1,
    "example_mixing": 2,
}

_DTYPES = {
    "anchor": np.int64,
    "labeled": np.bool_,
    "positive": np.int64,
    "transform": np.int8,
    "time_shift": np.int32,
    "freq_shift": np.int32,
    "seed": np.int64,
    "alpha": np.float32,
    "negative": np.int64,
}


@dataclass(eq=False)
class Triplets:
    """Triplet specifications: which segments, and how to make generated positives.

    All fields are 1-D numpy arrays of the same length, one entry per triplet. A batch
    is materialised lazily: anchors are ``X[anchor]``, positives come from
    :func:`make_positives`, negatives are ``X[negative]`` or, where ``negative == -1``,
    mined semi-hard over embeddings with :func:`sktriplet.nn.semihard_negatives`.

    Parameters
    ----------
    anchor : ndarray of int64
        Segment index of the anchor.
    labeled : ndarray of bool
        Whether the anchor was treated as labelled (label rules were used).
    positive : ndarray of int64
        Segment index of the positive itself (label, nearest and temporal-proximity
        positives), the mixing partner (``ExampleMixing``), or ``-1`` when the positive
        is generated from the anchor alone.
    transform : ndarray of int8
        ``-1`` = the positive is segment ``positive`` unchanged; otherwise a code of
        :data:`TRANSFORM_CODES`.
    time_shift, freq_shift : ndarray of int32
        Circular time shift (frames) and zero-filled frequency shift (bins) of a
        ``TimeFrequencyShift`` positive.
    seed : ndarray of int64
        Seed of the noise of a ``GaussianNoise`` positive.
    alpha : ndarray of float32
        Strength of the transform: noise standard deviation for ``GaussianNoise``,
        mixing weight for ``ExampleMixing``.
    negative : ndarray of int64
        Segment index of the negative, or ``-1`` = mine a semi-hard negative.
    n_skipped : int, default=0
        Number of anchors dropped because no valid positive or negative existed.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.sampling import Triplets
    >>> t = Triplets.empty(2)
    >>> len(t), t.needs_mining.all()
    (2, np.True_)
    """

    anchor: np.ndarray
    labeled: np.ndarray
    positive: np.ndarray
    transform: np.ndarray
    time_shift: np.ndarray
    freq_shift: np.ndarray
    seed: np.ndarray
    alpha: np.ndarray
    negative: np.ndarray
    n_skipped: int = 0

    def __post_init__(self):
        n = None
        for name, dtype in _DTYPES.items():
            value = np.asarray(getattr(self, name), dtype=dtype).reshape(-1)
            if n is None:
                n = value.shape[0]
            elif value.shape[0] != n:
                raise ValueError(
                    f"Triplets field {name!r} has {value.shape[0]} entries, expected "
                    f"{n} like 'anchor'."
                )
            setattr(self, name, value)
        self.n_skipped = int(self.n_skipped)

    def __len__(self) -> int:
        return int(self.anchor.shape[0])

    def __getitem__(self, index) -> Triplets:
        """Subset of the triplets (slice, integer array or boolean mask)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Triplets(
            **{name: getattr(self, name)[index] for name in _DTYPES}, n_skipped=0
        )

    @property
    def needs_mining(self) -> np.ndarray:
        """Boolean mask of the triplets whose negative is mined semi-hard."""
        return self.negative < 0

    @classmethod
    def empty(cls, n: int = 0) -> Triplets:
        """``n`` placeholder triplets (anchor 0, positive ``-1``, mined negative)."""
        return cls(
            anchor=np.zeros(n, np.int64),
            labeled=np.zeros(n, bool),
            positive=np.full(n, -1, np.int64),
            transform=np.full(n, -1, np.int8),
            time_shift=np.zeros(n, np.int32),
            freq_shift=np.zeros(n, np.int32),
            seed=np.zeros(n, np.int64),
            alpha=np.zeros(n, np.float32),
            negative=np.full(n, -1, np.int64),
        )
