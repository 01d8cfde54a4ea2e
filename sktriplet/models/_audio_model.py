"""A trained model as one file: features, embedder, optional tagger, class names."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..features import LogMelExtractor
from ..utils._files import atomic_path, check_writable_file

#: What ``save`` writes around the model, so ``load`` recognises its files.
FILE_FORMAT = "sktriplet-audio-model"
FORMAT_VERSION = 1


def _major(version: str) -> str:
    return re.split(r"[.+]", str(version))[0]


class AudioModel:
    """A fitted embedder (and tagger) with the feature settings they were trained on.

    What the command line (``sktriplet fit``, ``embed``, ``tag``, ``search``) and
    the HEAR API (:mod:`sktriplet.hear`) work with: audio files or waveforms of any
    length and sample rate go in, time-stamped embeddings, clip (scene) embeddings
    and tag probabilities come out.

    Parameters
    ----------
    extractor : LogMelExtractor
        Feature settings; its ``duration`` is ignored (every clip keeps its length).
    embedder : TripletEmbedder
        Fitted embedder.
    tagger : SequenceTagger or CRNNTagger, default=None
        Fitted tagger on the embedder's sequences (None: embeddings only).
    classes : sequence of str, default=None
        Class names of the tagger's columns.

    Attributes
    ----------
    version : str
        sktriplet version that built the model.
    step_seconds : float
        Time between two embedding vectors of a sequence.

    Examples
    --------
    >>> from sktriplet.models import AudioModel
    >>> model = AudioModel.load("model.skt")  # doctest: +SKIP
    >>> times, E = model.embed_file("dog.wav")  # doctest: +SKIP
    """

    def __init__(self, extractor, embedder, tagger=None, classes=None):
        check_is_fitted(embedder, "net_")
        if tagger is not None:
            check_is_fitted(tagger)
            if classes is None or len(classes) != len(tagger.classes_):
                raise ValueError(
                    "classes must name each of the tagger's "
                    f"{len(tagger.classes_)} columns."
                )
        self.extractor = LogMelExtractor(
            # One file at a time, quietly: the callers show their own progress.
            **{
                **extractor.get_params(),
                "duration": None,
                "memory": None,
                "verbose": 0,
                "n_jobs": None,
            }
        ).fit()
        self.embedder = embedder
        self.tagger = tagger
        self.classes = None if classes is None else [str(c) for c in classes]
        self.version = __version__

    # -- properties ----------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.extractor.sr)

    @property
    def embedding_size(self) -> int:
        return int(self.embedder.embedding_dim_)

    @property
    def step_seconds(self) -> float:
        return float(self.extractor.hop_seconds) * int(self.embedder.frame_pool)

    @property
    def min_seconds(self) -> float:
        """Shortest clip the embedder takes: one pooled step of frames."""
        return self.step_seconds

    # -- embeddings ----------------------------------------------------------------
    def embed_waveforms(self, waves, sr: int | None = None):
        """Time-stamped embeddings of waveforms of one length.

        Parameters
        ----------
        waves : array-like of shape (n_sounds, n_samples), or a list of 1-D or
            ``(n_channels, n_samples)`` arrays of one length
            Audio; integer PCM is scaled like files are.
        sr : int, default=None
            Their sample rate (``sample_rate`` when None).

        Returns
        -------
        times : ndarray of shape (n_steps,)
            Centre of each step in seconds.
        embeddings : ndarray of shape (n_sounds, n_steps, embedding_size), float32
        """
        extractor = self.extractor
        if sr is not None and sr != extractor.sr:
            extractor = LogMelExtractor(
                **{**extractor.get_params(), "input_sr": int(sr)}
            ).fit()
        return self._embed_features(extractor.transform(waves))

    def embed_file(self, path):
        """Time-stamped embeddings of one audio file.

        Returns
        -------
        times : ndarray of shape (n_steps,)
            Centre of each step in seconds.
        embeddings : ndarray of shape (n_steps, embedding_size), float32
        """
        times, E = self._embed_features(self.extractor.transform([os.fspath(path)]))
        return times, E[0]

    def _embed_features(self, X):
        n_frames = X.shape[1]
        min_frames = int(self.embedder.frame_pool)
        if n_frames < min_frames:
            raise ValueError(
                f"The audio is {n_frames} frames long ("
                f"{n_frames * self.extractor.hop_seconds:.3f} s); the model needs at "
                f"least {min_frames} ({self.min_seconds:.2f} s)."
            )
        E = self.embedder.transform(X)
        # Centred frames put one extra frame at the very end: a last step of
        # fewer than half its frames would get a time stamp past the audio.
        tail = n_frames - (E.shape[1] - 1) * min_frames
        if E.shape[1] > 1 and tail < min_frames / 2:
            E = E[:, :-1]
        return self.step_times(E.shape[1]), E

    def step_times(self, n_steps: int) -> np.ndarray:
        """Centre times (s) of ``n_steps`` consecutive embedding vectors.

        Step ``i`` averages frames ``i * frame_pool`` to ``(i + 1) * frame_pool -
        1``, and frame ``j`` is centred at ``j * hop_seconds`` (centred STFT
        frames): 0.045, 0.145, 0.245... s with the defaults.
        """
        pool = int(self.embedder.frame_pool)
        hop = float(self.extractor.hop_seconds)
        return (np.arange(n_steps) * pool + (pool - 1) / 2) * hop

    @staticmethod
    def scene_embedding(E: np.ndarray) -> np.ndarray:
        """Clip vectors from sequences ``(..., n_steps, dim)``: mean and maximum."""
        E = np.asarray(E, dtype=np.float32)
        return np.concatenate([E.mean(axis=-2), E.max(axis=-2)], axis=-1)

    @property
    def scene_embedding_size(self) -> int:
        return 2 * self.embedding_size

    # -- tags ----------------------------------------------------------------------
    def tag_proba(self, E: np.ndarray) -> np.ndarray:
        """Clip probabilities of each class from one embedding sequence."""
        if self.tagger is None:
            raise ValueError(
                "This model has no tagger: it was trained without labels. Train it "
                "on labelled clips (sktriplet fit on a labelled data set)."
            )
        return self.tagger.predict_proba(np.asarray(E)[np.newaxis])[0]

    def tag_decision(self, proba: np.ndarray) -> np.ndarray:
        """Tag decisions (0/1 per class) of :meth:`tag_proba` probabilities."""
        decided = self.tagger.predict_from_proba(np.atleast_2d(proba))[0]
        if not self.tagger.multilabel_:  # a 1-D fit names one class per clip
            decided = (self.tagger.classes_ == decided).astype(np.int64)
        return decided

    # -- files ---------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the model to ``path`` (atomically: a temporary name, then a rename).

        The file is a joblib pickle: load only model files you trust.
        """
        import joblib

        path = check_writable_file(path, name="path")
        payload = {
            "format": FILE_FORMAT,
            "format_version": FORMAT_VERSION,
            "sktriplet_version": __version__,
            "model": self,
        }
        with atomic_path(path) as tmp:
            joblib.dump(payload, tmp)
        return path

    @classmethod
    def load(cls, path) -> AudioModel:
        """Read a model written by :meth:`save`.

        Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a
        file that is not an sktriplet model or comes from another major version.
        Loading runs pickled code: load only files you trust.
        """
        import joblib

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Model file not found: {path}")
        try:
            payload = joblib.load(path)
        except Exception as exc:  # any unpickling failure means "not a model"
            raise ValueError(
                f"{path} is not an sktriplet model file ({type(exc).__name__}: "
                f"{exc}); write one with `sktriplet fit` or AudioModel.save."
            ) from None
        if not (isinstance(payload, dict) and payload.get("format") == FILE_FORMAT):
            raise ValueError(
                f"{path} is not an sktriplet model file; write one with "
                "`sktriplet fit` or AudioModel.save."
            )
        saved = str(payload.get("sktriplet_version"))
        if payload.get("format_version") != FORMAT_VERSION or _major(saved) != _major(
            __version__
        ):
            raise ValueError(
                f"{path} was written by sktriplet {saved} (model format "
                f"{payload.get('format_version')}); this is sktriplet {__version__} "
                f"(format {FORMAT_VERSION}). Retrain the model with this version or "
                f"install sktriplet {saved}."
            )
        return payload["model"]
