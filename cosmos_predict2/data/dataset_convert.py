"""Convert robot datasets between the Bridge JSON layout and LeRobot v3.0 (``scripts/convert_dataset.py``).

Bridge -> LeRobot (:func:`bridge_to_lerobot`):

- every split (``annotation/{train,val,test}/``; the flat ``annotations/`` layout is one split ``train``) becomes a
  consecutive episode range in ``info.json`` ``splits`` (train first, then val, then test), episodes in file
  order (numeric stems by number);
- camera ``videos[i]`` becomes ``observation.images.image_<i>`` (every episode needs the cameras of the first);
- ``observation.state`` = float32 ``[x, y, z, roll, pitch, yaw, gripper]`` (``state[:, :6]`` and
  ``continuous_gripper_state``);
- ``action`` = float32 10-d single-arm action ``[dx, dy, dz, rot6d (6), gripper]``: row ``t`` is the move from
  frame ``t`` to ``t + 1`` in frame ``t``'s end-effector frame with the gripper of frame ``t + 1``
  (:func:`~cosmos_predict2.data.actions.rot6d_actions_from_states`; LeRobot stores with a frame the action
  commanded after observing it); the last row is a zero move (identity rotation) with the last frame's gripper;
- task = the first ``texts`` entry (else ""); an episode has min(states, video frames) frames;
- fps: ``fps`` when given, else the Bridge dataset's ``dataset_info.json`` / ``synthetic_info.json`` fps, else 4.

LeRobot -> Bridge (:func:`lerobot_to_bridge`), any LeRobot v2.1 / v3.0 dataset:

- episode ``e`` -> ``annotation/<split>/<e>.json`` + ``videos/<split>/<e>/rgb.mp4`` (one ``camera``, default
  the first), frames decoded at the episode's timestamps;
- ``state`` = ``state_key[:, :6]``, ``continuous_gripper_state`` = ``state_key[:, gripper_index]`` (the defaults
  read this module's own LeRobot layout), ``texts`` = [task], ``episode_id`` = the episode index;
- splits from ``info.json``: ``train`` / ``val`` / ``test`` ranges go to those folders, episodes in no range to
  ``train``; any other split name is an error (rename it in ``meta/info.json``);
- ``dataset_info.json`` records the fps and where the data came from.

Both write into ``<dst>.tmp`` and rename it when done (:mod:`cosmos_predict2.data.output_dir`); an existing
non-empty ``dst`` is refused. Bad input is a one-line :class:`~cosmos_predict2.data.errors.DataError`.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any, Callable, Optional

import numpy as np

from cosmos_predict2.data.actions import rot6d_actions_from_states
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.output_dir import check_output, staged_output

__all__ = ["bridge_to_lerobot", "lerobot_to_bridge", "bridge_step_actions", "bridge_fps", "STATE_NAMES",
           "ACTION_NAMES", "BRIDGE_CAMERA", "DEFAULT_FPS"]

STATE_NAMES = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
ACTION_NAMES = ["dx", "dy", "dz"] + [f"rot6d_{i}" for i in range(6)] + ["gripper"]
BRIDGE_CAMERA = "observation.images.image_{}"
BRIDGE_SPLITS = ("train", "val", "test")
DEFAULT_FPS = 4
BRIDGE_VIDEO_QUALITY = 9  # imageio's libx264 scale (0-10), as the project's other Bridge writers
IDENTITY_ROT6D = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]

Wrap = Callable[..., Any]


def _no_wrap(it, **_kw):
    return it


def bridge_step_actions(state: np.ndarray, gripper: np.ndarray) -> np.ndarray:
    """(N, >=6) states + (N,) gripper -> (N, 10) float64 LeRobot actions (module doc: the last row is a zero move)."""
    last = np.array([[0.0, 0.0, 0.0, *IDENTITY_ROT6D, float(gripper[-1])]])
    return np.concatenate([rot6d_actions_from_states(state, gripper), last], axis=0)


# -- Bridge -> LeRobot -------------------------------------------------------------------------------------------
def _stem_key(path: str) -> tuple:
    stem = os.path.splitext(os.path.basename(path))[0]
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def _bridge_files(src: str) -> list[tuple[str, str, str]]:
    """(split, annotation path, layout) of every episode, split by split."""
    items = [(split, p, "irasim") for split in BRIDGE_SPLITS
             for p in sorted(glob.glob(os.path.join(src, "annotation", split, "*.json")), key=_stem_key)]
    if not items:
        items = [("train", p, "flat") for p in sorted(glob.glob(os.path.join(src, "annotations", "*.json")),
                                                        key=_stem_key)]
    if not items:
        raise DataError(src, "no Bridge annotations (annotation/{train,val,test}/*.json or annotations/*.json)",
                        "point SRC at the folder that holds annotation/ or annotations/")
    return items


def bridge_fps(src: str) -> Optional[float]:
    """The fps a Bridge dataset's ``dataset_info.json`` or ``synthetic_info.json`` records, else None."""
    for name in ("dataset_info.json", "synthetic_info.json"):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    info = json.load(f)
            except (OSError, ValueError) as err:
                raise DataError(path, f"cannot read ({err})", "fix or remove the file, or pass --fps") from err
            fps = info.get("fps", (info.get("config") or {}).get("fps"))
            if fps is not None:
                return float(fps)
    return None


