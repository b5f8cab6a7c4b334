"""The offline best-of-N critic ranks every pure-noise video below every clean video (synthetic robot scenes and a
real Bridge episode), including noise matched to a clean video's statistics, static noise and blurred noise."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cosmos_predict2.data.synthetic import SyntheticConfig, generate_episode
from cosmos_predict2.data.video_io import read_frames, write_video
from cosmos_predict2.inference.critic import HeuristicCritic, heuristic_scores

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPISODE_VIDEO = os.path.join(ROOT, "assets", "action_conditioned", "basic", "bridge", "videos", "test", "0", "rgb.mp4")


def _blur(x_T_H_W_C: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over H and W (edge-replicated)."""
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (1, 2):
        pad = [(0, 0)] * x_T_H_W_C.ndim
        pad[axis] = (r, r)
        xp = np.pad(x_T_H_W_C, pad, mode="edge")
        n = x_T_H_W_C.shape[axis]
        x_T_H_W_C = sum(w * np.take(xp, np.arange(i, i + n), axis=axis) for i, w in enumerate(k))
    return x_T_H_W_C


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def videos():
    clean = {f"synthetic_{e}": generate_episode(0, e)["frames"] for e in range(3)}
    clean["synthetic_hard"] = generate_episode(1, 0, SyntheticConfig(yaw_range=3.1416, gripper_scale=1.0))["frames"]
    clean["synthetic_128x160"] = generate_episode(2, 0, SyntheticConfig(height=128, width=160, frames=17))["frames"]
    clean["bridge_real"] = read_frames(EPISODE_VIDEO, range(30))
    clean["synthetic_x5"] = clean["synthetic_0"].repeat(5, axis=1).repeat(5, axis=2)  # 320x400: box-averaged path

    ref = clean["synthetic_0"].astype(np.float64)
    rng = np.random.default_rng(0)
    mean_C, std_C = ref.mean(axis=(0, 1, 2)), ref.std(axis=(0, 1, 2))
    gauss = rng.standard_normal(ref.shape)
    blurred = _blur(rng.standard_normal(ref.shape), 1.5)
    noise = {
        "uniform": rng.integers(0, 256, ref.shape, dtype=np.uint8),
        "gaussian": _u8(128 + 50 * gauss),
        "matched_mean_std": _u8(mean_C + std_C * rng.standard_normal(ref.shape)),
        "static_frame": np.repeat(rng.integers(0, 256, (1, *ref.shape[1:]), dtype=np.uint8), len(ref), axis=0),
        "blurred": _u8(mean_C + std_C * blurred / blurred.std(axis=(0, 1, 2))),
        "uniform_360x640": rng.integers(0, 256, (17, 360, 640, 3), dtype=np.uint8),
    }
    return clean, noise


def test_noise_ranks_below_every_clean_video(videos):
    clean, noise = videos
    clean_scores = {k: heuristic_scores(v)["score"] for k, v in clean.items()}
    noise_scores = {k: heuristic_scores(v)["score"] for k, v in noise.items()}
    worst_clean = min(clean_scores, key=clean_scores.get)
    best_noise = max(noise_scores, key=noise_scores.get)
    assert noise_scores[best_noise] < clean_scores[worst_clean], (noise_scores, clean_scores)


def test_noise_fails_the_parts_that_describe_it(videos):
    _, noise = videos
    for name in ("uniform", "gaussian", "matched_mean_std"):
        parts = heuristic_scores(noise[name])
        assert parts["temporal_consistency"] < 0.1 and parts["spatial_structure"] < 0.1 and parts["sharpness"] < 0.1
    static = heuristic_scores(noise["static_frame"])
    assert static["motion"] < 0.1 and static["spatial_structure"] < 0.1
    assert heuristic_scores(noise["blurred"])["temporal_consistency"] < 0.1


def test_critic_reads_video_files_and_names_itself(videos, tmp_path):
    clean, noise = videos
    paths = {}
    for name, frames in (("clean", clean["synthetic_0"]), ("noise", noise["matched_mean_std"])):
        paths[name] = str(tmp_path / f"{name}.mp4")
        write_video(paths[name], frames, fps=4)
    critic = HeuristicCritic()
    clean_row, noise_row = critic.score(paths["clean"]), critic.score(paths["noise"])
    assert clean_row["critic"] == "heuristic" and noise_row["score"] < clean_row["score"]
    assert critic.description == "heuristic critic (--critic heuristic)"
