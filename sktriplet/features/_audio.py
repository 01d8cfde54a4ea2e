"""Reading and conforming waveforms: decode, mix down, resample, pad or crop."""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np


def read_audio(path) -> tuple[np.ndarray, int]:
    """Decode an audio file into a float32 waveform ``(n_samples,)`` or ``(n_ch, n)``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file
    when it is empty or cannot be decoded. Warns (``UserWarning``) when the file holds
    fewer frames than its header announces (a truncated download or copy), giving
    both lengths.
    """
    import soundfile as sf

    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"Audio file is empty (0 bytes): {path}")
    try:
        with sf.SoundFile(str(path)) as f:
            announced = f.frames
            data = f.read(dtype="float32", always_2d=True)
            sr = f.samplerate
    except Exception as exc:  # libsndfile reports corrupt files with its own error
        raise ValueError(f"Could not decode audio file {path}: {exc}") from None
    if data.shape[0] == 0:
        raise ValueError(f"Audio file holds no samples: {path}")
    # libsndfile trims a WAV's frame count to the bytes present, so a cut-off WAV
    # only shows in its RIFF header; other formats may decode fewer frames than
    # they announce.
    announced_seconds = _wav_declared_seconds(path)
    if announced_seconds is None and data.shape[0] < announced:
        announced_seconds = announced / sr
    if announced_seconds is not None:
        warnings.warn(
            f"Audio file {path} is truncated: it holds {data.shape[0] / sr:.3f} s "
            f"({data.shape[0]} frames at {sr} Hz) but its header announces "
            f"{announced_seconds:.3f} s; only the part present is used.",
            UserWarning,
            stacklevel=2,
        )
    return data.T, int(sr)


def _wav_declared_seconds(path: Path) -> float | None:
    """Duration a RIFF/WAVE header announces when its data chunk is cut short.

    ``None`` when the file is no RIFF WAV, the header gives no usable size (streaming
    writers leave it 0 or 0xFFFFFFFF), or the data chunk is complete.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        order = "<" if head[:4] == b"RIFF" else ">"
        bytes_per_second = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id = chunk[:4]
            (chunk_size,) = struct.unpack(order + "I", chunk[4:])
            start = f.tell()
            if chunk_id == b"fmt ":
                fmt = f.read(min(chunk_size, 16))
                if len(fmt) >= 12:
                    (bytes_per_second,) = struct.unpack(order + "I", fmt[8:12])
            elif chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF) or not bytes_per_second:
                    return None
                if chunk_size <= size - start:
                    return None
                return chunk_size / bytes_per_second
            # Chunks are padded to an even number of bytes.
            f.seek(start + chunk_size + (chunk_size & 1))


# Integer PCM scaled as libsndfile (and so soundfile) scales it when a file is read
# as float: by 2 ** (bits - 1), unsigned 8-bit centred on 128 first.
_PCM_OFFSET_SCALE = {
    np.dtype(np.int8): (0, 2.0**7),
    np.dtype(np.uint8): (128, 2.0**7),
    np.dtype(np.int16): (0, 2.0**15),
    np.dtype(np.int32): (0, 2.0**31),
}


def pcm_to_float(wave: np.ndarray, *, name: str = "waveform") -> np.ndarray:
    """Integer PCM samples as float32 in [-1, 1), as soundfile reads them from files.

    int8 / 128, uint8 (x - 128) / 128, int16 / 32768, int32 / 2**31; float arrays are
    returned as float32 unchanged in value. Other integer types (int64, uint16, ...)
    have no PCM convention and raise a ``ValueError``: an int64 array usually holds
    16-bit samples that went through Python integers, and guessing wrong shifts the
    log-mel values by tens of dB without an error.
    """
    wave = np.asarray(wave)
    if wave.dtype.kind == "f":
        return wave.astype(np.float32, copy=False)
    if wave.dtype not in _PCM_OFFSET_SCALE:
        raise ValueError(
            f"{name} has integer dtype {wave.dtype}, which has no PCM scaling "
            "convention; pass int8, uint8, int16 or int32 PCM samples (e.g. "
            "x.astype(np.int16) for 16-bit audio) or floats in [-1, 1]."
        )
    offset, scale = _PCM_OFFSET_SCALE[wave.dtype]
    # Exact in float32 (a power-of-two scale), as libsndfile's own conversion.
    wave = wave.astype(np.float32)
    if offset:
        wave -= offset
    wave /= scale
    return wave


def to_mono(wave: np.ndarray, *, name: str = "waveform") -> np.ndarray:
    """Mix a ``(n_channels, n_samples)`` or ``(n_samples,)`` waveform down to mono.

    Integer samples are scaled to float first (see :func:`pcm_to_float`), so an
    int16 array gives the same result as the same samples read from a 16-bit file.
    """
    wave = np.asarray(wave)
    if wave.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numeric audio samples; got {wave.dtype}.")
    if wave.dtype.kind in "iu":
        wave = pcm_to_float(wave, name=name)
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


# libsndfile format -> the file name extensions it is written with
_FORMAT_EXTENSIONS = {
    "WAV": ("wav",),
    "WAVEX": ("wav",),
    "RF64": ("rf64",),
    "W64": ("w64",),
    "FLAC": ("flac",),
    "OGG": ("ogg", "oga", "opus"),
    "MP3": ("mp3",),
    "AIFF": ("aif", "aiff", "aifc"),
    "AU": ("au", "snd"),
    "CAF": ("caf",),
}


def audio_extensions() -> frozenset[str]:
    """The file name extensions (lower case, no dot) that soundfile reads here."""
    import soundfile as sf

    formats = sf.available_formats()
    return frozenset(
        ext
        for name, exts in _FORMAT_EXTENSIONS.items()
        if name in formats
        for ext in exts
    )


def audio_files_in(
    folder: Path, extensions: frozenset[str], _ancestors=()
) -> list[Path]:
    """Audio files under ``folder``, recursively, sorted; links followed, no cycles."""
    real = os.path.realpath(folder)
    if real in _ancestors:  # a link back up the tree
        return []
    files, folders = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):  # .git, .DS_Store, editors' files
            continue
        path = Path(entry.path)
        if entry.is_dir():  # follows symbolic links
            folders.append(path)
        elif entry.is_file() and path.suffix.lower().lstrip(".") in extensions:
            files.append(path)
    for sub in folders:
        files.extend(audio_files_in(sub, extensions, (*_ancestors, real)))
    return files
