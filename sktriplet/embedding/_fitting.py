"""Checks and steps of :meth:`TripletEmbedder.fit`, with explicit arguments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch.callbacks import ProgressBar

from ..nn import ConvEmbedding
from ..sampling import get_sampler, seed_unset_random_states
from ..utils._chunks import iter_chunks
from ..utils._labels import check_semi_supervised_y, labeled_mask
from ..utils._scaling import fit_standardization
from ..utils._seeding import private_generator, seeded_init
from ._batch import SegmentTable
from ._cpu import allocator_scope
from ._net import TripletNet, split_valid
from ._weak_labels import loudest_segments, segment_loudness

#: ConvEmbedding settings of the embedder where they differ from the module's own
#: defaults (``module__<param>`` overrides them). Dropout after each block narrows
#: the one-liner's seed spread on average and is level or above on ``test`` on
#: eight embedded data sets of nine (user guide, "Dropout in the embedder's CNN");
#: the paper's network has none, so its Table 2 rows set ``module__dropout=0.0``.
MODULE_DEFAULTS = {"dropout": 0.2}


@dataclass
class TrainingSegments:
    """The segments of one fit, with what the triplet tables need of them."""

    n_clips: int
    segments: np.ndarray  # (n_segments, steps, n_mels), standardized
    clip_index: np.ndarray
    start_time: np.ndarray
    labels: np.ndarray  # (n_segments, n_classes), -1 rows unlabelled
    labeled_ratio: float | None
    base_seed: int  # seeds the sampler rules left at random_state=None
    on_cuda: bool


def check_n_clips(n_clips):
    if n_clips < 2:
        raise ValueError(
            f"X has {n_clips} sample (clip); triplet training needs at least 2 "
            "clips (negatives come from other clips)."
        )


def check_clip_lengths(X3, lengths, segment_frames):
    """Every clip must give at least one segment of ``segment_frames``."""
    if lengths is None and X3.shape[1] < segment_frames:
        raise ValueError(
            f"Clips have {X3.shape[1]} frames, fewer than segment_frames="
            f"{segment_frames}: no training segment can be cut."
        )
    short = [] if lengths is None else np.flatnonzero(lengths < segment_frames)
    if len(short):
        raise ValueError(
            f"X[{short[0]}] has {lengths[short[0]]} frames, fewer than "
            f"segment_frames={segment_frames}: no segment can be cut from "
            f"it ({len(short)} clip(s) of X that short: "
            f"{short[:5].tolist()}{'...' if len(short) > 5 else ''}). Drop "
            "them or pad them, e.g. with LogMelExtractor(duration=...); "
            "transform embeds clips of any length."
        )


def check_same_classes(classes, fitted):
    """Continued training must see the label columns of the first fit."""
    if classes is None or fitted is None:
        return
    if len(classes) != len(fitted) or not np.array_equal(classes, fitted):
        raise ValueError(
            f"y has {len(classes)} label columns (classes {list(classes)}), but "
            f"the embedder was fitted with {len(fitted)} (classes_ = "
            f"{list(fitted)}); partial_fit and warm_start need the same "
            "columns. Call fit with warm_start=False to start over."
        )


def has_labelled_clips(Y) -> bool:
    """Whether ``Y`` (None without ``y``) has a row other than all ``-1``."""
    return Y is not None and bool(labeled_mask(Y).any())


def check_labels(sampler, Y, strategy, classification_weight):
    """Labels are there when the sampler or the classification head needs them."""
    name = strategy if isinstance(strategy, str) else "the sampler"
    has_labels = has_labelled_clips(Y)
    # Supervised and semi-supervised samplers draw labelled anchors.
    if (sampler.requires_labels or sampler.uses_labeled_anchors) and not has_labels:
        raise ValueError(
            f"strategy={name!r} uses labels, but y has no labelled row "
            "(y is None or every row is -1); pass labels or choose an "
            "unsupervised strategy."
        )
    if classification_weight > 0 and not (has_labels and Y.shape[1]):
        raise ValueError(
            f"classification_weight={classification_weight} trains a "
            "classification head on labelled clips, but y has no labelled row."
        )


def check_enough_segments(n_segments, segment_frames, batch_size):
    if n_segments < batch_size:
        raise ValueError(
            f"X gives {n_segments} segments of {segment_frames} frames, "
            f"fewer than one batch (batch_size={batch_size}); lower "
            "batch_size or pass more clips."
        )


def segment_labels(Y, X3, lengths, clip_index, steps, weak_label_share):
    """Clip labels of the segments; only the loudest share of a clip's keep them.

    ``X3`` are the pooled (not standardized) clips; a clip's other segments become
    unlabelled (rows of ``-1``). A memory-mapped ``X3`` is read a chunk at a time.
    """
    if Y is None:
        return np.full((len(clip_index), 0), -1, np.int8)
    labels = Y[clip_index]
    if weak_label_share < 1:
        if lengths is None:  # one clip's loudness does not depend on the others
            loud = np.concatenate(
                [segment_loudness(chunk, steps) for _, chunk in iter_chunks(X3)]
            )
        else:
            loud = segment_loudness(X3, steps, lengths)
        quiet = ~loudest_segments(loud, clip_index, weak_label_share)
        labels[quiet & labeled_mask(labels)] = -1
    return labels


def resolve_labeled_ratio(labeled_ratio, sampler, seg_labels):
    """``labeled_ratio`` with "auto" resolved (see the embedder's docstring)."""
    if labeled_ratio != "auto":
        return labeled_ratio
    mixes = sampler.uses_labeled_anchors and sampler.uses_unlabeled_anchors
    labeled = labeled_mask(seg_labels) if seg_labels.shape[1] else None
    if mixes and labeled is not None and labeled.any() and not labeled.all():
        return 0.5
    return None


def validation_clips(fraction, n_clips, rng):
    """Clips held out for the validation loss (``validation_fraction``)."""
    n_valid = int(round(fraction * n_clips))
    if not 1 <= n_valid < n_clips - 1:
        raise ValueError(
            f"validation_fraction={fraction} holds out "
            f"{n_valid} of {n_clips} clips; need at least 1 validation clip "
            "and 2 training clips."
        )
    return rng.permutation(n_clips)[:n_valid]


def no_valid_triplets_error(fraction, n_valid, strategy):
    # The validation loss would never be logged and callbacks reading
    # valid_loss (EarlyStopping) would fail at the end of epoch 1.
    return ValueError(
        f"validation_fraction={fraction}: the {n_valid} "
        f"held-out clips give no triplet for strategy "
        f"{strategy!r} (no valid positive or negative for any of "
        "their anchors). Raise validation_fraction, pass more clips "
        "(labelled ones for label-based strategies), or set "
        "validation_fraction=None."
    )


class TripletFitMixin:
    """The named steps of :meth:`TripletEmbedder.fit` (see ``_fit``)."""

    def _make_sampler(self):
        return get_sampler(self.strategy, **self._sub_params("sampler__"))

    def _check_y(self, y, n_clips, reset):
        """Labels ``Y`` (None without ``y``) and their classes."""
        Y = classes = None
        if y is not None:
            Y, classes, _ = check_semi_supervised_y(y, n_clips, name="y")
        if not reset and y is not None:
            check_same_classes(classes, getattr(self, "classes_", None))
        check_n_clips(n_clips)
        return Y, classes

    def _fit_scaler(self, frames):
        """Per-band mean and std of the real frames ``(n, n_frames, n_mels)``."""
        self.feature_mean_, self.feature_std_ = fit_standardization(
            frames, floor="relative"
        )

    def _training_segments(self, X3, lengths, Y, sampler, device, reset):
        """Standardized, labelled segments and the fit's seeds.

        Returns the :class:`TrainingSegments`, the seed of the network and
        dropout, and the generator of the triplets.
        """
        segments, clip_index, start_time = self._standardized_segments(X3, lengths)
        check_enough_segments(len(segments), self.segment_frames, self.batch_size)
        seg_labels = segment_labels(
            Y, X3, lengths, clip_index, self._segment_steps(), self.weak_label_share
        )
        rs = check_random_state(self.random_state)
        base_seed = int(rs.randint(np.iinfo(np.int32).max))
        epochs_done = 0 if reset else len(self.net_.history)
        rng = np.random.default_rng([base_seed, epochs_done])
        torch_seed = int(rng.integers(np.iinfo(np.int32).max))
        data = TrainingSegments(
            len(X3),
            segments,
            clip_index,
            start_time,
            seg_labels,
            labeled_ratio=resolve_labeled_ratio(
                self.labeled_ratio, sampler, seg_labels
            ),
            base_seed=base_seed,
            on_cuda=torch.device(device).type == "cuda",
        )
        return data, torch_seed, rng

    def _triplet_tables(self, data, sampler, rng):
        """The training table and the held-out one (None without validation)."""
        valid_table = None
        train_idx = np.arange(len(data.segments))
        if self.validation_fraction is not None:
            valid_clips = validation_clips(self.validation_fraction, data.n_clips, rng)
            is_valid = np.isin(data.clip_index, valid_clips)
            train_idx = np.flatnonzero(~is_valid)
            try:
                valid_table = self._triplet_table(
                    data, np.flatnonzero(is_valid), self._make_sampler(), rng, True
                )
                n_valid_triplets = len(valid_table.draw())
            except ValueError as exc:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction}: the held-out "
                    f"clips cannot give triplets: {exc}"
                ) from exc
            if n_valid_triplets == 0:
                raise no_valid_triplets_error(
                    self.validation_fraction, len(valid_clips), self.strategy
                )
        train_table = self._triplet_table(
            data, train_idx, sampler, rng, False, valid=valid_table
        )
        return train_table, valid_table

    def _triplet_table(self, data, idx, sampler, rng, fixed, valid=None):
        """Triplet batches of the segments ``idx``, ``sampler`` fitted on them.

        A ``fixed`` (validation) table draws its triplets once, from a generator
        of its own seeded from ``rng``; the training table draws from ``rng``.
        """
        if self.random_state is not None:
            seed_unset_random_states(sampler, data.base_seed)
        # All segments (no validation split): the array itself, not a copy of it.
        everything = len(idx) == len(data.segments)
        segments = data.segments if everything else data.segments[idx]
        sampler.fit(
            segments,
            data.labels[idx],
            clip_index=data.clip_index[idx],
            start_time=data.start_time[idx],
        )
        if fixed:
            rng = np.random.default_rng(rng.integers(np.iinfo(np.int32).max))
        return SegmentTable(
            segments,
            data.clip_index[idx],
            data.labels[idx],
            sampler,
            n_triplets=self.n_triplets,
            batch_size=self.batch_size,
            labeled_ratio=data.labeled_ratio,
            rng=rng,
            feature_mean=self.feature_mean_,
            feature_std=self.feature_std_,
            fixed=fixed,
            pin_memory=data.on_cuda,
            prefetch=data.on_cuda,
            valid=valid,
        )

    def _make_or_update_net(
        self, device, amp_dtype, with_valid, n_classes, seed, reset
    ):
        """A fresh skorch net (``reset``), or ``net_`` with the current settings."""
        # Another thread's fit neither shifts nor sees this fit's draws (Notes).
        with seeded_init(seed, device):
            if reset:
                self.net_ = self._make_net(device, amp_dtype, with_valid, n_classes)
                self.net_.initialize()
            else:
                self.net_.set_params(
                    on_interrupt=self.on_interrupt,
                    max_epochs=self.max_epochs,
                    verbose=self.verbose,
                    train_split=split_valid if with_valid else None,
                )
        return self.net_

    def _train(self, net, train_table, device, seed):
        """Train ``net`` for ``max_epochs`` epochs; set the fitted attributes."""
        with private_generator(seed), allocator_scope(self.tune_allocator, device):
            net.partial_fit(train_table)
        self.device_ = device
        module = self.net_.module_
        n_steps = self._segment_steps()
        self.embedding_dim_ = int(module.dim)
        self.segment_steps_ = n_steps
        self.segment_dim_ = int(
            module.dim * (n_steps if module.pooling == "flatten" else 1)
        )
        self.history_ = self.net_.history

    def _module_params(self) -> dict:
        """The ConvEmbedding settings of a fit: the ``module__`` ones, else ours."""
        return {**MODULE_DEFAULTS, **self._sub_params("module__")}

    def _make_net(self, device, amp_dtype, with_valid, n_classes):
        callbacks = list(self.callbacks or [])
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        module_params = {"n_mels": self.n_frame_features_, **self._module_params()}
        return TripletNet(
            ConvEmbedding,
            criterion__margin=self.margin,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=split_valid if with_valid else None,
            callbacks=callbacks,
            device=device,
            amp_dtype=amp_dtype,
            n_classes=n_classes,
            classification_weight=self.classification_weight,
            segment_frames=self._segment_steps(),
            objective=self.loss,
            temperature=self.temperature,
            band_gain=self.band_gain,
            on_interrupt=self.on_interrupt,
            verbose=self.verbose,
            **{f"module__{k}": v for k, v in module_params.items()},
            **self._prefixed("optimizer__"),
            **self._prefixed("callbacks__"),
        )