def _task(ann: dict) -> str:
    texts = ann.get("texts")
    if isinstance(texts, str):
        return texts
    return str(texts[0]) if isinstance(texts, list) and texts else ""


def bridge_to_lerobot(src: str, dst: str, fps: Optional[float] = None, wrap: Wrap = _no_wrap) -> dict[str, Any]:
    """Bridge layout at ``src`` -> LeRobot v3.0 at ``dst`` (module doc). Returns a summary dict."""
    from cosmos_predict2.data.bridge_episode import EpisodeSettings, bridge_video_path, read_episode
    from cosmos_predict2.data.lerobot_writer import LeRobotWriter
    from cosmos_predict2.data.video_io import read_frames, video_info

    if not os.path.isdir(src):
        raise DataError(src, "Bridge dataset folder does not exist", "pass the folder that holds annotation/")
    check_output(dst)
    items = _bridge_files(src)
    source_fps = bridge_fps(src)
    fps = float(fps if fps is not None else source_fps if source_fps is not None else DEFAULT_FPS)
    if fps <= 0 or fps != int(fps):
        raise DataError(src, f"fps {fps:g}: a LeRobot dataset has a whole, positive number of frames per second",
                        "pass --fps N (frames are kept; only their timestamps follow it)")
    settings = EpisodeSettings(video_size=None)
    writer, cameras, counts, frames_total = None, 0, {s: 0 for s in BRIDGE_SPLITS}, 0
    try:
        for split, path, layout in wrap(items, desc="episodes", unit="ep"):
            ep = read_episode(path, settings)
            videos = ep["ann"]["videos"]
            cameras = cameras or len(videos)
            if len(videos) < cameras:
                raise DataError(path, f"'videos' has {len(videos)} entries but the first episode has {cameras}",
                                "give every episode the same cameras")
            paths = [bridge_video_path(src, path, ep["ann"], c, layout) for c in range(cameras)]
            n = min([len(ep["state"])] + [video_info(p)[0] for p in paths])
            if n < 1:
                raise DataError(path, "episode has no frames")
            frames = {BRIDGE_CAMERA.format(c): read_frames(p, range(n)) for c, p in enumerate(paths)}
            state, grip = ep["state"][:n], ep["gripper"][:n]
            columns = {"observation.state": np.concatenate([state[:, :6], grip[:, None]], axis=1),
                       "action": bridge_step_actions(state, grip)}
            try:
                if writer is None:
                    features = {k: {"dtype": "video", "shape": list(v.shape[1:])} for k, v in frames.items()}
                    features["observation.state"] = {"dtype": "float32", "shape": [7], "names": STATE_NAMES}
                    features["action"] = {"dtype": "float32", "shape": [10], "names": ACTION_NAMES}
                    writer = LeRobotWriter(dst, fps, features)
                writer.add_episode(frames, columns, _task(ep["ann"]))
            except DataError as err:
                raise DataError(err.path or path, err.problem, err.fix) from err
            counts[split] += 1
            frames_total += n
        splits, start = {}, 0
        for split in BRIDGE_SPLITS:
            if counts[split]:
                splits[split] = f"{start}:{start + counts[split]}"
                start += counts[split]
        writer.finalize(splits)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return {"episodes": len(items), "frames": frames_total, "splits": splits, "fps": int(fps),
            "cameras": [BRIDGE_CAMERA.format(c) for c in range(cameras)], "dst": dst}


