"""Log-mel extraction speed: LogMelExtractor against a plain per-file librosa loop.

Prints, side by side in one run on the same files: clips per second, real-time factor
(seconds of audio per second of compute), ratio to the librosa loop and the largest
absolute difference from its output in dB, over all bins and over bins above -80 dB
(near the -100 dB floor both float32 pipelines are dominated by rounding of powers
around 1e-10). Timings are medians over ``--repeats``.

    python benchmarks/bench_features.py [--n-clips 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def librosa_loop(paths):
    import librosa
    import soundfile as sf

    out = []
    for p in paths:
        wave, sr = sf.read(p, dtype="float32")
        wave = np.pad(wave, (0, max(0, 441000 - len(wave))))[:441000]
        mel = librosa.feature.melspectrogram(
            y=wave,
            sr=sr,
            n_fft=2048,
            hop_length=441,
            win_length=1102,
            n_mels=64,
            center=True,
            pad_mode="constant",
        )
        out.append(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T)
    return np.stack(out)


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    from sktriplet.datasets import load_dcase2018_task4, make_domestic_soundscapes
    from sktriplet.features import LogMelExtractor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = make_domestic_soundscapes(
            Path(tmp) / "data",
            n_labeled=args.n_clips,
            n_unlabeled=0,
            n_test=0,
            n_eval=0,
            short_clip_share=0.0,
            n_jobs=2,
        )
        paths = list(load_dcase2018_task4(root, subsets=["weak"]).filenames)
        audio_seconds = 10.0 * len(paths)
        librosa_loop(paths[:2])  # warm up librosa's caches outside the timing
        rows = []
        base_t, ref = timed(lambda: librosa_loop(paths), args.repeats)
        rows.append(("librosa loop (1 process)", base_t, ref))
        for n_jobs in (1, 2):
            ext = LogMelExtractor(n_jobs=n_jobs).fit()
            t, X = timed(lambda ext=ext: ext.transform(paths), args.repeats)
            rows.append((f"LogMelExtractor n_jobs={n_jobs}", t, X))
        cache = Path(tmp) / "cache"
        ext = LogMelExtractor(n_jobs=2, memory=cache).fit()
        ext.transform(paths)  # fill the cache
        t, X = timed(lambda: ext.transform(paths), args.repeats)
        rows.append(("LogMelExtractor cached pass", t, X))

    print(f"{len(paths)} clips of 10 s, median of {args.repeats} runs")
    print(
        f"{'method':<30} {'s':>8} {'clips/s':>9} {'x real time':>12} "
        f"{'vs librosa':>11} {'max |diff| dB':>14} {'> -80 dB':>9}"
    )
    audible = ref > -80
    for name, t, X in rows:
        diff = np.abs(X - ref)
        print(
            f"{name:<30} {t:8.3f} {len(paths) / t:9.1f} {audio_seconds / t:12.0f} "
            f"{base_t / t:10.2f}x {diff.max():14.2e} {diff[audible].max():9.1e}"
        )


if __name__ == "__main__":
    main()
