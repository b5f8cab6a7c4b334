"""One Bridge episode read the one way: annotation, video frames and the actions training computes from states.

The training dataset (:class:`~cosmos_predict2.data.bridge.BridgeActionDataset`, one window per sample), the
evaluation (:func:`~cosmos_predict2.evaluation.episodes.load_episodes`) and the inference scripts
(:func:`load_bridge_episode`) all read through this module with the same :class:`EpisodeSettings`, so a window of
an episode gets the same frames and actions on every path. Inference and evaluation take the settings of the
experiment's training dataset (``cosmos_predict2.inference.experiment_info.action_settings``).

Actions follow the training windows: the frames of a rollout are cut into windows of ``num_frames`` frames that
share their boundary frame (window j covers frames ``j*C .. j*C + C``, C = ``chunk_size``), and each window's
actions are :func:`~cosmos_predict2.data.actions.actions_from_states` of its states. Step-wise actions
(``accumulate_action=False``) do not depend on the cut; accumulated ones are relative to the window's first frame,
as in the training sample of that window.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from cosmos_predict2.data.actions import DEFAULT_ACTION_SCALER, actions_from_states
from cosmos_predict2.data.bridge_annotation import parse_bridge_annotation
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.resize import frames_to_video
from cosmos_predict2.data.video_io import read_frames, video_info

__all__ = ["EpisodeSettings", "read_episode", "bridge_video_path", "window_frame_ids", "episode_actions",
           "read_video_frames", "load_bridge_episode", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclasses.dataclass(frozen=True)
class EpisodeSettings:
    """The Bridge dataset arguments that decide an episode's frames and actions (defaults: the dataset's).

    ``num_frames`` frames per window (1 + ``chunk_size`` actions), ``sequence_interval`` the frame stride
    (upstream ``fps_downsample_ratio``), ``cam_ids`` the cameras (training draws one per sample; the other readers
    use the first), ``video_size`` (H, W) the frame size (None: as decoded), then the action conversion.
    """

    num_frames: int = 13
    sequence_interval: int = 1
    cam_ids: tuple[int, ...] = (0,)
    video_size: Optional[tuple[int, int]] = (480, 640)
    accumulate_action: bool = False
    action_scaler: float = DEFAULT_ACTION_SCALER
    gripper_rescale_factor: float = 1.0
    state_key: str = "state"
    gripper_key: str = "continuous_gripper_state"

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("num_frames", int(self.num_frames))
        put("sequence_interval", int(self.sequence_interval))
        put("cam_ids", tuple(int(c) for c in self.cam_ids))
        if self.video_size is not None:
            put("video_size", (int(self.video_size[0]), int(self.video_size[1])))
        put("accumulate_action", bool(self.accumulate_action))
        put("action_scaler", float(self.action_scaler))
        put("gripper_rescale_factor", float(self.gripper_rescale_factor))
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (actions are frame deltas), got {self.num_frames}")
        if self.sequence_interval < 1:
            raise ValueError(f"sequence_interval must be >= 1, got {self.sequence_interval}")
        if not self.cam_ids:
            raise ValueError("cam_ids must name at least one camera")

    @property
    def chunk_size(self) -> int:
        """Actions per window."""
        return self.num_frames - 1

    @property
    def cam_id(self) -> int:
        """The camera read outside training."""
        return self.cam_ids[0]

    @classmethod
    def from_dataset_args(cls, args: Mapping[str, Any]) -> "EpisodeSettings":
        """From Bridge dataset keyword arguments (e.g. a composed config's ``dataloader_train.dataset``); absent or
        null ones keep the defaults. Upstream names: ``num_action_per_chunk`` (window = 1 + it frames) and
        ``fps_downsample_ratio`` (the stride) win over ``num_frames`` / ``sequence_interval``."""

        def get(key):
            try:
                value = args[key] if key in args else None
            except TypeError:  # attribute-style node
                value = getattr(args, key, None)
            return value

        kw = {f.name: get(f.name) for f in dataclasses.fields(cls)}
        if get("num_action_per_chunk") is not None:
            kw["num_frames"] = 1 + int(get("num_action_per_chunk"))
        if get("fps_downsample_ratio") is not None:
            kw["sequence_interval"] = int(get("fps_downsample_ratio"))
        if kw["cam_ids"] is not None:
            kw["cam_ids"] = tuple(kw["cam_ids"])
        if kw["video_size"] is not None:
            kw["video_size"] = tuple(kw["video_size"])
        return cls(**{k: v for k, v in kw.items() if v is not None})


def read_episode(path: str, settings: EpisodeSettings) -> dict:
    """Parse and check one annotation JSON: dict(path, key, state (N, >=6) f64, gripper (N,) f64, ann = raw JSON).

    ``key`` is the JSON's ``episode_id``, else ``original_path``, else the file stem. Every problem is a
    :class:`DataError` naming the file and the field.
    """
    p = parse_bridge_annotation(path, settings.state_key, settings.gripper_key)
    ann = p["ann"]
    key = ann.get("episode_id", ann.get("original_path", os.path.splitext(os.path.basename(path))[0]))
    return {"path": path, "key": str(key), "state": p["state"], "gripper": p["gripper"], "ann": ann}


def bridge_video_path(dataset_dir: str, ann_path: str, ann: dict, cam_id: int, layout: str = "irasim") -> str:
    """Video path of camera ``cam_id`` of an annotation: ``videos[cam_id]["video_path"]`` under ``dataset_dir``; in
    the flat layout a missing file falls back to ``videos/<json stem>.mp4``."""
    videos = ann["videos"]
    if not 0 <= cam_id < len(videos):
        raise DataError(ann_path, f"cam id {cam_id} requested but 'videos' has {len(videos)} entries")
    entry = videos[cam_id]
    rel = entry.get("video_path") if isinstance(entry, dict) else entry
    if not isinstance(rel, str):
        raise DataError(ann_path, f"videos[{cam_id}] has no 'video_path' string")
    path = os.path.join(dataset_dir, rel)
    if layout == "flat" and not os.path.isfile(path):
        stem = os.path.splitext(os.path.basename(ann_path))[0]
        alt = os.path.join(dataset_dir, "videos", f"{stem}.mp4")
        if os.path.isfile(alt):
            return alt
        raise DataError(ann_path, f"video not found at {path} nor at {alt}")
    return path


def window_frame_ids(start: int, settings: EpisodeSettings) -> list[int]:
    """Frames ``[f, f+k, ..., f+(L-1)k]`` of the window starting at ``start`` (k = stride, L = num_frames)."""
    return [int(start) + i * settings.sequence_interval for i in range(settings.num_frames)]


def episode_actions(episode: Mapping[str, Any], frame_ids: Sequence[int], settings: EpisodeSettings) -> np.ndarray:
    """float32 (len(frame_ids) - 1, 7) actions between consecutive ``frame_ids``, window by window (module doc)."""
    ids = np.asarray(frame_ids, dtype=np.int64)
    state, grip = episode["state"][ids], episode["gripper"][ids]
    c = settings.chunk_size
    pieces = [actions_from_states(state[s:s + c + 1], grip[s:s + c + 1], settings.accumulate_action,
                                  settings.action_scaler, settings.gripper_rescale_factor)
              for s in range(0, len(ids) - 1, c)]
    return np.concatenate(pieces, axis=0).astype(np.float32)


def read_video_frames(video_path: str, frame_ids: Sequence[int], size: Optional[Sequence[int]]) -> torch.Tensor:
    """uint8 (C, T, H, W) frames ``frame_ids`` of a video, resized to ``size`` (H, W) (None: as decoded)."""
    frames_T_H_W_3 = read_frames(video_path, frame_ids)
    return frames_to_video(frames_T_H_W_3, size if size is not None else frames_T_H_W_3.shape[1:3])


def _read_image(path: str, size: Optional[Sequence[int]]) -> np.ndarray:
    import imageio.v2 as imageio

    try:
        img_H_W_3 = np.asarray(imageio.imread(path))[..., :3].astype(np.uint8)
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot read the start image ({err})") from err
    return frames_to_video(img_H_W_3[None], size if size is not None else img_H_W_3.shape[:2])


def _default_root(ann_path: str) -> tuple[str, str]:
    """(dataset_dir, layout) of an annotation inside a dataset: ``annotations/x.json`` (flat) or
    ``annotation/<split>/x.json`` (IRASim)."""
    folder = os.path.dirname(os.path.abspath(ann_path))
    if os.path.basename(folder) == "annotations":
        return os.path.dirname(folder), "flat"
    return os.path.dirname(os.path.dirname(folder)), "irasim"


def load_bridge_episode(annotation_path: str, settings: EpisodeSettings = EpisodeSettings(), *,
                        dataset_dir: Optional[str] = None, video_path: Optional[str] = None,
                        cam_id: Optional[int] = None, start_frame_idx: int = 0, max_frames: Optional[int] = None,
                        reverse: bool = False) -> dict[str, Any]:
    """A whole episode for a rollout: {"frames" uint8 (T, H, W, 3) at ``settings.video_size``, "actions" float32
    (T-1, 7), "key", "video_path", "frame_indices", "texts"}.

    Frames ``start_frame_idx, +k, +2k, ...`` (k = ``settings.sequence_interval``) up to the shorter of the states
    and the video, at most ``max_frames`` of them, in reverse order with ``reverse``; actions as training windows
    starting at ``start_frame_idx`` (module doc). The video is camera ``cam_id`` (default: the first of
    ``settings.cam_ids``) named in the JSON, under ``dataset_dir`` (default: the dataset folder that holds the
    annotation), unless ``video_path`` is given. An image ``video_path`` gives the one start frame (all actions).
    """
    ep = read_episode(annotation_path, settings)
    if video_path is None:
        root, layout = _default_root(annotation_path)
        video_path = bridge_video_path(dataset_dir if dataset_dir is not None else root, annotation_path, ep["ann"],
                                       settings.cam_id if cam_id is None else int(cam_id), layout)
    if not os.path.isfile(video_path):
        raise DataError(annotation_path, f"video {video_path} does not exist")
    is_image = os.path.splitext(video_path)[1].lower() in IMAGE_EXTENSIONS
    n = len(ep["state"]) if is_image else min(len(ep["state"]), video_info(video_path)[0])
    idx = list(range(int(start_frame_idx), n, settings.sequence_interval))[:max_frames]
    if len(idx) < 2:
        raise DataError(annotation_path, f"fewer than 2 frames from start_frame_idx={start_frame_idx} at stride "
                                         f"{settings.sequence_interval} (episode has {n} frames)")
    if reverse:
        idx = idx[::-1]
    # only the first frame of an image start is known: the rollout needs no more (no ground truth after it)
    video_C_T_H_W = _read_image(video_path, settings.video_size) if is_image \
        else read_video_frames(video_path, idx, settings.video_size)
    return {"frames": video_C_T_H_W.permute(1, 2, 3, 0).contiguous().numpy(),
            "actions": episode_actions(ep, idx, settings), "video_path": video_path, "key": ep["key"],
            "texts": ep["ann"].get("texts"), "frame_indices": idx}
