"""Synthetic robot episodes: a gripper moving over a table with coloured blocks it can push.

Everything is a deterministic function of the seed. Within an episode, every frame is a pure
function of the initial object layout and the gripper states up to that frame, so the video is
predictable from the first frame plus the actions. Trajectories are smooth but random (waypoints
chosen at random, including dips to the table near a block), with several pixels of motion per
frame at the default size, the gripper turning (by default within +-0.6 rad of facing forward, as a
Bridge-style arm working a table; ``yaw_range >= pi`` turns freely and wraps around +-pi) and opening
and closing.

Writers produce the Bridge/IRASim layout (``annotation/{train,val,test}/<id>.json`` +
``videos/{split}/<id>/rgb.mp4``) or the video-text layout (``videos/*.mp4`` + ``metas/*.txt``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from cosmos_predict2.data.actions import actions_from_states, wrap_angle
from cosmos_predict2.data.synthetic_render import TABLE_HALF, Camera, render_background, render_frame
from cosmos_predict2.data.video_io import write_video

COLORS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
    "orange": (240, 140, 20), "cyan": (30, 190, 200), "white": (245, 245, 245),
}
WORKSPACE = np.array([[-0.45, 0.45], [-0.45, 0.45], [0.02, 0.42]])  # x, y, z bounds of the gripper tips
GRIPPER_PUSH_RADIUS = 0.06


@dataclass
class SyntheticConfig:
    """Generation parameters (defaults suit a tiny CPU world model)."""

    height: int = 64
    width: int = 80
    frames: int = 33
    fps: int = 4
    num_objects: int = 3
    speed: tuple = (0.06, 0.11)  # world units per frame (~3-7 px at 64x80)
    max_accel: float = 0.035
    yaw_rate: float = 0.35  # rad / frame
    # Gripper yaw stays within +-yaw_range of facing forward; >= pi turns freely and wraps around +-pi.
    yaw_range: float = 0.6
    # Size of the drawn gripper and arm (stored in each episode's scene). At 2 the moving parts cover ~13%
    # of a 64x80 frame (8% at 1), so where the actions put the gripper dominates the prediction error.
    gripper_scale: float = 2.0
    quality: int = 9  # imageio libx264 quality (0-10)

    def check(self) -> None:
        if self.height % 16 or self.width % 16:
            raise ValueError(f"height and width must be divisible by 16, got {self.height}x{self.width}")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2, got {self.frames}")
        if not 0 < self.gripper_scale <= 4:
            raise ValueError(f"gripper_scale must be in (0, 4], got {self.gripper_scale}")
        if not 0 < self.yaw_range:
            raise ValueError(f"yaw_range must be > 0 (radians; >= pi for free turning), got {self.yaw_range}")
        if not 0 <= self.num_objects <= len(COLORS):
            raise ValueError(f"num_objects must be in [0, {len(COLORS)}], got {self.num_objects}")


def episode_rng(seed: int, episode: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(episode), 7919])


def _sample_objects(rng: np.random.Generator, n: int) -> dict:
    names = list(COLORS)
    idx = rng.permutation(len(names))[:n]
    xy, radius = [], []
    for _ in range(n):
        r = float(rng.uniform(0.055, 0.08))
        for _try in range(100):
            p = rng.uniform(-0.38, 0.38, size=2)
            if all(np.hypot(*(p - q)) > r + rq + 0.05 for q, rq in zip(xy, radius)):
                break
        xy.append(p)
        radius.append(r)
    return {
        "names": [names[i] for i in idx],
        "xy": np.round(np.array(xy).reshape(n, 2), 6),
        "radius": np.round(np.array(radius), 6),
        "height": np.round(rng.uniform(0.05, 0.1, size=n), 6),
        "color": np.array([COLORS[names[i]] for i in idx], dtype=np.float64).reshape(n, 3),
    }


def _sample_trajectory(rng: np.random.Generator, cfg: SyntheticConfig, objects: dict) -> tuple[np.ndarray, np.ndarray]:
    """Smooth waypoint-following motion. Returns state (N, 7) and continuous gripper (N,)."""
    n = cfg.frames
    lo, hi = WORKSPACE[:, 0], WORKSPACE[:, 1]
    pos = rng.uniform(lo, hi)
    vel = np.zeros(3)
    free_yaw = cfg.yaw_range >= np.pi
    yaw_lim = np.pi if free_yaw else cfg.yaw_range
    yaw, roll, pitch = rng.uniform(-yaw_lim, yaw_lim), rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)
    g = float(rng.integers(0, 2))
    g_target = g
    target, speed, yaw_t, rp_t = pos, 0.0, yaw, np.array([roll, pitch])
    state = np.zeros((n, 7))
    grip = np.zeros(n)
    for t in range(n):
        if t == 0 or np.linalg.norm(target - pos) < 0.05 or rng.random() < 0.08:
            if len(objects["xy"]) and rng.random() < 0.45:  # dip next to / through a block: pushes it
                k = rng.integers(len(objects["xy"]))
                through = objects["xy"][k] + rng.normal(0, 0.08, size=2)
                target = np.array([*through, rng.uniform(0.02, 0.05)])
            else:
                target = rng.uniform(lo, hi)
            speed = rng.uniform(*cfg.speed)
            yaw_t = yaw + rng.uniform(-2.5, 2.5) if free_yaw else rng.uniform(-yaw_lim, yaw_lim)
            rp_t = rng.uniform(-0.2, 0.2, size=2)  # small tilts (visible through the arm), yaw is the main turn
        if rng.random() < 0.15:
            g_target = 1.0 - g_target
        if t > 0:
            d = target - pos
            desired = d / (np.linalg.norm(d) + 1e-9) * min(speed, np.linalg.norm(d))
            dv = desired - vel
            dv *= min(1.0, cfg.max_accel / (np.linalg.norm(dv) + 1e-9))
            vel = vel + dv
            pos = pos + vel
            for a in range(3):  # bounce off the workspace walls
                if pos[a] < lo[a] or pos[a] > hi[a]:
                    pos[a] = np.clip(pos[a], lo[a], hi[a])
                    vel[a] = -0.5 * vel[a]
            yaw += float(np.clip(yaw_t - yaw, -cfg.yaw_rate, cfg.yaw_rate))
            roll += float(np.clip(rp_t[0] - roll, -0.06, 0.06))
            pitch += float(np.clip(rp_t[1] - pitch, -0.06, 0.06))
            g += float(np.clip(g_target - g, -0.4, 0.4))
        state[t] = [*pos, roll, pitch, wrap_angle(yaw), 0.0]
        grip[t] = g
    state[:, 6] = (grip > 0.5).astype(np.float64)
    return np.round(state, 6), np.round(grip, 6)


def simulate_objects(state: np.ndarray, obj_xy0: np.ndarray, obj_radius: np.ndarray,
                     obj_height: np.ndarray, substeps: int = 4) -> np.ndarray:
    """Object (x, y) per frame (N, K, 2): a low gripper touching a block pushes it out of the way."""
    n, k = len(state), len(obj_xy0)
    xy = np.array(obj_xy0, dtype=np.float64).reshape(k, 2).copy()
    out = np.zeros((n, k, 2))
    out[0] = xy
    for t in range(1, n):
        for s in range(1, substeps + 1):
            p = state[t - 1, :3] + (state[t, :3] - state[t - 1, :3]) * s / substeps
            for i in range(k):
                if p[2] > obj_height[i] + 0.015:
                    continue
                d = xy[i] - p[:2]
                dist = float(np.hypot(*d))
                need = obj_radius[i] + GRIPPER_PUSH_RADIUS
                if dist < need:
                    dirn = d / dist if dist > 1e-9 else np.array([0.0, 1.0])
                    xy[i] = p[:2] + dirn * need
            for i in range(k):  # blocks push each other apart
                for j in range(i + 1, k):
                    d = xy[j] - xy[i]
                    dist = float(np.hypot(*d))
                    need = obj_radius[i] + obj_radius[j]
                    if dist < need:
                        dirn = d / dist if dist > 1e-9 else np.array([1.0, 0.0])
                        shift = 0.5 * (need - dist) * dirn
                        xy[i] -= shift
                        xy[j] += shift
            lim = TABLE_HALF - obj_radius[:, None]
            xy = np.clip(xy, -lim, lim)
        out[t] = xy
    return out


# A second, fixed camera looking at the table from the right (the LeRobot layout's "side" camera).
SIDE_CAMERA = {"eye": (0.95, 0.05, 0.75), "target": (0.0, 0.0, 0.05)}


def render_episode(state: np.ndarray, grip: np.ndarray, scene: dict, height: int, width: int,
                   view: dict | None = None) -> np.ndarray:
    """uint8 (N, H, W, 3) frames of an episode from its states and initial scene (pure function); ``view``
    (``eye`` / ``target``) places another camera (default: the front camera)."""
    cam = Camera(height, width, **(view or {}))
    bg = render_background(cam)
    radius, hgt = np.asarray(scene["radius"], float), np.asarray(scene["height"], float)
    color = np.asarray(scene["color"], float).reshape(-1, 3)
    obj = simulate_objects(state, np.asarray(scene["xy"], float).reshape(-1, 2), radius, hgt)
    k = float(scene.get("gripper_scale", 1.0))
    return np.stack([render_frame(cam, bg, state[t], grip[t], obj[t], radius, hgt, color, gripper_scale=k)
                     for t in range(len(state))])


def _describe(state: np.ndarray, grip: np.ndarray, scene: dict) -> tuple[str, str]:
    """(task instruction, caption) from what happens in the episode."""
    obj = simulate_objects(state, np.asarray(scene["xy"], float).reshape(-1, 2),
                           np.asarray(scene["radius"], float), np.asarray(scene["height"], float))
    moved = np.linalg.norm(obj[-1] - obj[0], axis=-1) if len(scene["names"]) else np.zeros(0)
    dx, dy = state[-1, :2] - state[0, :2]
    side = ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("away" if dy > 0 else "toward the camera")
    closes = int(np.sum(np.diff((grip > 0.5).astype(int)) != 0))
    if moved.size and moved.max() > 0.03:
        name = scene["names"][int(np.argmax(moved))]
        task = f"push the {name} block"
    else:
        task = f"move the gripper {side}"
    caption = (f"A robot gripper moves over a table with {len(scene['names'])} coloured blocks. "
               f"It ends up to the {side} and opens or closes {closes} times; task: {task}.")
    return task, caption


def generate_episode(seed: int, episode: int, cfg: SyntheticConfig | None = None) -> dict:
    """One episode: frames (N,H,W,3) uint8, state (N,7), continuous_gripper_state (N,), action (N-1,7), ..."""
    cfg = cfg or SyntheticConfig()
    cfg.check()
    rng = episode_rng(seed, episode)
    objects = _sample_objects(rng, cfg.num_objects)
    state, grip = _sample_trajectory(rng, cfg, objects)
    scene = {"names": objects["names"], "xy": objects["xy"].tolist(), "radius": objects["radius"].tolist(),
             "height": objects["height"].tolist(), "color": objects["color"].tolist()}
    if cfg.gripper_scale != 1.0:
        scene["gripper_scale"] = float(cfg.gripper_scale)
    frames = render_episode(state, grip, scene, cfg.height, cfg.width)
    # IRASim-style JSON action: gripper-frame deltas (unscaled) + the binary gripper flag
    action = actions_from_states(state, state[:, 6], scaler=1.0)
    task, caption = _describe(state, grip, scene)
    return {"frames": frames, "state": state, "continuous_gripper_state": grip,
            "action": np.round(action, 6), "scene": scene, "task": task, "caption": caption}


def parse_split_ratio(text: str | Sequence[float]) -> tuple[float, float, float]:
    vals = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    if len(vals) != 3 or min(vals) < 0 or sum(vals) <= 0:
        raise ValueError(f"split ratio must be three non-negative numbers train,val,test; got {text!r}")
    s = sum(vals)
    return tuple(v / s for v in vals)


def assign_splits(num_episodes: int, ratio: Sequence[float]) -> list[str]:
    """Split name per episode index: contiguous blocks; each split with a positive ratio gets >= 1 episode
    when there are enough episodes."""
    n_val = int(round(num_episodes * ratio[1]))
    n_test = int(round(num_episodes * ratio[2]))
    if num_episodes >= 3:
        n_val = max(n_val, 1 if ratio[1] > 0 else 0)
        n_test = max(n_test, 1 if ratio[2] > 0 else 0)
    n_train = max(num_episodes - n_val - n_test, 0)
    return ["train"] * n_train + ["val"] * n_val + ["test"] * (num_episodes - n_train - n_val)


def _dump_json(obj, path: str) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def write_bridge_dataset(out: str, episodes: int = 40, seed: int = 0, cfg: SyntheticConfig | None = None,
                         split_ratio: Sequence[float] = (0.8, 0.1, 0.1),
                         progress: Callable[[int], None] | None = None) -> dict:
    """Write episodes in the IRASim layout. Returns {"splits": {split: count}, "config": ...}."""
    cfg = cfg or SyntheticConfig()
    splits = assign_splits(episodes, split_ratio)
    counts = {"train": 0, "val": 0, "test": 0}
    for i, split in enumerate(splits):
        ep = generate_episode(seed, i, cfg)
        rel_video = f"videos/{split}/{i}/rgb.mp4"
        write_video(os.path.join(out, rel_video), ep["frames"], fps=cfg.fps, quality=cfg.quality, threads=1)
        ann = {
            "task": "robot_trajectory_prediction",
            "texts": [ep["task"]],
            "episode_id": str(i),
            "videos": [{"video_path": rel_video}],
            "state": ep["state"].tolist(),
            "continuous_gripper_state": ep["continuous_gripper_state"].tolist(),
            "action": ep["action"].tolist(),
            "scene": ep["scene"],
            "synthetic": {"seed": seed, "episode": i, "fps": cfg.fps},
        }
        os.makedirs(os.path.join(out, "annotation", split), exist_ok=True)
        _dump_json(ann, os.path.join(out, "annotation", split, f"{i}.json"))
        counts[split] += 1
        if progress:
            progress(1)
    _dump_json({"layout": "bridge", "episodes": episodes, "seed": seed, "config": asdict(cfg), "splits": counts},
               os.path.join(out, "synthetic_info.json"))
    return {"splits": counts, "config": asdict(cfg)}


def write_video_text_dataset(out: str, episodes: int = 40, seed: int = 0, cfg: SyntheticConfig | None = None,
                             progress: Callable[[int], None] | None = None) -> dict:
    """Write `videos/ep_XXXX.mp4` + `metas/ep_XXXX.txt` (caption). Returns {"videos": n, "config": ...}."""
    cfg = cfg or SyntheticConfig()
    os.makedirs(os.path.join(out, "metas"), exist_ok=True)
    for i in range(episodes):
        ep = generate_episode(seed, i, cfg)
        name = f"ep_{i:04d}"
        write_video(os.path.join(out, "videos", f"{name}.mp4"), ep["frames"], fps=cfg.fps, quality=cfg.quality,
                    threads=1)
        with open(os.path.join(out, "metas", f"{name}.txt"), "w") as f:
            f.write(ep["caption"] + "\n")
        if progress:
            progress(1)
    _dump_json({"layout": "video_text", "episodes": episodes, "seed": seed, "config": asdict(cfg)},
               os.path.join(out, "synthetic_info.json"))
    return {"videos": episodes, "config": asdict(cfg)}


def write_lerobot_dataset(out: str, episodes: int = 40, seed: int = 0, cfg: SyntheticConfig | None = None,
                          split_ratio: Sequence[float] = (0.8, 0.1, 0.1),
                          progress: Callable[[int], None] | None = None) -> dict:
    """Write the episodes as a LeRobot v3.0 dataset (:class:`~cosmos_predict2.data.lerobot_writer.LeRobotWriter`):
    cameras ``observation.images.front`` (the Bridge layout's view) and ``observation.images.side``
    (:data:`SIDE_CAMERA`), ``observation.state`` [x, y, z, roll, pitch, yaw, gripper] and the 10-d ``action``
    [dxyz, rot6d, gripper] of :func:`~cosmos_predict2.data.dataset_convert.bridge_step_actions` (the layout
    ``scripts/convert_dataset.py --to lerobot`` writes); info.json splits from ``split_ratio``. Returns
    {"splits": {split: "a:b"}, "config": ...}."""
    from cosmos_predict2.data.dataset_convert import ACTION_NAMES, STATE_NAMES, bridge_step_actions
    from cosmos_predict2.data.lerobot_writer import LeRobotWriter

    cfg = cfg or SyntheticConfig()
    names = assign_splits(episodes, split_ratio)
    features = {"observation.images.front": {"dtype": "video", "shape": [cfg.height, cfg.width, 3]},
                "observation.images.side": {"dtype": "video", "shape": [cfg.height, cfg.width, 3]},
                "observation.state": {"dtype": "float32", "shape": [7], "names": STATE_NAMES},
                "action": {"dtype": "float32", "shape": [10], "names": ACTION_NAMES}}
    with LeRobotWriter(out, cfg.fps, features, robot_type="synthetic_gripper") as writer:
        for i in range(episodes):
            ep = generate_episode(seed, i, cfg)
            state, grip = ep["state"][:, :6], ep["continuous_gripper_state"]
            side = render_episode(ep["state"], grip, ep["scene"], cfg.height, cfg.width, SIDE_CAMERA)
            writer.add_episode({"observation.images.front": ep["frames"], "observation.images.side": side},
                               {"observation.state": np.concatenate([state, grip[:, None]], axis=1),
                                "action": bridge_step_actions(state, grip)}, task=ep["task"])
            if progress:
                progress(1)
        splits, start = {}, 0
        for split in ("train", "val", "test"):
            n = names.count(split)
            if n:
                splits[split] = f"{start}:{start + n}"
                start += n
        writer.finalize(splits)
    return {"splits": splits, "config": asdict(cfg)}
