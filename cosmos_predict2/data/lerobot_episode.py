"""One LeRobot episode read the one way: frames of one camera at the episode's timestamps, and its actions.

The training dataset (:class:`~cosmos_predict2.data.lerobot.LeRobotActionDataset`), the inference scripts and
the evaluation read episodes through this module with the same :class:`LeRobotSettings`, so a window gets the same
frames and actions on every path.

Actions (``action_source``):

- ``recorded``: the ``action_key`` feature (optionally only ``action_dims`` of its columns). LeRobot stores with
  frame ``t`` the action commanded after observing it, so the step from kept frame ``f`` to ``f + k`` uses row
  ``f + action_offset`` (``action_offset=0``; use 1 for data that stores with each frame the action that led to
  it). With a stride ``k > 1`` only that row is used (LeRobot's own ``delta_timestamps`` rule): prefer
  ``state_delta`` for strided delta actions.
- ``state_delta``: computed from the ``state_key`` feature between kept frames, as the Bridge datasets do:
  columns 0-2 are the end-effector position, 3-5 its roll/pitch/yaw (``R = Rz Ry Rx``), ``gripper_index`` the
  gripper; ``pose_rotation="euler"`` gives Bridge's 7-d ``[dxyz, drpy, gripper]``, ``"rot6d"`` the 10-d
  single-arm ``[dxyz, rot6d, gripper]`` (:func:`~cosmos_predict2.data.actions.rot6d_actions_from_states`).

Raw actions are then normalised by the dataset's :class:`~cosmos_predict2.data.action_norm.ActionNormalization`.
Frames: the camera's mp4 decoded at ``from_timestamp + timestamp`` of each kept frame
(:func:`~cosmos_predict2.data.video_io.read_frames_at_times`); a timestamp without a frame within
``tolerance_s`` is an error naming the episode.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from cosmos_predict2.data.actions import actions_from_states, rot6d_actions_from_states
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.lerobot_meta import LeRobotMeta
from cosmos_predict2.data.resize import frames_to_video
from cosmos_predict2.data.video_io import read_frames_at_times

__all__ = ["LeRobotSettings", "ACTION_SOURCES", "POSE_ROTATIONS", "read_lerobot_episode", "lerobot_window_actions",
           "lerobot_step_actions", "read_lerobot_frames", "load_lerobot_episode"]

ACTION_SOURCES = ("recorded", "state_delta")
POSE_ROTATIONS = ("euler", "rot6d")


@dataclasses.dataclass(frozen=True)
class LeRobotSettings:
    """How a LeRobot dataset is read (the dataset's arguments of the same names; see the module doc).

    ``camera`` (``front`` or ``observation.images.front``; None: the first camera), ``num_frames`` per window,
    ``sequence_interval`` the frame stride (or ``target_fps``: stride = dataset fps / target_fps),
    ``video_size`` (H, W) (None: as decoded), then the action fields."""

    camera: Optional[str] = None
    state_key: str = "observation.state"
    action_key: str = "action"
    action_source: str = "recorded"
    action_dims: Optional[tuple[int, ...]] = None
    action_offset: int = 0
    pose_rotation: str = "euler"
    gripper_index: int = 6
    num_frames: int = 13
    sequence_interval: int = 1
    target_fps: Optional[float] = None
    video_size: Optional[tuple[int, int]] = (480, 640)
    tolerance_s: float = 1e-4

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("num_frames", int(self.num_frames))
        put("sequence_interval", int(self.sequence_interval))
        if self.video_size is not None:
            put("video_size", (int(self.video_size[0]), int(self.video_size[1])))
        if self.action_dims is not None:
            put("action_dims", tuple(int(d) for d in self.action_dims))
        if self.action_source not in ACTION_SOURCES:
            raise ValueError(f"action_source={self.action_source!r}: use one of {', '.join(ACTION_SOURCES)}")
        if self.pose_rotation not in POSE_ROTATIONS:
            raise ValueError(f"pose_rotation={self.pose_rotation!r}: use one of {', '.join(POSE_ROTATIONS)}")
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (actions are frame steps), got {self.num_frames}")
        if self.sequence_interval < 1:
            raise ValueError(f"sequence_interval must be >= 1, got {self.sequence_interval}")
        if self.target_fps is not None and float(self.target_fps) <= 0:
            raise ValueError(f"target_fps must be > 0, got {self.target_fps}")

    @property
    def chunk_size(self) -> int:
        return self.num_frames - 1

    @classmethod
    def from_dataset_args(cls, args: Mapping[str, Any]) -> "LeRobotSettings":
        """From LeRobot dataset keyword arguments (a dict or config node); absent / null ones keep defaults."""
        def get(key):
            try:
                return args[key] if key in args else None
            except TypeError:
                return getattr(args, key, None)

        kw = {f.name: get(f.name) for f in dataclasses.fields(cls)}
        for k in ("action_dims", "video_size"):
            if kw[k] is not None:
                kw[k] = tuple(kw[k])
        return cls(**{k: v for k, v in kw.items() if v is not None})

    def stride(self, meta: LeRobotMeta) -> int:
        """The frame stride on ``meta``'s dataset (``target_fps`` resolved; it must divide the dataset fps)."""
        if self.target_fps is None:
            return self.sequence_interval
        ratio = meta.fps / float(self.target_fps)
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-6:
            raise DataError(meta.info_path, f"target_fps={self.target_fps} does not divide the dataset's fps "
                                            f"{meta.fps:g}", f"use a target_fps of {meta.fps:g} / k for an integer k")
        return int(round(ratio))

    def camera_key(self, meta: LeRobotMeta) -> str:
        if self.camera is None:
            if not meta.cameras:
                raise DataError(meta.info_path, "the dataset has no video features", "pick a dataset with cameras")
            return meta.cameras[0]
        return meta.camera_key(self.camera)

    def action_columns(self, meta: LeRobotMeta) -> list[str]:
        """The features the actions are read from (checked against the dataset: a missing one lists them)."""
        if self.action_source == "recorded":
            return [meta.feature_key(self.action_key, "action_key")]
        return [meta.feature_key(self.state_key, "state_key")]

    def action_dim(self, meta: LeRobotMeta) -> int:
        """Width of the actions this reads from ``meta``'s dataset."""
        if self.action_source == "state_delta":
            width = meta.feature_width(meta.feature_key(self.state_key, "state_key"))
            if width < 6 or not 0 <= self.gripper_index < width:
                raise DataError(meta.info_path, f"state_key={self.state_key!r} is {width}-d; action_source="
                                                f"'state_delta' needs [x, y, z, roll, pitch, yaw] in columns 0-5 and "
                                                f"gripper_index={self.gripper_index} inside it",
                                "use action_source='recorded' or another state feature")
            return 7 if self.pose_rotation == "euler" else 10
        width = meta.feature_width(meta.feature_key(self.action_key, "action_key"))
        if self.action_dims is not None:
            bad = [d for d in self.action_dims if not 0 <= d < width]
            if bad:
                raise DataError(meta.info_path, f"action_dims {bad} are outside the {width}-d feature "
                                                f"{self.action_key!r}", f"use indices 0..{width - 1}")
            return len(self.action_dims)
        return width

    def source_record(self, meta: LeRobotMeta) -> dict[str, Any]:
        """What the actions are (stored with the normalisation, so a checkpoint says what it expects)."""
        rec = {"format": "lerobot", "action_source": self.action_source, "dim": self.action_dim(meta),
               "stride": self.stride(meta), "fps": meta.fps / self.stride(meta)}
        if self.action_source == "recorded":
            rec.update(action_key=self.action_key, action_dims=list(self.action_dims) if self.action_dims else None,
                       action_offset=self.action_offset)
        else:
            rec.update(state_key=self.state_key, pose_rotation=self.pose_rotation, gripper_index=self.gripper_index)
        return rec


def read_lerobot_episode(meta: LeRobotMeta, index: int, settings: LeRobotSettings) -> dict[str, Any]:
    """dict(index, key, length, timestamp (N,), rows (N, W) float64 of the action source feature, tasks)."""
    ep = meta.episode(index)
    col = settings.action_columns(meta)[0]
    table = meta.read_table(ep, [col])
    rows = table[col]
    if rows.ndim == 1:
        rows = rows[:, None]
    return {"index": ep.index, "key": f"episode_{ep.index:06d}", "length": ep.length, "timestamp": table["timestamp"],
            "rows": rows, "tasks": list(ep.tasks), "episode": ep}


def lerobot_step_actions(episode: Mapping[str, Any], frame_ids: Sequence[int], settings: LeRobotSettings
                         ) -> np.ndarray:
    """Raw float64 (len(frame_ids) - 1, D) actions of the steps between consecutive kept frames."""
    ids = np.asarray(frame_ids, dtype=np.int64)
    rows = episode["rows"]
    if settings.action_source == "recorded":
        rid = ids[:-1] + int(settings.action_offset)
        if rid.min() < 0 or rid.max() >= len(rows):
            raise DataError(episode["episode"].data_file, f"episode {episode['index']}: action_offset="
                                                          f"{settings.action_offset} reads row {int(rid.max())} of "
                                                          f"{len(rows)}", "use action_offset 0 or 1")
        act = rows[rid]
        return act[:, list(settings.action_dims)] if settings.action_dims is not None else act
    state = rows[ids]
    grip = state[:, settings.gripper_index]
    if settings.pose_rotation == "euler":
        return actions_from_states(state, grip, accumulate=False, scaler=1.0, gripper_rescale_factor=1.0)
    return rot6d_actions_from_states(state, grip)


def lerobot_window_actions(episode: Mapping[str, Any], frame_ids: Sequence[int], settings: LeRobotSettings,
                           normalization=None) -> np.ndarray:
    """float32 (len(frame_ids) - 1, D) actions of kept frames ``frame_ids``, normalised when ``normalization``
    (an :class:`~cosmos_predict2.data.action_norm.ActionNormalization`) is given."""
    raw = lerobot_step_actions(episode, frame_ids, settings)
    return normalization.normalize(raw) if normalization is not None else raw.astype(np.float32)


def read_lerobot_frames(meta: LeRobotMeta, episode: Mapping[str, Any], frame_ids: Sequence[int],
                        settings: LeRobotSettings) -> torch.Tensor:
    """uint8 (C, T, H, W) frames ``frame_ids`` of the episode from the settings' camera, at ``video_size``."""
    cam = settings.camera_key(meta)
    path, start = episode["episode"].videos[cam]
    times = [start + float(episode["timestamp"][i]) for i in frame_ids]
    try:
        frames_T_H_W_3 = read_frames_at_times(path, times, settings.tolerance_s)
    except DataError as err:
        raise DataError(err.path, f"episode {episode['index']} ({cam}): {err.problem}", err.fix) from err
    size = settings.video_size if settings.video_size is not None else frames_T_H_W_3.shape[1:3]
    return frames_to_video(frames_T_H_W_3, size)


def load_lerobot_episode(meta: LeRobotMeta, index: int, settings: LeRobotSettings, normalization=None, *,
                         start_frame_idx: int = 0, max_frames: Optional[int] = None) -> dict[str, Any]:
    """A whole episode for a rollout / evaluation: {"frames" uint8 (T, H, W, 3), "actions" float32 (T-1, D)
    (normalised), "key", "video_path", "frame_indices", "texts"}: frames ``start_frame_idx, +k, ...`` at the
    settings' stride, at most ``max_frames``."""
    ep = read_lerobot_episode(meta, index, settings)
    k = settings.stride(meta)
    idx = list(range(int(start_frame_idx), ep["length"], k))[:max_frames]
    if len(idx) < 2:
        raise DataError(meta.root, f"episode {index}: fewer than 2 frames from start_frame_idx={start_frame_idx} at "
                                   f"stride {k} (the episode has {ep['length']} frames)")
    video_C_T_H_W = read_lerobot_frames(meta, ep, idx, settings)
    return {"frames": video_C_T_H_W.permute(1, 2, 3, 0).contiguous().numpy(),
            "actions": lerobot_window_actions(ep, idx, settings, normalization),
            "video_path": ep["episode"].videos[settings.camera_key(meta)][0], "key": ep["key"],
            "texts": ep["tasks"], "frame_indices": idx}
