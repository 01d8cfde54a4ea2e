"""Log-mel features of 10-second clips, the paper's front end."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import BACKENDS, get_active_backend
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, check_memory

from ..utils._progress import progress
from ..utils._sklearn_compat import HasMethods, Interval
from ._audio import conform, file_signature, load_clip, to_mono


def _is_path(obj) -> bool:
    return isinstance(obj, (str, os.PathLike))


class LogMelExtractor(TransformerMixin, BaseEstimator):
    """Log-mel spectrograms of audio clips, as in Turpault et al. (ICASSP 2019).

    Every clip is mixed down to mono, resampled to ``sr``, padded with zeros or
    cropped to ``duration`` seconds, and turned into ``n_mels`` log-mel energies per
    frame. With the defaults (44.1 kHz, 25 ms Hann window, 10 ms hop, centred
    frames) a 10 s clip gives exactly ``1 + 441000 // 441 = 1001`` frames of 64 bands.

    The short-time Fourier transform runs in batches with :func:`torch.stft`
    (librosa's mel filter bank, the same output as
    ``librosa.feature.melspectrogram`` followed by ``power_to_db``); files are decoded
    in ``n_jobs`` threads.

    Parameters
    ----------
    sr : int, default=44100
        Analysis sample rate in Hz; other rates are resampled to it.
    n_mels : int, default=64
        Number of mel bands.
    win_seconds : float, default=0.025
        Analysis window length in seconds (1102 samples at 44.1 kHz), zero-padded to
        ``n_fft``.
    hop_seconds : float, default=0.010
        Hop between frames in seconds (441 samples at 44.1 kHz).
    n_fft : int, default=2048
        FFT size; a power of two keeps the transform fast (a prime size such as the
        window's 1103 samples is about twice as slow).
    fmin : float, default=0.0
        Lowest mel band edge in Hz.
    fmax : float, default=None
        Highest mel band edge in Hz; ``None`` means ``sr / 2``.
    duration : float or None, default=10.0
        Clips are padded with zeros or cropped to this many seconds. ``None`` keeps
        each clip's own length: ``transform`` then returns a list of arrays when the
        lengths differ (clips of any length, see the user guide).
    input_sr : int, default=None
        Sample rate of waveforms passed as arrays; ``None`` means they are at ``sr``.
        Ignored for files, whose own rate is read from the file.
    amin : float, default=1e-10
        Floor on the mel power before the logarithm, so silence maps to a finite
        ``10 * log10(amin)`` dB (-100 dB by default).
    batch_size : int, default=8
        Clips transformed together.
    n_jobs : int, default=None
        Threads decoding and transforming batches; ``None`` means 1, ``-1`` all
        cores (joblib's convention).
    memory : str, pathlib.Path or joblib.Memory, default=None
        Cache for computed features. Files are keyed by path, size and modification
        time, arrays by content, so a ``GridSearchCV`` over a pipeline starting with
        this extractor computes features once. The cache is a store of pickles:
        loading a tampered one runs arbitrary code, so keep it in a folder only you
        can write (as :func:`~sktriplet.datasets.get_data_home` creates) and never
        share it with untrusted users.
    verbose : int, default=0
        Show a progress bar over batches when positive.

    Attributes
    ----------
    n_fft_ : int
        FFT size used.
    win_length_ : int
        Window length in samples.
    hop_length_ : int
        Hop length in samples.
    n_frames_ : int or None
        Frames per clip when ``duration`` is set.
    mel_basis_ : ndarray of shape (n_mels, n_fft // 2 + 1)
        Mel filter bank.

    See Also
    --------
    segment : Cut clip features into 0.96 s segments.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet import LogMelExtractor
    >>> waves = np.random.default_rng(0).normal(size=(2, 22050)).astype("float32")
    >>> X = LogMelExtractor(sr=22050, duration=1.0).fit_transform(waves)
    >>> X.shape, X.dtype
    ((2, 101, 64), dtype('float32'))
    """

    _parameter_constraints: dict = {
        "sr": [Interval(Integral, 1000, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "win_seconds": [Interval(Real, 0, None, closed="neither")],
        "hop_seconds": [Interval(Real, 0, None, closed="neither")],
        "n_fft": [Interval(Integral, 16, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "duration": [Interval(Real, 0, None, closed="neither"), None],
        "input_sr": [Interval(Integral, 1, None, closed="left"), None],
        "amin": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "memory": [str, os.PathLike, HasMethods(["cache"]), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sr=44100,
        n_mels=64,
        win_seconds=0.025,
        hop_seconds=0.010,
        n_fft=2048,
        fmin=0.0,
        fmax=None,
        duration=10.0,
        input_sr=None,
        amin=1e-10,
        batch_size=8,
        n_jobs=None,
        memory=None,
        verbose=0,
    ):
        self.sr = sr
        self.n_mels = n_mels
        self.win_seconds = win_seconds
        self.hop_seconds = hop_seconds
        self.n_fft = n_fft
        self.fmin = fmin
        self.fmax = fmax
        self.duration = duration
        self.input_sr = input_sr
        self.amin = amin
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Check the parameters and compute the mel filter bank.

        The extractor learns nothing from data; ``X`` and ``y`` are accepted for
        :class:`~sklearn.pipeline.Pipeline` compatibility.

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self : LogMelExtractor
        """
        import librosa

        self._validate_params()
        self.win_length_ = int(round(self.win_seconds * self.sr))
        self.hop_length_ = int(round(self.hop_seconds * self.sr))
        if self.win_length_ > self.n_fft:
            raise ValueError(
                f"win_seconds={self.win_seconds} gives {self.win_length_} samples, "
                f"more than n_fft={self.n_fft}; raise n_fft."
            )
        fmax = self.sr / 2 if self.fmax is None else float(self.fmax)
        if not self.fmin < fmax <= self.sr / 2:
            raise ValueError(
                f"Need fmin < fmax <= sr/2; got fmin={self.fmin}, fmax={fmax}, "
                f"sr={self.sr}."
            )
        self.n_fft_ = int(self.n_fft)
        self.n_samples_ = (
            None if self.duration is None else int(round(self.duration * self.sr))
        )
        self.n_frames_ = (
            None if self.n_samples_ is None else 1 + self.n_samples_ // self.hop_length_
        )
        self.mel_basis_ = librosa.filters.mel(
            sr=self.sr, n_fft=self.n_fft_, n_mels=self.n_mels, fmin=self.fmin, fmax=fmax
        ).astype(np.float32)
        return self

    def transform(self, X):
        """Compute the log-mel features of clips.

        Parameters
        ----------
        X : list of path-like, list of array-like or ndarray (n_clips, n_samples)
            Audio file paths, or waveforms (1-D mono or 2-D ``(channels, samples)``
            each) sampled at ``input_sr`` (``sr`` when ``None``). Float waveforms
            are taken as they are (full scale is 1.0); integer PCM is scaled as
            soundfile scales files read as float: int8 and int16 by 2**7 and
            2**15, int32 by 2**31, uint8 as ``(x - 128) / 128``. Other integer
            types (int64, uint16, ...) raise a ``ValueError``.

        Returns
        -------
        features : ndarray of shape (n_clips, n_frames, n_mels), dtype float32, \
or list of arrays of shape (n_frames_i, n_mels)
            Log-mel energies in dB. A 3-D array when ``duration`` is set or all
            clips have the same length; with ``duration=None`` and clips of
            different lengths, a list of one array per clip with its own
            ``1 + n_samples_i // hop_length_`` frames (at ``sr``), which every
            sktriplet estimator accepts.
        """
        check_is_fitted(self, "mel_basis_")
        kind, items = self._check_input(X)
        memory = self.memory
        memory = check_memory(os.fspath(memory) if _is_path(memory) else memory)
        if kind == "paths":
            keys = [file_signature(p) for p in items]
            return memory.cache(_extract_files, ignore=["extractor"])(
                keys, self._cache_params(), extractor=self
            )
        return memory.cache(_extract_waves, ignore=["extractor"])(
            items, self._cache_params(), extractor=self
        )

    def _cache_params(self) -> dict:
        params = self.get_params()
        for name in ("n_jobs", "memory", "verbose", "batch_size"):
            params.pop(name)
        return params

    def _check_input(self, X):
        if _is_path(X):
            raise TypeError(
                "X must be a list of audio file paths or waveforms, not a single path; "
                f"wrap it in a list: [{X!r}]."
            )
        if isinstance(X, np.ndarray) and X.dtype.kind in "iuf":
            if X.ndim == 1:
                raise ValueError(
                    "X is a 1-D array: pass a list of waveforms or a 2-D array "
                    "(n_clips, n_samples), e.g. X[np.newaxis]."
                )
            if X.ndim != 2:
                raise ValueError(
                    "X as an array must be 2-D (n_clips, n_samples); for multichannel "
                    f"clips pass a list of (channels, samples) arrays. Got {X.shape}."
                )
            items = list(X)
        else:
            try:
                items = list(X)
            except TypeError:
                raise TypeError(
                    "X must be a list of audio file paths or of waveforms; got "
                    f"{type(X).__name__}."
                ) from None
        if not items:
            raise ValueError("X is empty: need at least one clip.")
        n_paths = sum(_is_path(x) for x in items)
        if n_paths == len(items):
            return "paths", [os.fspath(x) for x in items]
        if n_paths:
            raise TypeError("X mixes file paths and waveforms; pass one kind only.")
        waves = [to_mono(w, name=f"X[{i}]") for i, w in enumerate(items)]
        return "waves", waves

    def _conform_waves(self, waves):
        orig_sr = self.sr if self.input_sr is None else int(self.input_sr)
        return [conform(w, orig_sr, self.sr, self.n_samples_) for w in waves]

    def _log_mel(self, waves: list[np.ndarray]) -> np.ndarray:
        """Log-mel of equal-length mono waveforms, in one batched STFT."""
        import torch

        with torch.no_grad():
            x = torch.from_numpy(np.stack(waves))
            window = torch.hann_window(self.win_length_, periodic=True)
            spec = torch.stft(
                x,
                n_fft=self.n_fft_,
                hop_length=self.hop_length_,
                win_length=self.win_length_,
                window=window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
            # Two mel products on the squared parts avoid materialising |X|^2 as a
            # separate complex-to-real pass (measured ~25 % faster on 2 cores).
            parts = torch.view_as_real(spec)
            basis = torch.from_numpy(self.mel_basis_)
            mel = torch.matmul(basis, parts[..., 0].square())
            mel += torch.matmul(basis, parts[..., 1].square())
            logmel = 10.0 * torch.log10(torch.clamp_min(mel, self.amin))
        return logmel.transpose(1, 2).contiguous().numpy()

    def _run_batches(self, n_clips: int, load_batch):
        bounds = [
            (start, min(start + self.batch_size, n_clips))
            for start in range(0, n_clips, self.batch_size)
        ]
        parts = list(
            progress(
                self._map_batches(load_batch, bounds),
                total=len(bounds),
                enabled=bool(self.verbose),
                desc="log-mel",
                unit="batch",
            )
        )
        if self.n_samples_ is not None:
            return np.concatenate(parts, axis=0)
        clips = [clip for part in parts for clip in part]
        if len({clip.shape for clip in clips}) == 1:
            return np.stack(clips)
        return clips

    def _map_batches(self, load_batch, bounds):
        """Features of each ``(start, stop)`` batch, in order, from ``n_jobs`` threads
        (or from the joblib backend of an enclosing ``joblib.parallel_config``).

        An interrupt (or any error) cancels the batches not started and waits for
        the running ones before it propagates: a worker thread still inside torch
        when the interpreter exits aborts the whole process ("terminate called
        without an active exception"), losing the clean exit status of an
        interrupted command.
        """
        backend, _ = get_active_backend(prefer="threads")
        if not isinstance(backend, BACKENDS["threading"]):
            # Another joblib backend (a Dask cluster, processes) runs the batches.
            parallel = Parallel(
                n_jobs=self.n_jobs, prefer="threads", return_as="generator"
            )
            yield from parallel(
                delayed(self._transform_batch)(load_batch, start, stop)
                for start, stop in bounds
            )
            return
        n_jobs = effective_n_jobs(self.n_jobs)
        if n_jobs == 1:
            for start, stop in bounds:
                yield self._transform_batch(load_batch, start, stop)
            return
        executor = ThreadPoolExecutor(max_workers=n_jobs)
        try:
            futures = [
                executor.submit(self._transform_batch, load_batch, start, stop)
                for start, stop in bounds
            ]
            for future in futures:
                yield future.result()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _transform_batch(self, load_batch, start: int, stop: int):
        """Features of a batch: one array, or per clip without ``duration``."""
        waves = load_batch(start, stop)
        if self.n_samples_ is not None:
            return self._log_mel(waves)
        clips = [None] * len(waves)
        sizes = np.array([len(w) for w in waves])
        for size in np.unique(sizes):  # equal lengths share one STFT
            rows = np.flatnonzero(sizes == size)
            for row, feats in zip(rows, self._log_mel([waves[i] for i in rows])):
                clips[row] = feats
        return clips


def _extract_files(keys, params, extractor: LogMelExtractor):
    paths = [k[0] for k in keys]

    def load_batch(start, stop):
        return [
            load_clip(p, extractor.sr, extractor.n_samples_) for p in paths[start:stop]
        ]

    return extractor._run_batches(len(paths), load_batch)


def _extract_waves(waves, params, extractor: LogMelExtractor):
    def load_batch(start, stop):
        return extractor._conform_waves(waves[start:stop])

    return extractor._run_batches(len(waves), load_batch)
