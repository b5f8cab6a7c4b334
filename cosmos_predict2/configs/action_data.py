"""What an experiment's action data is: its format, width and normalisation, read from the composed config.

- :func:`training_dataset_node`: ``dataloader_train.dataset`` (else ``dataloader_val.dataset``);
- :func:`is_lerobot_node`: a :class:`~cosmos_predict2.data.lerobot.LeRobotActionDataset` node;
- :func:`data_action_dim`: the width of the actions the data yields (Bridge: 7; LeRobot: from ``info.json`` and
  the node's action settings; None when the dataset cannot be read, which the preflight reports);
- :func:`config_normalization`: the normalisation the experiment trains with (Bridge: its ``action_scaler`` /
  ``gripper_rescale_factor`` as a ``scale`` normalisation; LeRobot: the node's ``action_normalization`` record,
  None until :func:`fill_action_normalization` computed it);
- :func:`fill_action_normalization`: the launcher's step that computes the LeRobot statistics from the training
  episodes (cached) and writes the record into every LeRobot dataset node, so the job's ``config.yaml`` carries
  it and validation uses the training statistics.
"""

from __future__ import annotations

from typing import Any, Optional

from cosmos_predict2.data.action_norm import ActionNormalization
from cosmos_predict2.lazy_config.nodes import node_get

__all__ = ["training_dataset_node", "is_lerobot_node", "data_action_dim", "net_action_dim", "config_normalization",
           "fill_action_normalization", "bridge_normalization", "lerobot_kwargs"]

LEROBOT_CLASS = "LeRobotActionDataset"


def _dataset_nodes(config: Any) -> list[tuple[str, Any]]:
    out = []
    for loader in ("dataloader_train", "dataloader_val"):
        ds = node_get(getattr(config, loader, None), "dataset")
        if ds is not None:
            out.append((f"{loader}.dataset", ds))
    return out


def training_dataset_node(config: Any) -> Any:
    nodes = _dataset_nodes(config)
    return nodes[0][1] if nodes else None


def is_lerobot_node(node: Any) -> bool:
    target = node_get(node, "_target_")
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    return str(name).rsplit(".", 1)[-1] == LEROBOT_CLASS


def lerobot_kwargs(node: Any) -> dict[str, Any]:
    """A LeRobot dataset node's arguments as plain values."""
    from omegaconf import DictConfig, OmegaConf

    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    return {k: v for k, v in plain.items() if k != "_target_"}


def net_action_dim(config: Any) -> Optional[int]:
    """``model.config.net.action_dim`` (per step), or None for a net without actions."""
    value = node_get(config.model, "config", "net", "action_dim")
    return None if value is None else int(value)


def data_action_dim(config: Any) -> Optional[int]:
    """Width of the actions the experiment's training data yields (see the module doc)."""
    from cosmos_predict2.data.errors import DataError

    node = training_dataset_node(config)
    if node is None:
        return None
    if is_lerobot_node(node):
        from cosmos_predict2.data.lerobot import LeRobotActionDataset

        try:
            return LeRobotActionDataset.action_width(**lerobot_kwargs(node))
        except (DataError, ValueError):
            return None
    if node_get(node, "action_scaler") is not None:
        return 7
    return None


def bridge_normalization(settings: Any) -> ActionNormalization:
    """A Bridge dataset's action scaling (``EpisodeSettings``) as a ``scale`` normalisation."""
    return ActionNormalization.scaled(
        [settings.action_scaler] * 6 + [settings.gripper_rescale_factor],
        {"format": "bridge", "dim": 7, "state_key": settings.state_key, "gripper_key": settings.gripper_key,
         "accumulate_action": settings.accumulate_action, "stride": settings.sequence_interval})


def config_normalization(config: Any) -> Optional[ActionNormalization]:
    """The experiment's action normalisation (see the module doc); None when there is none (yet)."""
    node = training_dataset_node(config)
    if node is None:
        return None
    if is_lerobot_node(node):
        record = node_get(node, "action_normalization")
        return None if record is None else ActionNormalization.from_dict(record, "dataset action_normalization")
    if node_get(node, "action_scaler") is not None:
        from cosmos_predict2.data.bridge_episode import EpisodeSettings

        return bridge_normalization(EpisodeSettings.from_dataset_args(node))
    return None


def fill_action_normalization(config: Any, progress: bool = True, resumed_from: Optional[str] = None
                              ) -> Optional[ActionNormalization]:
    """Compute the LeRobot normalisation from the training node's episodes (when its node has no record yet) and
    store the record in every LeRobot dataset node. Returns it (None for other data). A resumed job keeps the
    record of its earlier ``config.yaml`` (``resumed_from``), so the statistics do not change mid-training
    when episodes were added. The config must not be frozen."""
    from omegaconf import OmegaConf

    from cosmos_predict2.data.lerobot import resolve_normalization, select_episodes
    from cosmos_predict2.data.lerobot_episode import LeRobotSettings
    from cosmos_predict2.data.lerobot_meta import LeRobotMeta

    nodes = [(key, n) for key, n in _dataset_nodes(config) if is_lerobot_node(n)]
    if not nodes:
        return None
    kw = lerobot_kwargs(nodes[0][1])
    if kw.get("action_normalization") is None and resumed_from:
        previous = OmegaConf.select(OmegaConf.load(resumed_from), "dataloader_train.dataset.action_normalization")
        if previous is not None:
            kw["action_normalization"] = OmegaConf.to_container(previous, resolve=True)
    meta = LeRobotMeta(kw["root"])
    settings = LeRobotSettings.from_dataset_args(kw)
    episodes = select_episodes(meta, kw.get("episodes"), kw.get("split"), kw.get("mode", "train"))
    norm = resolve_normalization(meta, settings, episodes, str(kw.get("normalization", "mean_std")),
                                 kw.get("action_normalization"), progress=progress)
    record = norm.to_dict()
    for _, node in nodes:
        node["action_normalization"] = record
    return norm
