"""The ``sktriplet`` command line: data synthesis, feature caching, experiments."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from ._cli_models import add_parsers as add_model_parsers
from .utils._files import (
    atomic_path,
    check_writable_dir,
    check_writable_file,
    describe_os_error,
)
from .utils._interrupt import UserInterrupt
from .utils._labels import labeled_mask


class _Terminated(UserInterrupt):
    """SIGTERM, raised like Ctrl-C so every layer stops the same way."""


def _add_synth(sub):
    p = sub.add_parser(
        "synth",
        help="write the embedded synthetic soundscapes in the DCASE 2018 Task 4 layout",
        description="Synthesise domestic soundscapes laid out like DCASE 2018 Task 4.",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--n-labeled", type=int, default=60, help="weakly labelled clips")
    p.add_argument("--n-unlabeled", type=int, default=540, help="unlabelled clips")
    p.add_argument(
        "--n-test", type=int, default=60, help="strongly labelled test clips"
    )
    p.add_argument(
        "--n-eval", type=int, default=100, help="strongly labelled eval clips"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--n-jobs", type=int, default=None, help="worker processes")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=_run_synth)


def _run_synth(args) -> int:
    from .datasets import load_dcase2018_task4, make_domestic_soundscapes
    from .datasets._embedded import subsets_with_clips

    out = args.out
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, expected a folder.")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise FileExistsError(
            f"--out {out} exists and is not empty; pass --overwrite to replace it."
        )
    # Clips are written next to --out and moved into place at the end.
    check_writable_dir(out.parent.resolve(), name="the folder of --out")
    args.resume_hint = f"nothing was written to {out}"
    start = time.perf_counter()
    root = make_domestic_soundscapes(
        args.out,
        n_labeled=args.n_labeled,
        n_unlabeled=args.n_unlabeled,
        n_test=args.n_test,
        n_eval=args.n_eval,
        overwrite=args.overwrite,
        n_jobs=args.n_jobs,
        verbose=1,
        random_state=args.seed,
    )
    data = load_dcase2018_task4(
        root,
        subsets_with_clips(
            {
                "n_labeled": args.n_labeled,
                "n_unlabeled": args.n_unlabeled,
                "n_test": args.n_test,
                "n_eval": args.n_eval,
            }
        ),
    )
    print(
        f"wrote {len(data.filenames)} clips to {root} in "
        f"{time.perf_counter() - start:.1f} s"
    )
    _print_summary(data)
    return 0


def _print_summary(data, X=None) -> None:
    subsets, counts = np.unique(data.subset, return_counts=True)
    print("clips per subset: " + ", ".join(f"{s} {c}" for s, c in zip(subsets, counts)))
    labeled = data.y[labeled_mask(data.y)]
    width = max(len(c) for c in data.classes)
    print(f"{'class':<{width}}  labelled clips")
    for name, n in zip(data.classes, labeled.sum(axis=0)):
        print(f"{name:<{width}}  {int(n)}")
    if X is not None:
        from .utils._chunks import iter_chunks

        # chunk by chunk: a feature store's X may be bigger than memory
        ranges = [(c.min(), c.max()) for _, c in iter_chunks(X, dtype=X.dtype)]
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        print(
            f"features: {X.shape} {X.dtype}, {X.nbytes / 2**20:.1f} MiB, "
            f"range [{low:.1f}, {high:.1f}] dB"
        )


def _add_features(sub):
    p = sub.add_parser(
        "features",
        help="extract and cache log-mel features of a DCASE 2018 Task 4 root",
        description="Extract log-mel features (the paper's settings) of every clip of "
        "a DCASE 2018 Task 4 root and save them with the labels: to an .npz file, or "
        "to a feature store folder (X.npy read as a memory map), written chunk by "
        "chunk so that running the same command again after an interrupt resumes.",
    )
    p.add_argument("root", type=Path, help="DCASE 2018 Task 4 root (holding dataset/)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output: a file ending in .npz, or else a feature store folder",
    )
    p.add_argument(
        "--subsets",
        nargs="+",
        default=["weak", "unlabel_in_domain", "test", "eval"],
        help="subsets to extract (default: weak unlabel_in_domain test eval)",
    )
    p.add_argument("--n-jobs", type=int, default=2, help="threads (default 2)")
    p.add_argument(
        "--on-missing",
        choices=["raise", "skip"],
        default="raise",
        help="missing audio files: fail (default) or skip with a warning",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float16"],
        default="float32",
        help="storage type (default float32); float16 halves the size, rounding "
        "log-mel values by at most 1/32 dB",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="store only: files extracted between two records of progress "
        "(default 256)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="store only: replace a store of other files or settings",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786): files go to its workers, which "
        "must see them at the same paths, and the features come back here",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the scheduler and a worker (default 5)",
    )
    p.set_defaults(func=_run_features)


def _run_features(args) -> int:
    from .datasets import load_dcase2018_task4
    from .features import LogMelExtractor

    to_npz = args.out.suffix.lower() == ".npz"
    if to_npz and (args.chunk_size is not None or args.overwrite):
        raise ValueError(
            "--chunk-size and --overwrite apply to a feature store folder, not to "
            f"an .npz file (--out {args.out})."
        )
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be positive; got {args.chunk_size}.")
    if not args.connect_timeout > 0:
        raise ValueError(
            f"--connect-timeout must be positive; got {args.connect_timeout}."
        )
    if to_npz:
        check_writable_file(args.out, name="--out")
        args.resume_hint = f"nothing was written to {args.out}"
    else:
        check_writable_dir(args.out.parent.resolve(), name="the folder of --out")
        args.resume_hint = (
            f"finished chunks are kept in {args.out}; run the same command again "
            "to resume"
        )
    start = time.perf_counter()
    data = load_dcase2018_task4(args.root, args.subsets, on_missing=args.on_missing)
    extractor = LogMelExtractor(n_jobs=args.n_jobs, verbose=int(to_npz))
    with _dask_scheduler(args.scheduler, args.connect_timeout):
        if to_npz:
            X = extractor.fit_transform(list(data.filenames))
            X = X.astype(args.dtype, copy=False)
            save_features(args.out, X=X, data=data)
        else:
            X = _write_store(args, data, extractor)
    elapsed = time.perf_counter() - start
    if to_npz:
        print(
            f"extracted {len(X)} clips in {elapsed:.1f} s "
            f"({len(X) / elapsed:.1f} clips/s) -> {args.out}"
        )
    else:
        print(f"feature store {args.out}: {len(X)} clips, {elapsed:.1f} s")
    _print_summary(data, X)
    return 0


def _write_store(args, data, extractor):
    from .features import write_feature_store

    store = write_feature_store(
        args.out,
        list(data.filenames),
        extractor=extractor,
        y=data.y,
        classes=data.classes,
        subset=data.subset,
        dtype=args.dtype,
        chunk_size=256 if args.chunk_size is None else args.chunk_size,
        overwrite=args.overwrite,
        verbose=1,
    )
    return store.X


@contextmanager
def _dask_scheduler(address, timeout: float):
    """Run joblib's work on the Dask cluster at ``address`` (none: stay local)."""
    if address is None:
        yield
        return
    from .utils._dask import dask_backend

    with ExitStack() as stack:
        try:
            nthreads = stack.enter_context(dask_backend(address, timeout=timeout))
        except ImportError as exc:
            raise ValueError(f"--scheduler: {exc}") from None
        print(
            f"extracting on the Dask scheduler at {address}: {len(nthreads)} "
            f"worker(s), {sum(nthreads.values())} thread(s)"
        )
        yield


