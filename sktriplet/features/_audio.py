"""Reading and conforming waveforms: decode, mix down, resample, pad or crop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def read_audio(path) -> tuple[np.ndarray, int]:
    """Decode an audio file into a float32 waveform ``(n_samples,)`` or ``(n_ch, n)``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file
    when it is empty or cannot be decoded.
    """
    import soundfile as sf

    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"Audio file is empty (0 bytes): {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile reports corrupt files with its own error
        raise ValueError(f"Could not decode audio file {path}: {exc}") from None
    if data.shape[0] == 0:
        raise ValueError(f"Audio file holds no samples: {path}")
    return data.T, int(sr)


def to_mono(wave: np.ndarray, *, name: str = "waveform") -> np.ndarray:
    """Mix a ``(n_channels, n_samples)`` or ``(n_samples,)`` waveform down to mono."""
    wave = np.asarray(wave)
    if wave.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numeric audio samples; got {wave.dtype}.")
    if wave.ndim == 2:
        # Channels-first unless that is clearly the long axis (soundfile's layout).
        if wave.shape[0] > wave.shape[1]:
            wave = wave.T
        wave = wave.mean(axis=0)
    elif wave.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (mono) or 2-D (channels, samples); got shape "
            f"{wave.shape}."
        )
    wave = wave.astype(np.float32, copy=False)
    if wave.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.isfinite(wave).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return wave


def conform(
    wave: np.ndarray, orig_sr: int, sr: int, n_samples: int | None
) -> np.ndarray:
    """Resample ``wave`` to ``sr`` and pad with zeros or crop to ``n_samples``."""
    if orig_sr != sr:
        import librosa

        wave = librosa.resample(wave, orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq")
    if n_samples is not None:
        if wave.shape[0] < n_samples:
            wave = np.pad(wave, (0, n_samples - wave.shape[0]))
        else:
            wave = wave[:n_samples]
    return np.ascontiguousarray(wave, dtype=np.float32)


def load_clip(path, sr: int, n_samples: int | None) -> np.ndarray:
    """Read one file as a mono waveform at ``sr`` padded or cropped to ``n_samples``."""
    wave, orig_sr = read_audio(path)
    return conform(to_mono(wave, name=f"audio file {path}"), orig_sr, sr, n_samples)


def file_signature(path) -> tuple[str, int, int]:
    """(path, size, mtime_ns): what a feature cache keys a file on."""
    st = os.stat(path)
    return (os.fspath(path), st.st_size, st.st_mtime_ns)
