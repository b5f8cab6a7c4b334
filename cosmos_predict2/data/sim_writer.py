"""Write simulated robot episodes in the Bridge layout, in parallel, deterministically and resumably.

Layout (what :class:`~cosmos_predict2.data.bridge.BridgeActionDataset` reads)::

    <out>/dataset_info.json                       simulator, versions, the SimConfig, split sizes, success rate
    <out>/annotation/{train,val,test}/<i>.json    state (T, 6), continuous_gripper_state (T,), action (T-1, 7), ...
    <out>/videos/{train,val,test}/<i>/rgb.mp4

Episode ``i`` of a split is task ``tasks[i % len(tasks)]`` with its own seed (:func:`episode_seed`), so its files
do not depend on the worker count, the order episodes finish in, or the other splits' sizes. Each episode's video
and annotation are written atomically, the annotation last: an interrupted run leaves only complete episodes, and
running the same command again skips them and writes the rest. A folder made with other settings is refused.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
from typing import Callable, Optional

import numpy as np

from cosmos_predict2.data.actions import actions_from_states
from cosmos_predict2.data.sim_episode import SPLITS, SimConfig, episode_seed, simulate_episode
from cosmos_predict2.data.video_io import write_video
from cosmos_predict2.utils.files import atomic_write_text

__all__ = ["EpisodeJob", "plan_episodes", "write_sim_dataset", "check_output_dir", "SimDatasetError", "DATASET_INFO"]

DATASET_INFO = "dataset_info.json"
VIDEO_QUALITY = 9  # imageio's libx264 scale (0-10)


class SimDatasetError(ValueError):
    """The output folder cannot be used as asked (the message names the file and the fix)."""


@dataclasses.dataclass(frozen=True)
class EpisodeJob:
    split: str
    index: int
    task: str
    seed: int

    @property
    def annotation(self) -> str:
        return os.path.join("annotation", self.split, f"{self.index}.json")

    @property
    def video(self) -> str:
        return f"videos/{self.split}/{self.index}/rgb.mp4"


def plan_episodes(cfg: SimConfig, counts: dict[str, int]) -> list[EpisodeJob]:
    """Every episode to write: ``counts[split]`` per split, tasks in turn."""
    return [EpisodeJob(split, i, cfg.tasks[i % len(cfg.tasks)], episode_seed(cfg.seed, split, i))
            for split in SPLITS for i in range(int(counts.get(split, 0)))]


def _config_record(cfg: SimConfig) -> dict:
    rec = dataclasses.asdict(cfg)
    rec["tasks"] = list(cfg.tasks)
    rec["fps"] = cfg.fps
    return rec


def _versions() -> dict:
    from importlib.metadata import version

    import mujoco

    return {"mujoco": mujoco.__version__, "metaworld": version("metaworld"), "renderer": os.environ.get("MUJOCO_GL")}


def _dump(obj: dict) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def check_output_dir(out: str, cfg: SimConfig) -> None:
    """Raise :class:`SimDatasetError` when ``out`` holds another dataset or one made with other settings."""
    path = os.path.join(out, DATASET_INFO)
    if not os.path.isfile(path):
        if os.path.isdir(os.path.join(out, "annotation")):
            raise SimDatasetError(f"{out} already holds a dataset without {DATASET_INFO}; write the simulated "
                                  f"episodes to another --out")
        return
    try:
        with open(path) as f:
            made = json.load(f).get("config", {})
    except (OSError, ValueError) as e:
        raise SimDatasetError(f"{path}: unreadable ({e}); delete it or use another --out") from e
    want = _config_record(cfg)
    diff = [f"{k}={made.get(k)!r} (now {want[k]!r})" for k in sorted(want) if made.get(k) != want[k]]
    if diff:
        raise SimDatasetError(f"{out} was made with other settings: {', '.join(diff)}; use the same flags to "
                              f"continue it, or another --out")


def _episode_done(out: str, job: EpisodeJob) -> bool:
    path = os.path.join(out, job.annotation)
    if not (os.path.isfile(path) and os.path.isfile(os.path.join(out, job.video))):
        return False
    try:
        with open(path) as f:
            sim = json.load(f).get("sim", {})
    except (OSError, ValueError):
        return False  # a damaged annotation is written again
    return sim.get("task") == job.task and sim.get("episode_seed") == job.seed


# One environment and camera per task, view and worker process, reused across that task's episodes.
_worker_cache: dict = {}


def _task_env(task: str, cfg: SimConfig):
    from cosmos_predict2.data.sim_env import SimCamera, make_env

    key = (task, cfg.camera, cfg.height, cfg.width, cfg.shadow_size, cfg.supersample)
    if key not in _worker_cache:
        env = make_env(task)
        _worker_cache[key] = (env, SimCamera(env, cfg.camera, cfg.height, cfg.width, cfg.shadow_size, cfg.supersample))
    return _worker_cache[key]


def write_episode(out: str, job: EpisodeJob, cfg: SimConfig) -> dict:
    """Simulate, render and write one episode; returns {"split", "task", "success"}."""
    env, cam = _task_env(job.task, cfg)
    ep = simulate_episode(job.task, job.seed, cfg, env=env, camera=cam)
    video = os.path.join(out, job.video)
    os.makedirs(os.path.dirname(video), exist_ok=True)
    tmp = os.path.join(os.path.dirname(video), f".tmp-{os.getpid()}-rgb.mp4")
    write_video(tmp, ep.frames, fps=cfg.fps, quality=VIDEO_QUALITY, threads=1)
    os.replace(tmp, video)
    # IRASim-style informational action: per-frame pose deltas in the gripper frame (unscaled) + gripper state.
    action = actions_from_states(ep.state, ep.gripper, scaler=1.0)
    ann = {
        "task": "robot_trajectory_prediction",
        "texts": [job.task.rsplit("-v", 1)[0].replace("-", " ")],
        "episode_id": f"{job.split}/{job.index}",
        "videos": [{"video_path": job.video}],
        "state": np.round(ep.state, 7).tolist(),
        "continuous_gripper_state": np.round(ep.gripper, 7).tolist(),
        "action": np.round(action, 7).tolist(),
        "sim": {"simulator": "mujoco/metaworld", "task": job.task, "split": job.split, "index": job.index,
                "episode_seed": job.seed, "camera": cfg.camera, "success": ep.success, "fps": cfg.fps,
                "steps_per_frame": cfg.steps_per_frame,
                "pre_roll_actions": np.round(ep.pre_roll_actions, 7).tolist(),
                "env_actions": np.round(ep.env_actions, 7).tolist()},
    }
    ann_path = os.path.join(out, job.annotation)
    os.makedirs(os.path.dirname(ann_path), exist_ok=True)
    atomic_write_text(ann_path, _dump(ann))
    return {"split": job.split, "task": job.task, "success": ep.success}


def _worker_init() -> None:
    from cosmos_predict2.data.sim_env import require_simulator

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    require_simulator()


def _run_job(args: tuple) -> dict:
    out, job, cfg = args
    try:
        return write_episode(out, job, cfg)
    except Exception as e:
        raise RuntimeError(f"episode {job.split}/{job.index} ({job.task}, seed {job.seed}): "
                           f"{type(e).__name__}: {e}") from None


def _stats_from_annotations(out: str, jobs: list[EpisodeJob]) -> dict:
    per_task: dict = {}
    for job in jobs:
        with open(os.path.join(out, job.annotation)) as f:
            ok = bool(json.load(f)["sim"]["success"])
        n, s = per_task.get(job.task, (0, 0))
        per_task[job.task] = (n + 1, s + int(ok))
    return {task: {"episodes": n, "successes": s} for task, (n, s) in sorted(per_task.items())}


def write_sim_dataset(out: str, cfg: SimConfig, counts: dict[str, int], workers: int = 1,
                      progress: Optional[Callable[[int], None]] = None) -> dict:
    """Write (or complete) the dataset; returns {"written", "skipped", "splits", "tasks"}."""
    from cosmos_predict2.data.sim_env import require_simulator

    cfg.check()
    require_simulator()
    unknown = [s for s in counts if s not in SPLITS]
    if unknown:
        raise SimDatasetError(f"unknown split(s) {unknown}; use {SPLITS}")
    check_output_dir(out, cfg)
    os.makedirs(out, exist_ok=True)
    info = {"layout": "bridge", "simulator": _versions(), "config": _config_record(cfg),
            "splits": {s: int(counts.get(s, 0)) for s in SPLITS}, "complete": False}
    atomic_write_text(os.path.join(out, DATASET_INFO), _dump(info))
    jobs = plan_episodes(cfg, counts)
    todo = [j for j in jobs if not _episode_done(out, j)]
    if progress and len(jobs) > len(todo):
        progress(len(jobs) - len(todo))
    if workers <= 1 or len(todo) <= 1:
        _worker_init()
        for job in todo:
            _run_job((out, job, cfg))
            if progress:
                progress(1)
    else:
        ctx = mp.get_context("spawn")  # MuJoCo's GL context is not fork-safe
        with ctx.Pool(min(workers, len(todo)), initializer=_worker_init) as pool:
            for _ in pool.imap_unordered(_run_job, [(out, j, cfg) for j in todo]):
                if progress:
                    progress(1)
    info["tasks"] = _stats_from_annotations(out, jobs)
    info["complete"] = True
    atomic_write_text(os.path.join(out, DATASET_INFO), _dump(info))
    return {"written": len(todo), "skipped": len(jobs) - len(todo), "splits": info["splits"], "tasks": info["tasks"]}
