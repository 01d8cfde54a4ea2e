"""The HEAR 2021 API (Turian et al., Holistic Evaluation of Audio Representations).

Any model written by ``sktriplet fit`` (an :class:`~sktriplet.models.AudioModel`
file) can be evaluated with the HEAR benchmark's tools::

    from sktriplet import hear
    model = hear.load_model("model.skt")
    emb, ts = hear.get_timestamp_embeddings(audio, model)  # audio: (n_sounds, n)
    scene = hear.get_scene_embeddings(audio, model)

``audio`` is a float tensor of mono sounds at ``model.sample_rate`` (44.1 kHz for
the paper's features); any length from one embedding step (0.1 s with the default
``frame_pool=10``) up. Time stamps are the centres of the embedding steps in
milliseconds, evenly spaced by ``model.hop_ms``; the scene embedding is the mean and
the maximum of the time-stamp embeddings, concatenated. Outputs are float32 tensors
on the device of ``audio``.
"""

from __future__ import annotations

import numpy as np
import torch

from .models import AudioModel

__all__ = [
    "HearModel",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]


class HearModel(torch.nn.Module):
    """A :class:`~sktriplet.models.AudioModel` as the HEAR API's ``Model``.

    Parameters
    ----------
    audio_model : AudioModel
        The trained model.

    Attributes
    ----------
    sample_rate : int
        Sample rate the audio must have.
    timestamp_embedding_size : int
        Size of a time-stamp embedding.
    scene_embedding_size : int
        Size of a scene embedding (twice the time-stamp size: mean and maximum).
    hop_ms : float
        Time between two time stamps, in milliseconds.
    """

    def __init__(self, audio_model: AudioModel):
        super().__init__()
        self.audio_model = audio_model
        self.sample_rate = audio_model.sample_rate
        self.timestamp_embedding_size = audio_model.embedding_size
        self.scene_embedding_size = audio_model.scene_embedding_size
        self.hop_ms = 1000.0 * audio_model.step_seconds

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return get_timestamp_embeddings(audio, self)[0]


def load_model(model_file_path: str = "") -> HearModel:
    """Load a model file written by ``sktriplet fit`` (or ``AudioModel.save``).

    Parameters
    ----------
    model_file_path : str
        Path of the model file. sktriplet ships no pretrained weights, so it is
        required.

    Returns
    -------
    model : HearModel
    """
    if not model_file_path:
        raise ValueError(
            "model_file_path is required: sktriplet ships no pretrained weights; "
            "train a model with `sktriplet fit DATA --out model.skt` and pass its path."
        )
    return HearModel(AudioModel.load(model_file_path))


def _check_audio(audio, model) -> np.ndarray:
    if not isinstance(model, HearModel):
        raise TypeError(
            f"model must be a HearModel from sktriplet.hear.load_model; got "
            f"{type(model).__name__}."
        )
    if not isinstance(audio, torch.Tensor):
        raise TypeError(f"audio must be a torch.Tensor; got {type(audio).__name__}.")
    if audio.ndim != 2:
        raise ValueError(
            "audio must be 2-D (n_sounds, n_samples) of mono sounds at "
            f"{model.sample_rate} Hz; got shape {tuple(audio.shape)}."
        )
    if audio.shape[0] == 0:
        raise ValueError("audio holds no sound (n_sounds is 0).")
    return audio.detach().to("cpu", torch.float32).numpy()


def _embed(audio, model):
    """(times in s, embeddings (n_sounds, n_steps, dim)) of a HEAR audio batch."""
    return model.audio_model.embed_waveforms(_check_audio(audio, model))


def get_timestamp_embeddings(
    audio: torch.Tensor, model: HearModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings at evenly spaced time stamps.

    Parameters
    ----------
    audio : torch.Tensor of shape (n_sounds, n_samples)
        Mono sounds at ``model.sample_rate``.
    model : HearModel

    Returns
    -------
    embeddings : torch.Tensor of shape (n_sounds, n_timestamps, embedding_size)
        float32, on ``audio``'s device.
    timestamps : torch.Tensor of shape (n_sounds, n_timestamps)
        Centre of each embedding's step in milliseconds.
    """
    times, E = _embed(audio, model)
    times = 1000.0 * times
    embeddings = torch.from_numpy(np.ascontiguousarray(E, dtype=np.float32))
    timestamps = torch.from_numpy(np.tile(times.astype(np.float32), (E.shape[0], 1)))
    return embeddings.to(audio.device), timestamps.to(audio.device)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """One embedding per sound: mean and maximum over its time stamps.

    Parameters
    ----------
    audio : torch.Tensor of shape (n_sounds, n_samples)
        Mono sounds at ``model.sample_rate``.
    model : HearModel

    Returns
    -------
    embeddings : torch.Tensor of shape (n_sounds, scene_embedding_size)
        float32, on ``audio``'s device.
    """
    _, E = _embed(audio, model)
    scene = model.audio_model.scene_embedding(E)
    return torch.from_numpy(scene).to(audio.device)
