"""The one reader of what an experiment says about its clips, for inference, evaluation and the examples:
pixel size, frames and fps (from the typed ``model.config``, :mod:`cosmos_predict2.pipelines.model_config`) and
the Bridge episode settings (from the experiment's dataset node)."""

from __future__ import annotations

import dataclasses
from typing import Any

from cosmos_predict2.data.bridge_episode import EpisodeSettings
from cosmos_predict2.lazy_config.nodes import node_get
from cosmos_predict2.pipelines.model_config import model_config

__all__ = ["model_config", "video_size", "num_frames", "fps", "action_settings"]


def video_size(config: Any, resolution: str | None = None) -> tuple[int, int]:
    """(H, W) the experiment trains on: the validation/training dataset's ``video_size``, else the 16:9
    size of ``model.config.resolution`` (or of ``resolution`` when given)."""
    from cosmos_predict2.configs.base.defaults.model import RESOLUTIONS

    if resolution is not None:
        if str(resolution) not in RESOLUTIONS:
            raise ValueError(f"--resolution {resolution!r}: use one of {sorted(RESOLUTIONS)}")
        return RESOLUTIONS[str(resolution)]
    for loader in ("dataloader_val", "dataloader_train"):
        size = node_get(getattr(config, loader, None), "dataset", "video_size")
        if size is not None and len(size) == 2:
            return int(size[0]), int(size[1])
    res = model_config(config).resolution
    if res not in RESOLUTIONS:
        raise ValueError(f"experiment resolution {res!r} has no pixel size; pass --resolution")
    return RESOLUTIONS[res]


def num_frames(config: Any) -> int:
    """Pixel frames per generated clip (``model.config.num_video_frames``)."""
    return model_config(config).num_video_frames


def fps(config: Any) -> int:
    """The frame rate the model is conditioned on (``model.config.fps``); also the saved videos' default."""
    return model_config(config).fps


def action_settings(config: Any) -> EpisodeSettings:
    """How the experiment's Bridge dataset (training, else validation) cuts episodes and turns states into
    actions, at the experiment's frame size (:func:`video_size`): what inference and evaluation read episodes
    with, so that they match training. Arguments the dataset node leaves out keep the dataset's defaults."""
    nodes = [node_get(getattr(config, loader, None), "dataset") for loader in ("dataloader_train", "dataloader_val")]
    bridge = [ds for ds in nodes if node_get(ds, "action_scaler") is not None]
    settings = EpisodeSettings.from_dataset_args((bridge or [{}])[0])
    return dataclasses.replace(settings, video_size=video_size(config))