# -- LeRobot -> Bridge -------------------------------------------------------------------------------------------
def _episode_splits(meta, info_path: str) -> dict[int, str]:
    splits = meta.info.get("splits") or {}
    bad = [name for name in splits if name not in BRIDGE_SPLITS]
    if bad:
        raise DataError(info_path, f"split {bad[0]!r} ({splits[bad[0]]}) is not train, val or test",
                        "rename it in meta/info.json splits (the Bridge layout has train/, val/ and test/ only)")
    out = {}
    for name in BRIDGE_SPLITS:
        if name in splits:
            a, _, b = str(splits[name]).partition(":")
            for i in range(int(a or 0), int(b or 0)):
                out.setdefault(i, name)
    return {e.index: out.get(e.index, "train") for e in meta.episodes}


def lerobot_to_bridge(src: str, dst: str, state_key: str = "observation.state", gripper_index: int = 6,
                      camera: Optional[str] = None, wrap: Wrap = _no_wrap) -> dict[str, Any]:
    """LeRobot v2.1 / v3.0 dataset at ``src`` -> Bridge layout at ``dst`` (module doc). Returns a summary dict."""
    from cosmos_predict2.data.lerobot_episode import LeRobotSettings, read_lerobot_episode, read_lerobot_frames
    from cosmos_predict2.data.lerobot_meta import LeRobotMeta
    from cosmos_predict2.data.video_io import write_video

    meta = LeRobotMeta(src)
    check_output(dst)
    key = meta.feature_key(state_key, "--state-key")
    width = meta.feature_width(key)
    if width < 6 or not 6 <= gripper_index < width:
        raise DataError(meta.info_path, f"--state-key {key!r} is {width}-d; the Bridge layout needs [x, y, z, roll, "
                                        f"pitch, yaw] in its columns 0-5 and the gripper at --gripper-index "
                                        f"{gripper_index} (6..{max(width - 1, 6)})",
                        "pick a wider state with --state-key or the gripper column with --gripper-index")
    cam = meta.camera_key(camera, "--camera") if camera is not None else (meta.cameras or [None])[0]
    if cam is None:
        raise DataError(meta.info_path, "the dataset has no video features", "convert a dataset with a camera")
    h, w = meta.features[cam].get("shape", [0, 0])[:2]
    if int(h) % 2 or int(w) % 2:
        raise DataError(meta.info_path, f"camera {cam!r} is {h}x{w}; the Bridge videos (H.264 yuv420p) need an even "
                                        "height and width", "crop the dataset's frames by one pixel")
    settings = LeRobotSettings(camera=cam, state_key=key, action_source="state_delta", gripper_index=gripper_index,
                               num_frames=2, video_size=None)
    split_of = _episode_splits(meta, meta.info_path)
    counts = {s: 0 for s in BRIDGE_SPLITS}
    frames_total = 0
    with staged_output(dst) as tmp:
        for e in wrap(meta.episodes, desc="episodes", unit="ep"):
            ep = read_lerobot_episode(meta, e.index, settings)
            video_C_T_H_W = read_lerobot_frames(meta, ep, range(ep["length"]), settings)
            split = split_of[e.index]
            rel = f"videos/{split}/{e.index}/rgb.mp4"
            write_video(os.path.join(tmp, rel), video_C_T_H_W.permute(1, 2, 3, 0).numpy(), fps=meta.fps,
                        quality=BRIDGE_VIDEO_QUALITY, threads=1)
            rows = ep["rows"]
            ann = {"episode_id": str(e.index), "texts": [ep["tasks"][0]] if ep["tasks"] else [],
                   "videos": [{"video_path": rel}], "state": rows[:, :6].tolist(),
                   "continuous_gripper_state": rows[:, gripper_index].tolist()}
            os.makedirs(os.path.join(tmp, "annotation", split), exist_ok=True)
            with open(os.path.join(tmp, "annotation", split, f"{e.index}.json"), "w") as f:
                json.dump(ann, f, indent=1)
                f.write("\n")
            counts[split] += 1
            frames_total += ep["length"]
        fps = int(meta.fps) if meta.fps == int(meta.fps) else meta.fps
        info = {"layout": "bridge", "fps": fps, "episodes": len(meta.episodes), "splits": counts,
                "source": {"format": "lerobot", "codebase_version": meta.version, "camera": cam, "state_key": key,
                           "gripper_index": gripper_index}}
        with open(os.path.join(tmp, "dataset_info.json"), "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write("\n")
    return {"episodes": len(meta.episodes), "frames": frames_total, "splits": counts, "fps": fps, "camera": cam,
            "dst": dst}
