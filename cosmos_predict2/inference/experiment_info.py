"""The one reader of what an experiment says about its clips, for inference, evaluation and the examples:
pixel size, frames and fps (from the typed ``model.config``, :mod:`cosmos_predict2.pipelines.model_config`) and
the episode settings and action normalisation of the experiment's dataset node (Bridge or LeRobot)."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from cosmos_predict2.configs.action_data import config_normalization, is_lerobot_node, lerobot_kwargs, training_dataset_node
from cosmos_predict2.data.action_norm import ActionNormalization
from cosmos_predict2.data.bridge_episode import EpisodeSettings
from cosmos_predict2.data.lerobot_episode import LeRobotSettings
from cosmos_predict2.lazy_config.nodes import node_get
from cosmos_predict2.pipelines.model_config import model_config

__all__ = ["model_config", "video_size", "num_frames", "fps", "action_settings", "bridge_action_settings",
           "action_normalization"]


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


def action_settings(config: Any) -> EpisodeSettings | LeRobotSettings:
    """How the experiment's dataset (training, else validation) cuts episodes and computes actions, at the
    experiment's frame size (:func:`video_size`): what inference and evaluation read episodes with, so that they
    match training. Bridge data gives :class:`EpisodeSettings`, LeRobot data :class:`LeRobotSettings`. Arguments
    the dataset node leaves out keep the dataset's defaults."""
    node = training_dataset_node(config)
    if node is not None and is_lerobot_node(node):
        settings = LeRobotSettings.from_dataset_args(lerobot_kwargs(node))
    else:
        nodes = [node_get(getattr(config, loader, None), "dataset") for loader in ("dataloader_train", "dataloader_val")]
        bridge = [ds for ds in nodes if node_get(ds, "action_scaler") is not None]
        settings = EpisodeSettings.from_dataset_args((bridge or [{}])[0])
    return dataclasses.replace(settings, video_size=video_size(config))


def bridge_action_settings(config: Any, script: str) -> EpisodeSettings:
    """:func:`action_settings` for the scripts that read Bridge annotations; an experiment trained on LeRobot
    episodes is a one-line error pointing at the script that reads them."""
    from cosmos_predict2.inference.loading import InferenceSetupError

    settings = action_settings(config)
    if isinstance(settings, LeRobotSettings):
        raise InferenceSetupError(f"{script} reads Bridge annotations but the experiment was trained on LeRobot "
                                  "episodes; roll it out with examples/action_conditioned.py (params field input_root: "
                                  "the LeRobot folder, episodes: their indices)")
    return settings


def action_normalization(config: Any) -> Optional[ActionNormalization]:
    """The normalisation LeRobot actions get before the net (None for Bridge data, whose reader scales them
    itself); after :func:`~cosmos_predict2.inference.loading.build_inference_model` the checkpoint's."""
    node = training_dataset_node(config)
    return config_normalization(config) if node is not None and is_lerobot_node(node) else None
