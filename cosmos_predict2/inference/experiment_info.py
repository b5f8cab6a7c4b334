"""What an experiment config says about its clips: pixel size, frames, fps, conditioning."""

from __future__ import annotations

from typing import Any


def _get(node: Any, key: str, default: Any = None) -> Any:
    try:
        value = node.get(key, default) if hasattr(node, "get") else getattr(node, key, default)
    except Exception:  # noqa: BLE001 - omegaconf raises on missing keys in struct mode
        return default
    return default if value is None else value


def video_size(config: Any, resolution: str | None = None) -> tuple[int, int]:
    """(H, W) the experiment trains on: the validation/training dataset's ``video_size``, else the 16:9
    size of ``model.config.resolution`` (or of ``resolution`` when given)."""
    from cosmos_predict2.configs.base.defaults.model import RESOLUTIONS

    if resolution is not None:
        if str(resolution) not in RESOLUTIONS:
            raise ValueError(f"--resolution {resolution!r}: use one of {sorted(RESOLUTIONS)}")
        return RESOLUTIONS[str(resolution)]
    for loader in ("dataloader_val", "dataloader_train"):
        size = _get(_get(_get(config, loader), "dataset"), "video_size")
        if size is not None and len(size) == 2:
            return int(size[0]), int(size[1])
    res = str(_get(config.model.config, "resolution", "480"))
    if res not in RESOLUTIONS:
        raise ValueError(f"experiment resolution {res!r} has no pixel size; pass --resolution")
    return RESOLUTIONS[res]


def num_frames(config: Any) -> int:
    return int(_get(config.model.config, "num_video_frames", 93))


def fps(config: Any) -> int:
    return int(_get(config.model.config, "fps", 16))


def action_settings(config: Any) -> dict[str, Any]:
    """How the experiment's Bridge dataset turns states into actions (so inference matches training):
    keyword arguments for :func:`cosmos_predict2.inference.action_rollout.load_bridge_episode`."""
    ds = None
    for loader in ("dataloader_val", "dataloader_train"):
        ds = _get(_get(config, loader), "dataset")
        if ds is not None and _get(ds, "action_scaler") is not None:
            break
    return {
        "action_scaler": float(_get(ds, "action_scaler", 20.0)),
        "gripper_scale": float(_get(ds, "gripper_rescale_factor", 1.0)),
        "accumulate_action": bool(_get(ds, "accumulate_action", False)),
        "fps_downsample_ratio": int(_get(ds, "sequence_interval", 1)),
        "state_key": str(_get(ds, "state_key", "state")),
        "gripper_key": str(_get(ds, "gripper_key", "continuous_gripper_state")),
    }
