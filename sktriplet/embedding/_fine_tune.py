"""Pre-training then fine-tuning: the triplet CNN trained further on the labels.

After its triplet epochs, the embedder's CNN can become the convolutional front end
of a :class:`~sktriplet.tagging.CRNNTagger` fitted on the labelled clips by binary
cross-entropy (and, with ``fine_tune__consistency > 0``, on the unlabelled ones by
a mean teacher's consistency loss). The fine-tuned front end is copied back, so
``transform`` returns embeddings that hold what the labels taught on top of what
the triplets did. Measured on the embedded soundscapes (user guide, "What matters
for quality"), the triplet embeddings alone stay below a supervised CRNN; the same
CNN fine-tuned this way is above it on every data set tried.
"""

from __future__ import annotations

import inspect

import numpy as np
from skorch.history import History

from ..nn import ConvEmbedding
from ..tagging import CRNNTagger
from ..utils._validation import split_clips
from ._cpu import allocator_scope
from ._fitting import has_labelled_clips

#: CRNNTagger settings of the fine-tuning (``fine_tune__<param>`` overrides them):
#: the labels alone, with mixup (user guide, "The fine-tuning's mean teacher").
#: A mean teacher on the unlabelled clips was the default before: level with it
#: on ``test``, at a third more fit time; ``input_noise`` stays so that
#: ``fine_tune__consistency=1.0`` gives that setting back (it acts only with the
#: mean teacher). ``mixup`` and ``band_gain`` equal the tagger's own defaults,
#: and are fixed here so that the embedder keeps its measured setting if those
#: move (user guide, "Random gains per mel band").
FINE_TUNE_DEFAULTS = {
    "consistency": 0.0,
    "input_noise": 0.1,
    "mixup": 0.2,
    "band_gain": 0.5,
}

#: CRNNTagger parameters the embedder sets itself, so that the fine-tuned front end
#: is the embedder's own CNN on the embedder's own inputs.
FIXED_BY_EMBEDDER = (
    "n_filters",
    "n_conv",
    "pool_freq",
    "dropout",
    "cnn_init",
    "frame_pool",
    "standardize",
    "n_features",
    "device",
    "random_state",
    "on_interrupt",
)


def will_fine_tune(fine_tune, Y) -> bool:
    """Whether this fit fine-tunes: ``fine_tune`` on and labelled clips in ``Y``.

    ``fine_tune=True`` without a labelled clip is an error; ``"auto"`` then
    skips the step (an unsupervised fit, e.g. S1 on unlabelled clips).
    """
    has_labels = has_labelled_clips(Y)
    if fine_tune is True and not has_labels:
        raise ValueError(
            "fine_tune=True needs labelled clips in y (rows other than -1); pass "
            "fine_tune='auto' to fine-tune only when there are some, or False."
        )
    return bool(fine_tune) and has_labels


def _conv_setting(module_params: dict, name: str):
    """A ConvEmbedding setting of the embedder: its ``module__`` value or default."""
    if name in module_params:
        return module_params[name]
    return inspect.signature(ConvEmbedding).parameters[name].default


class FineTuneMixin:
    """The fine-tuning step of :meth:`TripletEmbedder.fit`."""

    def _check_fine_tune_params(self):
        names = set(self._sub_params("fine_tune__"))
        unknown = sorted(names - set(CRNNTagger._get_param_names()))
        if unknown:
            raise ValueError(
                f"fine_tune__{unknown[0]} is not a CRNNTagger parameter; the "
                "fine_tune__<param> keyword arguments are CRNNTagger's."
            )
        fixed = sorted(names & set(FIXED_BY_EMBEDDER))
        if fixed:
            raise ValueError(
                f"fine_tune__{fixed[0]} cannot be set: the embedder sets "
                f"{', '.join(fixed)} of its fine-tuning tagger itself (the front end "
                "must be its own CNN on its own inputs)."
            )

    def _make_fine_tuner(self, device, seed):
        module = self.net_.module_
        module_params = self._module_params()
        params = {**FINE_TUNE_DEFAULTS, **self._sub_params("fine_tune__")}
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return CRNNTagger(
            n_filters=_conv_setting(module_params, "n_filters"),
            n_conv=_conv_setting(module_params, "n_blocks"),
            pool_freq=_conv_setting(module_params, "pool_freq"),
            # The fitted module's own Dropout layers, so the blocks line up.
            dropout=module.block_dropout,
            cnn_init=state,
            frame_pool=1,
            standardize=False,
            device=device,
            random_state=seed,
            on_interrupt=self.on_interrupt,
            **{"verbose": self.verbose, **params},
        )

    def _fine_tune_clips(self, X3, lengths):
        """Pooled clips ``X3`` standardized with the embedder's statistics."""
        Xs = self._standardize(X3)
        return Xs if lengths is None else split_clips(Xs, lengths)

    def _fine_tune_input(self, X):
        """Clips ``X`` as the fine-tuning tagger reads them (pooled, standardized).

        Callable once the standardization is learnt, during the fine-tuning too:
        a held-out callback of the fine-tuning (``fine_tune__callbacks``) takes it
        as its ``preprocess`` to score raw clips.
        """
        X3, lengths, _ = self._check_X(X, reset=False)
        return self._fine_tune_clips(*self._pool(X3, lengths))

    def _fine_tune(self, X3, lengths, Y, device, seed):
        """Fit the fine-tuning CRNN on pooled clips ``X3``; keep its front end.

        ``X3`` are the pooled clips of this fit, standardized here with the
        embedder's statistics so the front end learns on what ``transform`` feeds
        it; ``Y`` keeps its ``-1`` rows (a mean teacher's unlabelled clips; the
        CRNN leaves them out without one).
        """
        tagger = self._make_fine_tuner(device, seed)
        with allocator_scope(self.tune_allocator, device):
            tagger.fit(self._fine_tune_clips(X3, lengths), np.asarray(Y))
        self.net_.module_.load_state_dict(tagger.module_.cnn.state_dict())
        # Epoch records only: the batch records grow with the training set.
        self.fine_tune_history_ = History(
            [
                {k: v for k, v in row.items() if k != "batches"}
                for row in tagger.history_
            ]
        )
