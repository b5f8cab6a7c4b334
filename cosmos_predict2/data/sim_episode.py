"""One simulated robot episode: a MetaWorld task driven by its scripted expert with perturbed actions, rendered.

Every frame spans ``steps_per_frame`` simulator steps (MetaWorld: 12.5 ms each). The commanded action of a step is
the expert's action for the current observation plus a per-frame Gaussian perturbation (``noise``, held for the
frame's steps); with probability ``random_segment_prob`` per frame a random segment starts instead: for 2-5 frames
the arm follows one random direction and gripper command, then the expert takes over again from wherever the arm
is. Before the first frame the arm makes up to ``pre_roll_frames`` frames of random moves, so episodes start from
different poses. Object and goal positions come from the task's own randomisation, seeded per episode. The
actions are therefore not predictable from the image alone, which is what an action-conditioned world model needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from cosmos_predict2.data.sim_env import SimCamera, end_effector_state, make_env, reset_env, scripted_policy

__all__ = ["SimConfig", "episode_seed", "simulate_episode", "SimEpisode", "SPLITS", "MAX_EPISODE_STEPS"]

SPLITS = ("train", "val", "test")
MAX_EPISODE_STEPS = 500  # MetaWorld's max_path_length: simulator steps one episode may take


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """What one episode looks like (recorded in dataset_info.json; a resumed run must use the same values)."""

    tasks: tuple[str, ...] = ("push-v3", "pick-place-v3", "reach-v3", "drawer-close-v3", "button-press-v3",
                              "door-open-v3")
    frames: int = 33
    height: int = 64
    width: int = 80
    camera: str = "corner"
    steps_per_frame: int = 4
    noise: float = 0.3
    random_segment_prob: float = 0.12
    pre_roll_frames: int = 4
    shadow_size: int = 1024
    supersample: int = 2
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError naming the first bad value."""
        if not self.tasks:
            raise ValueError("--tasks is empty: name at least one MetaWorld task, e.g. push-v3")
        if self.frames < 2:
            raise ValueError(f"--frames {self.frames}: an episode needs at least 2 frames")
        if self.height % 16 or self.width % 16 or self.height < 16 or self.width < 16:
            raise ValueError(f"--height {self.height} --width {self.width}: both must be positive multiples of 16")
        if self.steps_per_frame < 1:
            raise ValueError(f"--steps-per-frame {self.steps_per_frame}: must be >= 1")
        if self.noise < 0:
            raise ValueError(f"--noise {self.noise}: must be >= 0")
        if not 0 <= self.random_segment_prob <= 1:
            raise ValueError(f"--random-segment-prob {self.random_segment_prob}: must be in [0, 1]")
        if self.supersample < 1:
            raise ValueError(f"--supersample {self.supersample}: must be >= 1")
        if self.pre_roll_frames < 0:
            raise ValueError(f"--pre-roll-frames {self.pre_roll_frames}: must be >= 0")
        steps = (self.frames - 1 + self.pre_roll_frames) * self.steps_per_frame
        if steps > MAX_EPISODE_STEPS:
            raise ValueError(f"--frames {self.frames} x --steps-per-frame {self.steps_per_frame} (+ up to "
                             f"{self.pre_roll_frames} pre-roll frames) needs {steps} simulator steps; MetaWorld "
                             f"episodes end after {MAX_EPISODE_STEPS}: lower --frames, --steps-per-frame or "
                             f"--pre-roll-frames")

    @property
    def fps(self) -> float:
        """Frames per simulated second (MetaWorld steps are 12.5 ms)."""
        return 1.0 / (self.steps_per_frame * 0.0125)


def episode_seed(seed: int, split: str, index: int) -> int:
    """The seed of episode ``index`` of ``split``: independent of how many episodes the other splits have."""
    ss = np.random.SeedSequence([int(seed), SPLITS.index(split), int(index), 31337])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@dataclasses.dataclass
