"""A data set laid out as one folder per class, plus an optional unlabelled folder."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..features._audio import audio_extensions, audio_files_in
from ._metadata import StrPath, _check_classes

#: Folder names (compared case-insensitively) whose files are unlabelled.
UNLABELED_FOLDERS = ("unlabeled", "unlabelled")


def _check_extensions(extensions) -> frozenset[str]:
    if extensions is None:
        return audio_extensions()
    if isinstance(extensions, str):
        extensions = (extensions,)
    if not isinstance(extensions, Iterable):
        raise ValueError(
            f"extensions must be None or a list of extensions; got {extensions!r}."
        )
    extensions = list(extensions)
    bad = [e for e in extensions if not isinstance(e, str) or not e.strip(". ")]
    if bad or not extensions:
        raise ValueError(
            "extensions must be a non-empty list of file name extensions such as "
            f"['wav', '.flac']; got {extensions!r}."
        )
    return frozenset(e.strip().lstrip(".").lower() for e in extensions)


def load_audio_folder(
    root: StrPath,
    *,
    classes: Sequence[str] | None = None,
    extensions: Iterable[str] | str | None = None,
) -> Bunch:
    """Load a data set laid out as one folder per class.

    ::

        root/Dog/bark_01.wav, root/Dog/park/bark_02.flac, ...
        root/Speech/...
        root/unlabeled/...       (optional; ``unlabelled/`` also works)

    Each sub-folder of ``root`` is a class, named after the folder, and every audio
    file found in it (recursively) is a clip of that class alone (single-label). The
    files of a folder named ``unlabeled`` or ``unlabelled`` (in any case) are
    unlabelled clips. Files whose extension is not an audio one (text, images, ...),
    names starting with a dot (``.git``, ``.DS_Store``) and files directly under
    ``root`` are ignored, the last with a warning. Symbolic links are followed,
    links back up the tree are not. A class folder without audio files keeps its
    class, with a warning: its column of ``y`` is all zeros.

    Parameters
    ----------
    root : path-like
        The folder holding one sub-folder per class.
    classes : list of str, default=None
        The class names, in the column order of ``y``; a class folder outside them
        is an error, a class without a folder gets a column of zeros (to share the
        label set of another data set). None means the sorted folder names.
    extensions : list of str, default=None
        File name extensions read as audio (``"wav"`` or ``".wav"``, compared in any
        case). None means those soundfile reads here: wav, flac, ogg, oga, opus,
        aif, aiff, aifc, au, snd, caf, w64, rf64, and mp3 with libsndfile >= 1.1.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``filenames`` (ndarray of str, absolute audio paths, symbolic links
        resolved), ``y`` (int8 ndarray of shape (n_clips, n_classes): a single 1 in
        each labelled row, all ``-1`` for unlabelled clips), ``target`` (int ndarray:
        each clip's column, ``-1`` when unlabelled), ``classes`` (ndarray of str),
        ``subset`` (ndarray of str: ``"labeled"`` or ``"unlabeled"``). Labelled clips
        come first, by class then by path; unlabelled clips last.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.
    NotADirectoryError
        ``root`` is a file.
    ValueError
        ``root`` has no class folder, no audio file, or (with ``classes``) a class
        folder outside ``classes``.

    See Also
    --------
    load_weak_labels : Multi-label tags listed in metadata files.

    Examples
    --------
    >>> from sktriplet.datasets import load_audio_folder
    >>> data = load_audio_folder("my_sounds")  # doctest: +SKIP
    >>> data.classes  # doctest: +SKIP
    array(['Dog', 'Speech'], dtype='<U6')
    >>> data.y[data.target == -1][:1]  # doctest: +SKIP
    array([[-1, -1]], dtype=int8)
    """
    classes = _check_classes(classes)
    extensions = _check_extensions(extensions)
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"root folder {root} does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"root {root} is a file, not a folder.")
    class_folders, unlabeled_folders, loose = {}, [], 0
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if entry.name.lower() in UNLABELED_FOLDERS:
                unlabeled_folders.append(Path(entry.path))
            else:
                class_folders[entry.name] = Path(entry.path)
        elif Path(entry.name).suffix.lower().lstrip(".") in extensions:
            loose += 1
    if loose:
        warnings.warn(
            f"Ignoring {loose} audio file(s) directly under {root}: put each in its "
            "class folder, or in unlabeled/.",
            UserWarning,
            stacklevel=2,
        )
    if classes is None:
        if not class_folders:
            raise ValueError(
                f"{root} has no class folder: expected one sub-folder per class "
                f"({root / 'Dog' / 'bark.wav'}, ...) and optionally "
                f"{root / 'unlabeled'}/. Pass classes= to load unlabelled clips only."
            )
        classes = tuple(sorted(class_folders))
    else:
        unknown = sorted(set(class_folders) - set(classes))
        if unknown:
            raise ValueError(
                f"Class folder {class_folders[unknown[0]]} is not one of classes "
                f"{list(classes)}; add it to classes or move it out of {root}."
            )
    filenames, targets = [], []
    for index, name in enumerate(classes):
        if name not in class_folders:
            continue
        files = audio_files_in(class_folders[name], extensions)
        if not files:
            warnings.warn(
                f"Class folder {class_folders[name]} holds no audio file (extensions "
                f"{', '.join(sorted(extensions))}); its column of y is all zeros.",
                UserWarning,
                stacklevel=2,
            )
        filenames.extend(files)
        targets.extend([index] * len(files))
    for folder in unlabeled_folders:
        files = audio_files_in(folder, extensions)
        filenames.extend(files)
        targets.extend([-1] * len(files))
    if not filenames:
        raise ValueError(
            f"No audio file under {root} (extensions "
            f"{', '.join(sorted(extensions))}); pass extensions= for other ones."
        )
    target = np.asarray(targets, dtype=np.intp)
    y = np.zeros((len(target), len(classes)), dtype=np.int8)
    labeled = target >= 0
    y[np.flatnonzero(labeled), target[labeled]] = 1
    y[~labeled] = -1
    return Bunch(
        filenames=np.asarray([str(f.resolve()) for f in filenames], dtype=object),
        y=y,
        target=target,
        classes=np.asarray(classes),
        subset=np.where(labeled, "labeled", "unlabeled").astype(object),
    )
