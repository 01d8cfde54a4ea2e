"""Tagging networks: a BiGRU head on embedding sequences and the CRNN baseline.

Both networks map a batch of clips ``(batch, n_frames, n_features)`` to *frame*
logits ``(batch, n_frames, n_classes)`` (:meth:`frame_logits`), turn them into frame
probabilities with a sigmoid (multi-label) or a softmax (one class per clip), and pool
them into a clip prediction: the mean over frames of the frame probabilities (the
paper's "clip prediction = average over time of the frame predictions") or their
maximum over frames.

Clips of different lengths come zero-padded with their ``lengths``
``(batch,)``: the GRU reads each clip's own frames only (packed sequences), the CRNN's
convolutions run on clips of one length at a time, and the clip pooling skips the
padding, so a clip gets the same prediction alone as in a padded batch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..utils._seeding import call_with_private_generator
from ._dropout import Dropout
from ._embedding import ConvEmbedding

__all__ = ["BiGRUTagger", "CRNN", "clip_pooling"]

_ACTIVATIONS = ("sigmoid", "softmax")
#: How frame probabilities become a clip probability.
CLIP_POOLINGS = ("mean", "max")


def _check_option(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")
    return value


def _check_activation(activation):
    return _check_option("activation", activation, _ACTIVATIONS)


def clip_pooling(frame_logits, activation="sigmoid", pooling="mean", lengths=None):
    """Clip probabilities from frame logits.

    Parameters
    ----------
    frame_logits : torch.Tensor of shape (batch, n_frames, n_classes)
        Frame-level logits.
    activation : {"sigmoid", "softmax"}, default="sigmoid"
        ``"sigmoid"``: independent class probabilities (multi-label);
        ``"softmax"``: one class per frame, so the clip probabilities sum to one.
    pooling : {"mean", "max"}, default="mean"
        ``"mean"``: the mean over frames of the frame probabilities (the paper's
        rule); ``"max"``: their maximum over frames, so a short event decides the
        clip on its own (with ``"softmax"`` the maxima are renormalised to sum to
        one).
    lengths : torch.Tensor of shape (batch,), default=None
        Real frames of each clip of a padded batch: later frames count neither in
        the mean nor in the maximum. ``None``: every frame is real.

    Returns
    -------
    torch.Tensor of shape (batch, n_classes)

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import clip_pooling
    >>> logits = torch.tensor([[[4.0], [-4.0], [-4.0], [-4.0]]])  # one short event
    >>> clip_pooling(logits, pooling="mean").round(decimals=2)
    tensor([[0.2600]])
    >>> clip_pooling(logits, pooling="max").round(decimals=2)
    tensor([[0.9800]])
    """
    _check_option("pooling", pooling, CLIP_POOLINGS)
    probs = frame_activation(frame_logits, _check_activation(activation))
    if lengths is not None:
        # Probabilities are positive: zeroed padding never wins the maximum.
        probs = probs * frame_mask(lengths, probs.shape[1])[..., None]
        if pooling == "mean":
            return probs.sum(dim=1) / lengths.to(probs)[:, None]
    if pooling == "mean":
        return probs.mean(dim=1)
    clip = probs.amax(dim=1)
    if activation == "softmax":
        clip = clip / clip.sum(dim=-1, keepdim=True)
    return clip


def frame_activation(frame_logits, activation):
    """Frame probabilities: sigmoid (multi-label) or softmax over classes."""
    if activation == "sigmoid":
        return torch.sigmoid(frame_logits)
    return torch.softmax(frame_logits, dim=-1)


def frame_mask(lengths, n_frames):
    """Boolean ``(batch, n_frames)``: which frames of a padded batch are real."""
    return torch.arange(n_frames, device=lengths.device) < lengths[:, None]


class _FramePooledTagger(nn.Module):
    """Shared forward: frame logits -> activation -> mean over frames."""

    def frame_logits(self, x, lengths=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_recurrent_head(self, n_in, n_classes, hidden_size, num_layers, dropout):
        """The shared head: a bidirectional GRU, dropout, a dense layer per frame."""
        self.gru = nn.GRU(
            int(n_in),
            int(hidden_size),
            num_layers=int(num_layers),
            batch_first=True,
            bidirectional=True,
            dropout=float(dropout) if num_layers > 1 else 0.0,
        )
        self.dropout = Dropout(float(dropout))
        self.dense = nn.Linear(2 * int(hidden_size), int(n_classes))

    def _recurrent_logits(self, h, lengths=None):
        """Frame logits of frame features ``h`` ``(batch, T, n_in)``.

        With ``lengths`` the GRU reads each clip's real frames only (in both
        directions); the logits of padding frames are those of zero features.
        """
        gru, device, n_frames = self.gru, h.device, h.shape[1]
        if lengths is not None:
            h = pack_padded_sequence(
                h, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
        if self.training and gru.dropout > 0 and gru.num_layers > 1:
            # Its inter-layer dropout only draws from torch's global generator.
            h, _ = call_with_private_generator(gru, h, device=device)
        else:
            h, _ = gru(h)
        if lengths is not None:
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=n_frames)
        return self.dense(self.dropout(h))

    def frame_probabilities(self, x, lengths=None):
        """Frame probabilities ``(batch, n_frames, n_classes)``."""
        return frame_activation(self.frame_logits(x, lengths), self.activation)

    def forward(self, x, lengths=None):
        """Clip probabilities ``(batch, n_classes)`` of ``x`` ``(batch, T, F)``.

        ``lengths`` ``(batch,)``: real frames of each clip of a zero-padded ``x``.
        """
        pooling = getattr(self, "pooling", "mean")  # modules pickled before pooling
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device)
            x = x[:, : int(lengths.max())]
        logits = self.frame_logits(x, lengths)
        return clip_pooling(logits, self.activation, pooling, lengths)


class BiGRUTagger(_FramePooledTagger):
    """Bidirectional GRU + dense layer with one output per class.

    The paper's classifier on embedding sequences: 2 BiGRU layers of 64 cells, then a
    dense layer applied to every frame.

    Parameters
    ----------
    n_features : int
        Values per frame (embedding dimension or mel bands).
    n_classes : int
        Number of outputs.
    hidden_size : int, default=64
        GRU cells per direction.
    num_layers : int, default=2
        Stacked BiGRU layers.
    dropout : float, default=0.0
        Dropout between GRU layers and before the dense layer.
    activation : {"sigmoid", "softmax"}, default="sigmoid"
        Frame activation used by :meth:`forward`.
    pooling : {"mean", "max"}, default="mean"
        Clip pooling of the frame probabilities (see :func:`clip_pooling`).

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import BiGRUTagger
    >>> net = BiGRUTagger(n_features=8, n_classes=3, hidden_size=4)
    >>> net(torch.zeros(2, 5, 8)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_features,
        n_classes,
        hidden_size=64,
        num_layers=2,
        dropout=0.0,
        activation="sigmoid",
        pooling="mean",
    ):
        super().__init__()
        self.activation = _check_activation(activation)
        self.pooling = _check_option("pooling", pooling, CLIP_POOLINGS)
        self._init_recurrent_head(
            n_features, n_classes, hidden_size, num_layers, dropout
        )

    def frame_logits(self, x, lengths=None):
        """Frame logits ``(batch, n_frames, n_classes)`` of ``x`` ``(batch, T, F)``."""
        return self._recurrent_logits(x, lengths)


