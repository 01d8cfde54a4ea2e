"""``sktriplet fit | embed | tag | search``: from a folder of audio to a model file,
embeddings, tags and similar clips."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from .utils._files import check_writable_dir, check_writable_file
from .utils._labels import labeled_mask
from .utils._progress import progress


def add_parsers(sub) -> None:
    _add_fit(sub)
    _add_embed(sub)
    _add_tag(sub)
    _add_search(sub)


# -- fit -------------------------------------------------------------------------------
def _add_fit(sub):
    p = sub.add_parser(
        "fit",
        help="train an embedder (and a tagger when there are labels) on your audio",
        description="Train a TripletEmbedder, and a SequenceTagger on top when the "
        "data has labels, and save both with the feature settings in one model file. "
        "DATA is a folder with one sub-folder per class (and optionally "
        "'unlabeled/'), a DCASE 2018 Task 4 root, or a metadata file (.csv/.tsv "
        "with filename and event_labels, or onset/offset/event_label, columns).",
    )
    p.add_argument("data", type=Path, help="folder, DCASE root or metadata file")
    p.add_argument("--out", required=True, type=Path, help="model file to write")
    p.add_argument("--strategy", default="s2", help="triplet strategy s1..s5 (s2)")
    p.add_argument("--n-triplets", type=int, default=None, help="triplets per epoch")
    p.add_argument("--max-epochs", type=int, default=None, help="embedder epochs")
    p.add_argument(
        "--batch-size", type=int, default=None, help="triplets per batch (64)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="crop or pad training files to this many seconds (default: keep)",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda...")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--n-jobs", type=int, default=2, help="decoding threads (2)")
    p.add_argument("--overwrite", action="store_true", help="replace --out")
    p.set_defaults(func=_run_fit)


def _load_training_data(path: Path):
    from .datasets import load_audio_folder, load_dcase2018_task4, load_weak_labels
    from .datasets._dcase import DatasetLayoutError, dataset_dir

    if path.is_file():
        return load_weak_labels(path)
    if not path.is_dir():
        raise FileNotFoundError(f"No such file or folder: {path}")
    try:
        dataset_dir(path)
    except DatasetLayoutError:
        return load_audio_folder(path)
    return load_dcase2018_task4(path, ("weak", "unlabel_in_domain"))


def _run_fit(args) -> int:
    from .models import train_audio_model

    out = check_writable_file(args.out, name="--out")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"--out {out} exists; pass --overwrite to replace it.")
    args.resume_hint = f"nothing was written to {out}"
    start = time.perf_counter()
    data = _load_training_data(args.data)
    labelled = int(labeled_mask(data.y).sum())
    print(
        f"{len(data.filenames)} files, {labelled} labelled, "
        f"{len(data.classes)} classes: {', '.join(map(str, data.classes))}"
    )
    params = {
        k: v
        for k, v in (
            ("n_triplets", args.n_triplets),
            ("max_epochs", args.max_epochs),
            ("batch_size", args.batch_size),
        )
        if v is not None
    }
    model = train_audio_model(
        data.filenames,
        data.y,
        list(data.classes),
        strategy=args.strategy,
        duration=args.duration,
        embedder_params={"device": args.device, **params},
        tagger_params={"device": args.device},
        n_jobs=args.n_jobs,
        verbose=1,
        random_state=args.seed,
    )
    model.save(out)
    what = "embedder and tagger" if model.tagger is not None else "embedder"
    print(f"trained the {what} in {time.perf_counter() - start:.1f} s -> {out}")
    return 0


# -- embed / tag ----------------------------------------------------------------------
def _add_inputs(p):
    p.add_argument("model", type=Path, help="model file written by `sktriplet fit`")
    p.add_argument("paths", nargs="+", type=Path, help="audio files or folders")


def _add_embed(sub):
    p = sub.add_parser(
        "embed",
        help="time-stamped embeddings of audio files",
        description="Embed audio files (folders are searched recursively; any "
        "format libsndfile reads, any length and sample rate). The .npz holds "
        "'filenames', and per embedding row 'file_index', 'times' (centre, in "
        "seconds) and 'embeddings'; with --scene also 'scene' (one row per file: "
        "mean and maximum over time). A .parquet file holds one row per time stamp "
        "(needs pyarrow).",
    )
    _add_inputs(p)
    p.add_argument("--out", required=True, type=Path, help="output .npz or .parquet")
    p.add_argument(
        "--hop",
        type=float,
        default=None,
        help="seconds between embeddings, a multiple of the model's step (default: "
        "the step, 0.1 s for the default frame_pool)",
    )
    p.add_argument("--scene", action="store_true", help="add one vector per file")
    p.set_defaults(func=_run_embed)


def _embed_all(model, files, verbose=True):
    """``(times, E)`` of each file, with a progress bar."""
    return [
        model.embed_file(f)
        for f in progress(files, enabled=verbose, desc="embedding", unit="file")
    ]


def _run_embed(args) -> int:
    from .models import AudioModel
    from .models._files import (
        check_parquet_writer,
        find_audio_files,
        pool_steps,
        write_npz,
        write_parquet,
    )

    out = check_writable_file(args.out, name="--out")
    if out.suffix not in (".npz", ".parquet"):
        raise ValueError(f"--out {out} must end in .npz or .parquet.")
    if out.suffix == ".parquet":
        check_parquet_writer(out)
    model = AudioModel.load(args.model)
    files = find_audio_files(args.paths)
    args.resume_hint = f"nothing was written to {out}"
    rows = [
        pool_steps(t, E, model.step_seconds, args.hop)
        for t, E in _embed_all(model, files)
    ]
    names = np.asarray([str(f) for f in files])
    index = np.concatenate([np.full(len(E), i) for i, (_, E) in enumerate(rows)])
    times = np.concatenate([t for t, _ in rows])
    E = np.concatenate([E for _, E in rows])
    if out.suffix == ".npz":
        arrays = {"filenames": names, "file_index": index, "times": times}
        arrays["embeddings"] = E
        if args.scene:
            arrays["scene"] = np.stack([model.scene_embedding(e) for _, e in rows])
        write_npz(out, **arrays)
    else:
        columns = {"filename": names[index], "time": times}
        columns.update({f"e{j}": E[:, j] for j in range(E.shape[1])})
        write_parquet(out, columns)
    print(f"{len(E)} embeddings of {len(files)} files -> {out}")
    return 0


def _add_tag(sub):
    p = sub.add_parser(
        "tag",
        help="class probabilities and tags of audio files",
        description="Tag audio files with a model trained on labelled data: one CSV "
        "row per file with each class's probability and the decided tags.",
    )
    _add_inputs(p)
    p.add_argument("--out", required=True, type=Path, help="output .csv")
    p.set_defaults(func=_run_tag)


def _run_tag(args) -> int:
    from .models import AudioModel
    from .models._files import find_audio_files, write_csv

    out = check_writable_file(args.out, name="--out")
    model = AudioModel.load(args.model)
    if model.tagger is None:
        raise ValueError(
            f"{args.model} has no tagger (it was trained without labels): train it "
            "on labelled data to tag, or use `sktriplet embed`."
        )
    files = find_audio_files(args.paths)
    args.resume_hint = f"nothing was written to {out}"
    lines = []
    for f, (_, E) in zip(files, _embed_all(model, files)):
        proba = model.tag_proba(E)
        decided = model.tag_decision(proba)
        tags = ";".join(c for c, d in zip(model.classes, decided) if d)
        lines.append([str(f), *[f"{p:.4f}" for p in proba], tags])
    write_csv(out, ["filename", *model.classes, "tags"], lines)
    print(f"tagged {len(files)} files -> {out}")
    return 0


# -- search ---------------------------------------------------------------------------
def _add_search(sub):
    p = sub.add_parser(
        "search",
        help="the clips of a collection most similar to a query clip",
        description="Embed every audio file of COLLECTION once (clip embeddings: "
        "mean and maximum over time), index them, and list the K files closest to "
        "QUERY. The index is cached (--index-dir) and rebuilt when the model or a "
        "file of the collection changes.",
    )
    p.add_argument("model", type=Path, help="model file written by `sktriplet fit`")
    p.add_argument("collection", type=Path, nargs="+", help="folder(s) or files")
    p.add_argument("query", type=Path, help="query audio file")
    p.add_argument("-k", type=int, default=10, help="neighbours to list (10)")
    p.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="where indexes are cached (default: $SKTRIPLET_DATA/indexes)",
    )
    p.set_defaults(func=_run_search)


def _collection_key(model_path: Path, files) -> str:
    """Changes when the model or any file of the collection changes."""
    digest = hashlib.sha256()
    for path in [model_path, *files]:
        st = Path(path).stat()
        digest.update(
            f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:24]


def _collection_index(args, model, files):
    from .datasets import get_data_home
    from .neighbors import EmbeddingIndex

    folder = args.index_dir or get_data_home() / "indexes"
    folder = check_writable_dir(folder, name="--index-dir")
    path = folder / f"{_collection_key(args.model, files)}.skindex"
    if path.exists():
        return EmbeddingIndex.load(path)
    scenes = np.stack([model.scene_embedding(E) for _, E in _embed_all(model, files)])
    index = EmbeddingIndex().fit(scenes, filenames=[str(f) for f in files])
    index.save(path)
    return index


def _run_search(args) -> int:
    from .models import AudioModel
    from .models._files import find_audio_files

    if args.k < 1:
        raise ValueError(f"-k must be >= 1; got {args.k}.")
    if not args.query.is_file():
        raise FileNotFoundError(f"Query file not found: {args.query}")
    model = AudioModel.load(args.model)
    files = find_audio_files(args.collection)
    index = _collection_index(args, model, files)
    _, E = model.embed_file(args.query)
    query = model.scene_embedding(E)[np.newaxis]
    k = min(args.k, len(files))
    dist, idx = index.kneighbors(query, n_neighbors=k)
    print(f"{k} files of {len(files)} closest to {args.query}:")
    width = len(str(k))
    for rank, (d, i) in enumerate(zip(dist[0], idx[0]), start=1):
        print(f"{rank:>{width}}  {d:.4f}  {files[i]}")
    return 0
