"""The paper's convolutional embedding network (Turpault, Serizel & Vincent, 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._dropout import Dropout

POOLINGS = ("flatten", "mean")


def _pooled_size(size: int, pool: int, n_blocks: int) -> int:
    # MaxPool2d(ceil_mode=True) keeps at least one bin, so any n_mels works.
    for _ in range(n_blocks):
        size = -(-size // pool)
    return size


class ConvEmbedding(nn.Module):
    """Convolutional network embedding log-mel segments frame by frame.

    ``n_blocks`` blocks of ``Conv2d(n_filters, 3x3, same padding)`` + ``BatchNorm2d`` +
    ``ReLU`` + ``MaxPool2d((1, pool_freq))`` (+ ``Dropout``), applied to the
    ``(frames, mels)`` plane. Pooling acts on frequency only, so the time resolution is
    kept: the output is one ``dim``-vector per input frame, with
    ``dim = n_filters * ceil(n_mels / pool_freq ** n_blocks)`` (64 for the paper's 64
    mel bands, 64 filters, three blocks of pooling 4).

    Parameters
    ----------
    n_mels : int, default=64
        Mel bands per frame of the input.
    n_filters : int, default=64
        Convolution filters per block.
    n_blocks : int, default=3
        Number of convolution blocks.
    pool_freq : int, default=4
        Max-pooling factor along frequency in each block.
    dropout : float, default=0.0
        Dropout probability after each block.
    pooling : {"mean", "flatten"}, default="mean"
        How :meth:`embed_segments` turns the frame sequence of a segment into one
        vector for the triplet distance: ``"mean"`` averages the frame embeddings over
        time (``dim`` values), ``"flatten"`` concatenates them (``n_frames * dim``
        values). Measured with ``benchmarks/bench_embedder.py --pooling`` (synthetic
        10 s clips, half labelled, strategy ``"s2"``, clip tagging by logistic
        regression on the learnt frame embeddings): macro-F1 0.49 +- 0.12 with
        ``"mean"`` against 0.05 +- 0.05 with ``"flatten"``. Hence the default: the
        mean is invariant to the time shifts that the shift and temporal-proximity
        positives introduce, and its distances do not grow with the segment length
        against the fixed margin.
    channels_last : bool, default=True
        Run the convolutions in ``torch.channels_last`` memory format (weights and
        activations): same results, faster on CPUs with oneDNN (measured 2.4x faster
        inference in fp32 on 2 cores, more with bf16 autocast; see
        ``benchmarks/bench_embedder.py``). It is set inside the module, so it
        survives skorch re-creating the module.
    normalize : bool, default=False
        Whether :meth:`embed_segments` scales each segment vector to unit length,
        so the triplet distances live on the unit sphere (squared distances in
        [0, 4]; use a margin below 1, e.g. ``margin=0.2``). Measured no better
        than raw embeddings with margin 1 (user guide, "What matters for quality").

    Attributes
    ----------
    dim : int
        Size of a frame embedding.
    block_dropout : float
        The dropout rate inside ``blocks``, read from its layers (0 without a
        Dropout layer, as in networks pickled before the embedder had dropout).

    Examples
    --------
    >>> import torch
    >>> from sktriplet.nn import ConvEmbedding
    >>> net = ConvEmbedding(n_mels=64)
    >>> net(torch.zeros(2, 96, 64)).shape
    torch.Size([2, 96, 64])
    >>> net.embed_segments(torch.zeros(2, 96, 64)).shape
    torch.Size([2, 64])
    """

    def __init__(
        self,
        n_mels: int = 64,
        n_filters: int = 64,
        n_blocks: int = 3,
        pool_freq: int = 4,
        dropout: float = 0.0,
        pooling: str = "mean",
        channels_last: bool = True,
        normalize: bool = False,
    ):
        super().__init__()
        for name, value in (
            ("n_mels", n_mels),
            ("n_filters", n_filters),
            ("n_blocks", n_blocks),
            ("pool_freq", pool_freq),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}.")
        self.n_mels = n_mels
        self.pooling = pooling
        self.channels_last = bool(channels_last)
        self.normalize = bool(normalize)
        layers = []
        in_channels = 1
        for _ in range(n_blocks):
            layers += [
                nn.Conv2d(in_channels, n_filters, kernel_size=3, padding=1),
                nn.BatchNorm2d(n_filters),
                nn.ReLU(inplace=True),
                nn.MaxPool2d((1, pool_freq), ceil_mode=True),
            ]
            if dropout > 0:
                layers.append(Dropout(dropout))
            in_channels = n_filters
        self.blocks = nn.Sequential(*layers)
        self.dim = n_filters * _pooled_size(n_mels, pool_freq, n_blocks)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed ``x`` ``(batch, frames, mels)`` into ``(batch, frames, dim)``."""
        if x.ndim != 3 or x.shape[-1] != self.n_mels:
            raise ValueError(
                f"expected input of shape (batch, frames, {self.n_mels}); got "
                f"{tuple(x.shape)}."
            )
        h = x.unsqueeze(1)  # (B, 1, T, M)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        h = self.blocks(h) if self.training else self._eval_blocks(h)  # (B, C, T, F)
        return h.permute(0, 2, 1, 3).reshape(h.shape[0], h.shape[2], -1)

    def _eval_blocks(self, h: torch.Tensor) -> torch.Tensor:
        """``self.blocks`` in eval mode, with fewer passes over the activations.

        With running statistics BatchNorm is a fixed per-channel affine map, folded
        here into the convolution's weights (its channels_last CPU kernel took a
        third of the inference time), and ReLU commutes with max-pooling, so it runs
        on the pooled, ``pool_freq`` times smaller tensor. Dropout is the identity.
        """
        layers = list(self.blocks)
        for start, layer in enumerate(layers):
            if not isinstance(layer, nn.Conv2d):
                continue  # each block starts at its convolution
            conv, bn, _, pool = layers[start : start + 4]
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            weight = conv.weight * scale.reshape(-1, 1, 1, 1)
            if self.channels_last:
                weight = weight.contiguous(memory_format=torch.channels_last)
            bias = (conv.bias - bn.running_mean) * scale + bn.bias
            h = F.conv2d(h, weight, bias, padding=conv.padding)
            h = torch.relu(pool(h))
        return h

    @property
    def block_dropout(self) -> float:
        """The dropout rate inside ``blocks`` (0 if they have no Dropout layer).

        The layers are the only record of it, and what a network whose blocks must
        line up with this one's (a fine-tuning CRNN) has to match; a network
        pickled before dropout was the embedder's default answers 0.
        """
        rates = [layer.p for layer in self.blocks if isinstance(layer, nn.Dropout)]
        return float(rates[0]) if rates else 0.0

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load weights, also from the same network with or without dropout.

        Dropout has no weights but takes a place in ``blocks``, so the two number
        their layers differently: the ``blocks`` keys of ``state_dict`` are
        matched to this module's layers with weights in order (a pre-trained
        CNN without dropout can start a CRNN with it, and back).
        """
        return super().load_state_dict(
            self._renumbered(state_dict), strict=strict, assign=assign
        )

    def _renumbered(self, state_dict):
        def index(key):
            parts = key.split(".")
            if len(parts) > 1 and parts[0] == "blocks" and parts[1].isdigit():
                return int(parts[1])
            return None

        theirs = sorted({i for key in state_dict if (i := index(key)) is not None})
        ours = [i for i, layer in enumerate(self.blocks) if layer.state_dict()]
        if len(theirs) != len(ours) or theirs == ours:
            return state_dict  # nothing to match, or load_state_dict says what
        new_index = dict(zip(theirs, ours))

        def rename(key):
            i = index(key)
            if i is None:
                return key
            parts = key.split(".")
            parts[1] = str(new_index[i])
            return ".".join(parts)

        renamed = type(state_dict)((rename(k), v) for k, v in state_dict.items())
        metadata = getattr(state_dict, "_metadata", None)
        if metadata is not None:  # BatchNorm reads its version from it
            # Layers without weights (ReLU, pooling, dropout) have entries too.
            renamed._metadata = type(metadata)(
                (rename(k), v)
                for k, v in metadata.items()
                if index(k) is None or index(k) in new_index
            )
        return renamed

    def __setstate__(self, state):
        super().__setstate__(state)
        # Modules pickled with torch's dropout: masks from the fit's own generator.
        for i, layer in enumerate(self.blocks):
            if type(layer) is nn.Dropout:
                self.blocks[i] = Dropout(layer.p, layer.inplace)

    def pool(self, frames: torch.Tensor) -> torch.Tensor:
        """Turn frame embeddings ``(batch, frames, dim)`` into segment vectors."""
        if self.pooling == "mean":
            return frames.mean(dim=1)
        return frames.reshape(frames.shape[0], -1)

    def embed_segments(self, x: torch.Tensor) -> torch.Tensor:
        """One vector per segment of ``x`` (see ``pooling``)."""
        v = self.pool(self(x))
        # Modules pickled before ``normalize`` existed have no attribute.
        if getattr(self, "normalize", False):
            v = F.normalize(v, dim=1)
        return v