class CRNN(_FramePooledTagger):
    """Convolutional recurrent network on log-mel spectrograms (the paper's baseline).

    ``n_conv`` blocks of (3x3 convolution with ``n_filters`` channels, batch norm,
    ReLU, max pooling of ``pool_freq`` along frequency only, so the frame rate is
    kept), then a BiGRU and a dense layer on every frame. The convolutional front end
    is a :class:`~sktriplet.nn.ConvEmbedding` (attribute ``cnn``), the same blocks as
    the triplet embedding; pooling rounds up, so small inputs keep at least one
    frequency bin.

    Parameters
    ----------
    n_mels : int
        Mel bands (values per frame).
    n_classes : int
        Number of outputs.
    n_filters : int, default=64
        Channels of each convolution.
    n_conv : int, default=3
        Convolution blocks.
    pool_freq : int, default=4
        Max-pooling factor along frequency after each block.
    hidden_size : int, default=64
        GRU cells per direction.
    num_layers : int, default=1
        Stacked BiGRU layers.
    dropout : float, default=0.0
        Dropout after each convolution block and before the dense layer.
    activation : {"sigmoid", "softmax"}, default="sigmoid"
        Frame activation used by :meth:`forward`.
    pooling : {"mean", "max"}, default="mean"
        Clip pooling of the frame probabilities (see :func:`clip_pooling`).

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import CRNN
    >>> net = CRNN(n_mels=64, n_classes=10, n_filters=4, hidden_size=4)
    >>> net(torch.zeros(2, 20, 64)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        n_mels,
        n_classes,
        n_filters=64,
        n_conv=3,
        pool_freq=4,
        hidden_size=64,
        num_layers=1,
        dropout=0.0,
        activation="sigmoid",
        pooling="mean",
    ):
        super().__init__()
        self.activation = _check_activation(activation)
        self.pooling = _check_option("pooling", pooling, CLIP_POOLINGS)
        # The front end is the embedding CNN itself, so the baseline and the
        # triplet embeddings share one definition of the paper's three blocks.
        self.cnn = ConvEmbedding(
            n_mels=int(n_mels),
            n_filters=int(n_filters),
            n_blocks=int(n_conv),
            pool_freq=int(pool_freq),
            dropout=float(dropout),
        )
        self._init_recurrent_head(
            self.cnn.dim, n_classes, hidden_size, num_layers, dropout
        )

    def frame_logits(self, x, lengths=None):
        """Frame logits ``(batch, n_frames, n_classes)`` of ``x`` ``(batch, T, M)``."""
        if lengths is None:
            return self._recurrent_logits(self.cnn(x))
        return self._recurrent_logits(self._cnn_by_length(x, lengths), lengths)

    def _cnn_by_length(self, x, lengths):
        """CNN features of padded clips, clips of one length together.

        The convolutions then never see padding next to a clip's last frames, and
        in training batch norm takes its statistics from real frames only.
        """
        out = x.new_zeros(x.shape[0], x.shape[1], self.cnn.dim)
        for n_frames in torch.unique(lengths).tolist():
            rows = torch.nonzero(lengths == n_frames).squeeze(1)
            out[rows, :n_frames] = self.cnn(x[rows, :n_frames])
        return out
