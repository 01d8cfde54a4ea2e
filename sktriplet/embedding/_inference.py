"""Input checks, segmenting and inference of :class:`TripletEmbedder`."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..features import pool_frames, segment
from ..utils._chunks import iter_chunks
from ..utils._inference import predict_in_chunks
from ..utils._scaling import standardize
from ..utils._validation import length_groups, split_clips, validate_clips
from ._cpu import allocator_scope
from ._fitting import check_clip_lengths

#: Hop between log-mel frames (10 ms), for segment start times in seconds.
FRAME_SECONDS = 0.010

#: Segments per inference chunk on CPU: small chunks stay in the cache.
CPU_CHUNK = 32


class EmbedderInferenceMixin:
    """``transform`` and ``transform_segments``, and the input steps ``fit`` shares."""

    # -- input -------------------------------------------------------------------
    def _check_X(self, X, *, reset):
        """3-D float32 clips, their lengths and the form of ``X``.

        A list of 2-D clips (form ``"list"``) is zero-padded to the longest; its
        ``lengths`` are None when all clips have the same length. A 2-D ``X`` (form
        ``"2d"``) is checked like scikit-learn's and reshaped. After a 2-D ``fit`` a
        2-D ``X`` must keep the number of columns (``n_features_in_``); any ``X``
        must keep the mel bands (``n_frame_features_``).
        """
        X3, lengths, form = validate_clips(
            self, X, reset=reset, n_features=self.n_mels, check_nd=True
        )
        if reset:
            self.n_frame_features_ = X3.shape[2]
            if not self._fit_2d:
                self.n_features_in_ = X3.shape[2]
        elif X3.shape[2] != self.n_frame_features_:
            raise ValueError(
                f"X has {X3.shape[2]} mel bands per frame, but TripletEmbedder was "
                f"fitted with {self.n_frame_features_}; transform needs the same "
                "n_mels as fit."
            )
        return X3, lengths, form

    @property
    def n_mels_in_(self):
        """Deprecated alias of ``n_frame_features_``."""
        warnings.warn(
            "n_mels_in_ is deprecated; use n_frame_features_ (the name the taggers "
            "use).",
            FutureWarning,
            stacklevel=2,
        )
        return self.n_frame_features_

    def _segment_steps(self) -> int:
        return -(-self.segment_frames // self.frame_pool)

    def _pool(self, X3, lengths=None):
        """Mean of every ``frame_pool`` input frames (a shorter tail is one step).

        Returns the pooled clips and their lengths in steps (None if all equal).
        With ``frame_pool=1`` a memory-mapped ``X3`` is returned as it is, to be
        read a chunk at a time by the next steps.
        """
        if self.frame_pool == 1:
            return X3, lengths
        pooled = pool_frames(X3, self.frame_pool, keep_partial=True, lengths=lengths)
        return pooled, None if lengths is None else -(-lengths // self.frame_pool)

    def _segment(self, Xs, lengths=None):
        return segment(
            Xs,
            n_frames=self._segment_steps(),
            frame_seconds=FRAME_SECONDS * self.frame_pool,
            lengths=lengths,
        )

    def _standardized_segments(self, X3, lengths):
        """Segments of pooled clips ``X3``, standardized, a chunk of clips at a time.

        Only the segments are held in memory, never a standardized copy of a
        memory-mapped ``X3`` whole. Returns segments, clip index, start times.
        """
        if lengths is not None:  # padded clips from a list: already in memory
            return self._segment(self._standardize(X3), lengths)
        size = self._segment_steps()
        n_clips, n_steps, n_mels = X3.shape
        per_clip = n_steps // size
        segments = np.empty((n_clips * per_clip, size, n_mels), dtype=np.float32)
        clip_index, start_time = [], []
        for rows, chunk in iter_chunks(X3):
            segs, clips, starts = self._segment(self._standardize(chunk))
            segments[rows.start * per_clip : rows.stop * per_clip] = segs
            clip_index.append(clips + rows.start)
            start_time.append(starts)
        return segments, np.concatenate(clip_index), np.concatenate(start_time)

    # -- inference ---------------------------------------------------------------
    def _standardize(self, X3):
        return standardize(X3, self.feature_mean_, self.feature_std_)

    def _run(self, x, pooled):
        """Module outputs for standardized ``x`` ``(n, frames, mels)``, in chunks.

        Big chunks keep a GPU busy; on CPU small ones stay in the cache.
        """
        net = self.net_
        module = net.module_
        module.eval()
        device = torch.device(net.device)
        on_cuda = device.type == "cuda"
        chunk = max(256, self.batch_size) if on_cuda else CPU_CHUNK
        forward = module.embed_segments if pooled else module
        with net.autocast(), allocator_scope(self.tune_allocator, device):
            return predict_in_chunks(forward, x, chunk_size=chunk, device=device)

    def transform(self, X):
        """Embedding sequences of clips ``X``, one vector per ``frame_pool`` frames.

        Clips are pooled and cut into segments as in training (a shorter trailing
        piece is embedded on its own), so every step gets a vector: a 1,001-frame
        clip gives 101 vectors with ``frame_pool=10``, and a clip shorter than a
        segment is embedded whole. A clip's embedding does not depend on the other
        clips of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_mels) or (n_clips, n_values), \