def save_features(path, *, X, data) -> None:
    """Write features and labels to ``path`` (.npz) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            X=X,
            y=data.y,
            classes=np.asarray(data.classes, dtype=str),
            filenames=np.asarray(data.filenames, dtype=str),
            subset=np.asarray(data.subset, dtype=str),
        )


def _add_reproduce(sub):
    p = sub.add_parser(
        "reproduce",
        help="re-run the paper's experiments (Tables 2 and 3) with tables and plots",
        description="Re-run Turpault et al. (ICASSP 2019) end to end: Table 2 "
        "(strategies S1-S5 at several triplet counts, the CRNN baseline, the "
        "classifier on log-mel, and rows beyond the paper) and Table 3 (S2 and S3 "
        "by labelled share). Results go to --out; a re-run skips finished cells.",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a DCASE 2018 Task 4 root, or its features (the .npz file or store "
        "folder written by 'sktriplet features'); or your own data: a folder with one "
        "sub-folder per class (and optionally unlabeled/) or a CSV/TSV metadata "
        "file, each class's labelled clips split by --seed into 50%% weak, 20%% "
        "test, 30%% eval (3 clips per class at least), clips padded or cropped to "
        "the longest one (1-10 s); default: generate the embedded soundscapes",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("sktriplet_results"),
        help="output folder (default: sktriplet_results)",
    )
    p.add_argument(
        "--preset",
        choices=["cpu", "paper", "quick"],
        default="cpu",
        help="cpu (default): Table 2 on the small embedded data (the paper's "
        "S1-S3 and the one-liner at its defaults; 3 seeds, 1 for S1 and S3), "
        "under 25 min on 2 cores; paper: the paper's "
        "triplet counts and Table 3 on DCASE-proportioned data (GPU advised); "
        "quick: a smoke run",
    )
    p.add_argument(
        "--table",
        choices=["2", "3", "all"],
        default=None,
        help="which table to run (default: the preset's)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="factor on the paper's triplet counts per epoch (default: the "
        "preset's; cpu: 2,048 / 31,560)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="seeds per cell (default: the preset's, 3)",
    )
    p.add_argument(
        "--strategies",
        nargs="+",
        choices=["s1", "s2", "s3", "s4", "s5"],
        default=None,
        help="Table 2's strategy rows (default: the preset's; cpu: s1 s2 s3, "
        "others: all five)",
    )
    p.add_argument(
        "--side-repeats",
        type=int,
        default=None,
        help="seeds of Table 2's side rows, the strategies other than S2 and "
        "the extra rows (default: the preset's; cpu: 1, others: --repeats)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (default), cpu, cuda, cuda:1, ...",
    )
    p.add_argument(
        "--n-jobs",
        type=int,
        default=2,
        help="feature threads and cells run at once on the CPU (default 2)",
    )
    p.add_argument(
        "--embedder-epochs",
        type=int,
        default=None,
        help="epochs of each triplet embedder (default: TripletEmbedder's, 30; "
        "1 with --preset quick)",
    )
    p.add_argument(
        "--tagger-epochs",
        type=int,
        default=None,
        help="epochs of each tagger, the best on 'test' kept (default: the "
        "taggers', 60; 4 with --preset quick)",
    )
    p.add_argument(
        "--frame-pool",
        type=int,
        default=10,
        help="mean-pool the input frames of embedders and baselines by this "
        "factor (default 10; 1 = the paper's resolution, about 15x slower per epoch)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="same as --preset quick",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="discard results of another configuration in --out",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="data and feature cache (default: $SKTRIPLET_DATA or ~/.cache/sktriplet)",
    )
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args) -> int:
    from .experiments import reproduce

    tables = {None: None, "all": ("2", "3")}.get(args.table, (args.table,))
    epochs = {
        name: value
        for name, value in (
            ("embedder_epochs", args.embedder_epochs),
            ("tagger_epochs", args.tagger_epochs),
        )
        if value is not None
    }
    args.resume_hint = (
        f"finished cells are kept in {args.out / 'results.csv'}; run the same "
        "command again to resume"
    )
    reproduce(
        args.data,
        args.out,
        preset=args.preset,
        tables=tables,
        scale=args.scale,
        repeats=args.repeats,
        seed=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        quick=args.quick,
        force=args.force,
        cache_dir=args.cache_dir,
        frame_pool=args.frame_pool,
        side_repeats=args.side_repeats,
        strategies=None if args.strategies is None else tuple(args.strategies),
        **epochs,
    )
    print(f"results, tables and plots in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="sktriplet",
        description="Semi-supervised triplet-loss audio embeddings and sound tagging.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sktriplet {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    data = sub.add_parser("data", help="data set tools", description="Data set tools.")
    data_sub = data.add_subparsers(dest="data_command", metavar="COMMAND")
    _add_synth(data_sub)
    _add_features(sub)
    _add_reproduce(sub)
    add_model_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sktriplet`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    previous = _stop_on_sigterm()
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"sktriplet: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"sktriplet: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        hint = getattr(args, "resume_hint", None)
        print(
            f"sktriplet: {'terminated' if terminated else 'interrupted'}"
            + (f"; {hint}" if hint else ""),
            file=sys.stderr,
        )
        return 143 if terminated else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame):
    raise _Terminated()


def _stop_on_sigterm():
    """Turn SIGTERM into an exception (main thread only); returns the old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
