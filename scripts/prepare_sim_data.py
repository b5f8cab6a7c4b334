"""Generate robot-arm episodes with MuJoCo (MetaWorld tasks, scripted experts with perturbed actions) in the
Bridge layout that the action-conditioned experiments read.

    pip install -e ".[sim]"  &&  apt-get install libosmesa6      # once (scripts/setup_env.sh does both as root)
    python -m scripts.prepare_sim_data --out datasets/sim_bridge
    python -m scripts.prepare_sim_data --out /tmp/sim --tasks push-v3,pick-place-v3 --episodes 40 \\
        --camera corner3 --height 128 --width 160 --workers 2

Deterministic for a given --seed (same JSON bytes and video bytes on every run and worker count); resumable
(run the same command again after an interruption). Episodes: --episodes training episodes, --val-episodes and
--test-episodes held-out ones (other seeds, same tasks). Rendering uses MUJOCO_GL (default osmesa).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm

from cosmos_predict2.data.sim_episode import SimConfig


def parse_args(argv=None) -> argparse.Namespace:
    d = SimConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (created; an existing one made with the same "
                                                "settings is completed)")
    p.add_argument("--tasks", default=",".join(d.tasks), help="comma-separated MetaWorld tasks (--list-tasks)")
    p.add_argument("--episodes", type=int, default=160, help="training episodes")
    p.add_argument("--val-episodes", type=int, default=8)
    p.add_argument("--test-episodes", type=int, default=16)
    p.add_argument("--frames", type=int, default=d.frames, help="frames per episode")
    p.add_argument("--height", type=int, default=d.height, help="multiple of 16")
    p.add_argument("--width", type=int, default=d.width, help="multiple of 16")
    p.add_argument("--camera", default=d.camera, help="MuJoCo camera name (corner, corner2, corner3, corner4, "
                                                      "topview, behindGripper, gripperPOV)")
    p.add_argument("--steps-per-frame", type=int, default=d.steps_per_frame,
                   help="simulator steps (12.5 ms each) per recorded frame")
    p.add_argument("--noise", type=float, default=d.noise, help="std of the per-frame perturbation of the expert's "
                                                                "actions (actions lie in [-1, 1])")
    p.add_argument("--random-segment-prob", type=float, default=d.random_segment_prob,
                   help="per-frame probability of starting a 2-5 frame random move")
    p.add_argument("--pre-roll-frames", type=int, default=d.pre_roll_frames,
                   help="up to this many frames of random moves before the first frame")
    p.add_argument("--supersample", type=int, default=d.supersample, help="render at this multiple and average down")
    p.add_argument("--shadow-size", type=int, default=d.shadow_size, help="shadow map size (0: no shadows)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="processes")
    p.add_argument("--list-tasks", action="store_true", help="print MetaWorld's task names and exit")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    from cosmos_predict2.data.sim_env import SimUnavailable, list_tasks, require_simulator
    from cosmos_predict2.data.sim_writer import SimDatasetError, check_output_dir, write_sim_dataset

    try:
        require_simulator()
        known = list_tasks()
        if a.list_tasks:
            print("\n".join(known))
            return 0
        tasks = tuple(t.strip() for t in a.tasks.split(",") if t.strip())
        bad = [t for t in tasks if t not in known]
        if bad:
            import difflib

            hints = {t: difflib.get_close_matches(t, known, n=1) for t in bad}
            raise ValueError("unknown MetaWorld task(s): " + ", ".join(
                f"{t}" + (f" (did you mean {hints[t][0]}?)" if hints[t] else "") for t in bad)
                + "; see --list-tasks")
        cfg = SimConfig(tasks=tasks, frames=a.frames, height=a.height, width=a.width, camera=a.camera,
                        steps_per_frame=a.steps_per_frame, noise=a.noise, random_segment_prob=a.random_segment_prob,
                        pre_roll_frames=a.pre_roll_frames, shadow_size=a.shadow_size, supersample=a.supersample,
                        seed=a.seed)
        cfg.check()
        counts = {"train": a.episodes, "val": a.val_episodes, "test": a.test_episodes}
        if min(counts.values()) < 0 or sum(counts.values()) < 1:
            raise ValueError(f"--episodes {a.episodes} --val-episodes {a.val_episodes} --test-episodes "
                             f"{a.test_episodes}: nothing to generate (counts must be >= 0, at least one > 0)")
        _check_camera(cfg)
        check_output_dir(a.out, cfg)
    except SimUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ValueError, SimDatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.time()
    total = sum(counts.values())
    try:
        with tqdm(total=total, desc="simulated episodes", unit="ep") as bar:
            res = write_sim_dataset(a.out, cfg, counts, workers=a.workers, progress=bar.update)
    except SimDatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    secs = time.time() - t0
    rate = ", ".join(f"{t} {v['successes']}/{v['episodes']}" for t, v in res["tasks"].items())
    per_ep = secs / res["written"] if res["written"] else 0.0
    print(f"wrote {res['written']} episodes ({res['skipped']} already there) to {a.out} in {secs:.0f}s "
          f"({per_ep:.1f}s per episode, {a.workers} workers); splits {res['splits']}; "
          f"{cfg.height}x{cfg.width}, {cfg.frames} frames at {cfg.fps:g} fps, camera {cfg.camera}; "
          f"expert successes: {rate}")
    print(f"next: python scripts/validate_dataset.py {a.out}")
    return 0


def _check_camera(cfg: SimConfig) -> None:
    """Fail before any worker starts when the camera is not in the first task's scene."""
    from cosmos_predict2.data.sim_env import SimCamera, make_env

    env = make_env(cfg.tasks[0])
    try:
        SimCamera(env, cfg.camera, 16, 16, shadow_size=0, supersample=1).close()
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