or list of arrays of shape (n_frames_i, n_mels)
            Log-mel features; a list holds clips of any lengths (at least one
            frame each).

        Returns
        -------
        E : ndarray of shape (n_clips, ceil(n_frames / frame_pool), embedding_dim) \
or list of arrays of shape (ceil(n_frames_i / frame_pool), embedding_dim)
            Embedding sequence, float32; flattened to
            ``(n_clips, n_steps * embedding_dim_)`` when ``X`` was 2-D, a list of one
            sequence per clip, with its own length, when ``X`` was a list.
        """
        check_is_fitted(self, "net_")
        X3, lengths, form = self._check_X(X, reset=False)
        if lengths is None:
            E = self._embed_chunks(X3)
        else:
            X3, lengths = self._pool(X3, lengths)
            E = self._embed_steps(self._standardize(X3), lengths)
        if form == "list":
            return split_clips(E, lengths)
        return E.reshape(len(E), -1) if form == "2d" else E

    def _embed_chunks(self, X3):
        """Frame embeddings of equally long clips, pooled and standardized a chunk
        of clips at a time (a memory-mapped ``X3`` is never copied whole)."""
        n_steps = -(-X3.shape[1] // self.frame_pool)
        E = np.empty((len(X3), n_steps, self.embedding_dim_), dtype=np.float32)
        for rows, chunk in iter_chunks(X3):
            pooled, _ = self._pool(chunk)
            E[rows] = self._embed_steps(self._standardize(pooled), None)
        return E

    def _embed_steps(self, Xs, lengths):
        """Frame embeddings of pooled, standardized clips (zero past their lengths).

        Whole segments of all clips run together, then the shorter trailing pieces,
        those of one length together.
        """
        n, n_steps, _ = Xs.shape
        lengths = np.full(n, n_steps) if lengths is None else lengths
        size = self._segment_steps()
        k = lengths // size
        E = np.zeros((n, n_steps, self.embedding_dim_), dtype=np.float32)
        clip = np.repeat(np.arange(n), k)
        if len(clip):
            first = np.repeat(np.cumsum(k) - k, k)
            steps = ((np.arange(len(clip)) - first) * size)[:, None] + np.arange(size)
            E[clip[:, None], steps] = self._run(Xs[clip[:, None], steps], pooled=False)
        for r, rows in length_groups(lengths % size):
            if r:
                steps = (k[rows] * size)[:, None] + np.arange(r)
                tails = Xs[rows[:, None], steps]
                E[rows[:, None], steps] = self._run(tails, pooled=False)
        return E

    def transform_segments(self, X, *, return_index=False):
        """One embedding per training segment (0.96 s by default).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_mels) or (n_clips, n_values), \
or list of arrays of shape (n_frames_i, n_mels)
            Log-mel features; trailing frames shorter than a segment are dropped.
            A list holds clips of different lengths, each of at least
            ``segment_frames`` frames (else a ``ValueError`` names the clip).
        return_index : bool, default=False
            Also return each segment's clip (row of ``X``) and start time (s).

        Returns
        -------
        S : ndarray of shape (n_segments, segment_dim)
            Segment embeddings, clip by clip (the vectors the triplet loss compares).
        clip_index : ndarray of shape (n_segments,)
            Only with ``return_index=True``.
        start_time : ndarray of shape (n_segments,)
            Only with ``return_index=True``.
        """
        check_is_fitted(self, "net_")
        X3, lengths, _ = self._check_X(X, reset=False)
        if lengths is not None:
            check_clip_lengths(X3, lengths, self.segment_frames)
        if lengths is None:  # a chunk of clips at a time
            parts = []
            for rows, chunk in iter_chunks(X3):
                pooled, _ = self._pool(chunk)
                segments, clips, starts = self._segment(self._standardize(pooled))
                S = self._run(segments, pooled=True)
                parts.append((S, clips + rows.start, starts))
            S, clip_index, start_time = (np.concatenate(p) for p in zip(*parts))
        else:
            X3, lengths = self._pool(X3, lengths)
            segments, clip_index, start_time = self._segment(
                self._standardize(X3), lengths
            )
            S = self._run(segments, pooled=True)
        return (S, clip_index, start_time) if return_index else S