class SimEpisode:
    frames: np.ndarray  # (T, H, W, 3) uint8, upright
    state: np.ndarray  # (T, 6) [x, y, z, roll, pitch, yaw] of the tool centre
    gripper: np.ndarray  # (T,) 0 open .. 1 closed
    env_actions: np.ndarray  # ((T - 1) * steps_per_frame, 4) commanded simulator actions after the first frame
    pre_roll_actions: np.ndarray  # (P, 4) commanded before the first frame
    success: bool  # the task's success flag at the end
    hand_masks: Optional[np.ndarray] = None  # (T, H, W) bool, the hand's pixels (only when asked for)


class _PerturbedExpert:
    """The expert's action plus held per-frame noise, interrupted by random segments (module doc)."""

    def __init__(self, task: str, cfg: SimConfig, rng: np.random.Generator):
        self.expert = scripted_policy(task)
        self.cfg, self.rng = cfg, rng
        self.segment_left = 0
        self.segment_action = np.zeros(4)
        self.frame_noise = np.zeros(4)
        self.in_segment = False

    def random_action(self) -> np.ndarray:
        direction = self.rng.uniform(-1.0, 1.0, size=3)
        return np.concatenate([direction, [self.rng.choice([-1.0, 1.0])]])

    def new_frame(self) -> None:
        """Draw the perturbation held for the next frame's steps."""
        self.frame_noise = np.concatenate([self.rng.normal(0.0, self.cfg.noise, size=3),
                                           [self.rng.normal(0.0, self.cfg.noise / 3)]])
        if self.segment_left == 0 and self.rng.random() < self.cfg.random_segment_prob:
            self.segment_left = int(self.rng.integers(2, 6))
            self.segment_action = self.random_action()
        self.in_segment = self.segment_left > 0
        if self.in_segment:
            self.segment_left -= 1

    def act(self, obs: np.ndarray) -> np.ndarray:
        base = self.segment_action if self.in_segment else np.asarray(self.expert.get_action(obs), np.float64)
        return np.clip(base + self.frame_noise, -1.0, 1.0)


def simulate_episode(task: str, seed: int, cfg: SimConfig, env: Any = None, camera: Optional[SimCamera] = None,
                     with_hand_masks: bool = False) -> SimEpisode:
    """Run and render one episode of ``task`` (``env`` / ``camera`` may be reused across episodes of one task)."""
    own_env, own_cam = env is None, camera is None
    env = make_env(task) if own_env else env
    cam = SimCamera(env, cfg.camera, cfg.height, cfg.width, cfg.shadow_size, cfg.supersample) if own_cam else camera
    try:
        rng = np.random.default_rng(seed)
        obs = reset_env(env, seed)
        policy = _PerturbedExpert(task, cfg, rng)
        pre_roll = []
        for _ in range(int(rng.integers(0, cfg.pre_roll_frames + 1)) * cfg.steps_per_frame):
            if len(pre_roll) % cfg.steps_per_frame == 0:
                move = policy.random_action()
            pre_roll.append(move)
            obs, *_ = env.step(move.astype(np.float32))
        frames, states, grips, masks, actions = [], [], [], [], []
        info: dict = {}

        def record() -> None:
            pose, closed = end_effector_state(env)
            states.append(pose)
            grips.append(closed)
            frames.append(cam.rgb())
            if with_hand_masks:
                masks.append(cam.body_mask("hand"))

        record()
        for _ in range(cfg.frames - 1):
            policy.new_frame()
            for _ in range(cfg.steps_per_frame):
                a = policy.act(obs)
                actions.append(a)
                obs, _, _, _, info = env.step(a.astype(np.float32))
            record()
        return SimEpisode(frames=np.stack(frames), state=np.stack(states), gripper=np.asarray(grips),
                          env_actions=np.asarray(actions).reshape(-1, 4),
                          pre_roll_actions=np.asarray(pre_roll, dtype=np.float64).reshape(-1, 4),
                          success=bool(info.get("success", 0.0)),
                          hand_masks=np.stack(masks) if with_hand_masks else None)
    finally:
        if own_cam:
            cam.close()
        if own_env:
            env.close()
