"""Synthetic generator: determinism, learnable/controllable dynamics, IRASim-compatible output."""

import filecmp
import glob
import json
import os

import numpy as np
import pytest

from cosmos_predict2.data.actions import actions_from_states
from cosmos_predict2.data.synthetic import (SyntheticConfig, assign_splits, generate_episode, render_episode,
                                            write_bridge_dataset)
from cosmos_predict2.data.video_io import read_frames, video_info
from tests.data_fixtures import TINY, bridge_dir

CFG = SyntheticConfig()  # the defaults: 64x80, 33 frames


def test_deterministic_bytes_and_frames(tmp_path):
    a = bridge_dir()
    write_bridge_dataset(str(tmp_path), episodes=6, seed=0, cfg=TINY)
    for p in glob.glob(f"{a}/annotation/*/*.json"):
        assert filecmp.cmp(p, str(tmp_path / os.path.relpath(p, a)), shallow=False)
    va, vb = f"{a}/videos/train/0/rgb.mp4", f"{tmp_path}/videos/train/0/rgb.mp4"
    idx = list(range(16))
    assert np.array_equal(read_frames(va, idx), read_frames(vb, idx))
    e1, e2 = generate_episode(1, 0, TINY), generate_episode(2, 0, TINY)
    assert not np.allclose(e1["state"], e2["state"])


def test_annotation_format_and_splits():
    root = bridge_dir()
    assert assign_splits(6, (0.8, 0.1, 0.1)) == ["train"] * 4 + ["val", "test"]
    ann = json.load(open(f"{root}/annotation/val/4.json"))
    n = 16
    assert np.array(ann["state"]).shape == (n, 7) and len(ann["continuous_gripper_state"]) == n
    assert np.array(ann["action"]).shape == (n - 1, 7)
    assert ann["videos"] == [{"video_path": "videos/val/4/rgb.mp4"}] and ann["episode_id"] == "4"
    assert isinstance(ann["texts"], list) and ann["texts"][0]
    st = np.array(ann["state"])
    assert set(np.unique(st[:, 6])) <= {0.0, 1.0}
    np.testing.assert_allclose(ann["action"], actions_from_states(st, st[:, 6], scaler=1.0), atol=2e-6)
    assert video_info(f"{root}/videos/val/4/rgb.mp4")[:1] == (16,)
    assert video_info(f"{root}/videos/val/4/rgb.mp4")[2:] == (32, 48)


def test_video_follows_the_state_and_motion_is_visible():
    ep = generate_episode(0, 3, CFG)
    f = ep["frames"].astype(np.float64)
    assert f.shape == (33, 64, 80, 3)
    # rendering is a pure function of (scene, states): re-render matches exactly
    again = render_episode(ep["state"], ep["continuous_gripper_state"], ep["scene"], 64, 80)
    assert np.array_equal(again, ep["frames"])
    # enough motion that copying the last frame is a poor predictor
    step = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))
    assert step.mean() > 1.0
    # actions matter: the same start followed by another trajectory gives other frames
    other = ep["state"].copy()
    other[1:, 0] = np.clip(other[1:, 0] - 0.2, -0.45, 0.45)
    alt = render_episode(other, ep["continuous_gripper_state"], ep["scene"], 64, 80)
    assert np.array_equal(alt[0], ep["frames"][0])
    assert np.abs(alt[5:].astype(float) - f[5:]).mean() > 1.0
    # gripper high-contrast magenta is visible in every frame
    mag = (f[..., 0] > 150) & (f[..., 1] < 110) & (f[..., 2] > 130)
    assert (mag.sum(axis=(1, 2)) >= 3).all()


def test_trajectories_vary_and_cover_yaw_wrap():
    free = SyntheticConfig(yaw_range=np.pi)  # free turning
    eps = [generate_episode(0, i, free) for i in range(8)]
    yaw = np.concatenate([e["state"][:, 5] for e in eps])
    assert (yaw > -np.pi).all() and (yaw <= np.pi).all()
    jumps = np.concatenate([np.abs(np.diff(e["state"][:, 5])) for e in eps])
    assert (jumps > np.pi).any()  # some episode wraps around +-pi
    grip = np.concatenate([e["continuous_gripper_state"] for e in eps])
    assert grip.min() == 0.0 and grip.max() == 1.0
    speeds = np.concatenate([np.linalg.norm(np.diff(e["state"][:, :3], axis=0), axis=1) for e in eps])
    assert np.median(speeds) > 0.03


def test_default_yaw_stays_in_range_and_still_turns():
    eps = [generate_episode(0, i, CFG) for i in range(8)]
    yaw = np.concatenate([e["state"][:, 5] for e in eps])
    assert np.abs(yaw).max() <= CFG.yaw_range + 1e-6
    assert yaw.max() - yaw.min() > CFG.yaw_range  # it does turn, across most of the range
    with pytest.raises(ValueError, match="yaw_range"):
        SyntheticConfig(yaw_range=0.0).check()


def test_gripper_scale_draws_a_bigger_gripper_from_the_same_states():
    small, big = (generate_episode(0, 2, SyntheticConfig(gripper_scale=k)) for k in (1.0, 2.0))
    assert np.array_equal(small["state"], big["state"]) and np.array_equal(small["action"], big["action"])
    assert big["scene"]["gripper_scale"] == 2.0 and "gripper_scale" not in small["scene"]

    def magenta(f):
        return ((f[..., 0] > 150) & (f[..., 1] < 110) & (f[..., 2] > 130)).sum()

    assert magenta(big["frames"]) > 2.5 * magenta(small["frames"])  # finger area ~ scale^2
    # the annotation's scene alone re-renders the same frames
    again = render_episode(big["state"], big["continuous_gripper_state"], big["scene"], 64, 80)
    assert np.array_equal(again, big["frames"])


def test_decoded_video_is_close_to_render():
    root = bridge_dir()
    ann = json.load(open(f"{root}/annotation/train/1.json"))
    st, g = np.array(ann["state"]), np.array(ann["continuous_gripper_state"])
    render = render_episode(st, g, ann["scene"], 32, 48).astype(float)
    dec = read_frames(f"{root}/videos/train/1/rgb.mp4", list(range(16))).astype(float)
    assert np.abs(render - dec).mean() < 4.0


def test_first_frame_plus_actions_determine_the_video():
    """Integrating the training actions from the first state rebuilds the trajectory, hence every frame."""
    from cosmos_predict2.data.actions import states_from_actions
    ep = generate_episode(0, 5, CFG)
    st, g = ep["state"], ep["continuous_gripper_state"]
    act = actions_from_states(st, g)  # the training convention: scaled by 20, gripper = continuous state
    rebuilt = states_from_actions(st[0], act)
    np.testing.assert_allclose(rebuilt[:, :3], st[:, :3], atol=1e-9)
    d = np.mod(rebuilt[:, 3:6] - st[:, 3:6] + np.pi, 2 * np.pi) - np.pi
    assert np.abs(d).max() < 1e-9
    full = np.concatenate([rebuilt, st[:, 6:]], axis=1)
    grip = np.r_[g[0], act[:, 6]]  # gripper: first value + the action's gripper column
    again = render_episode(full, grip, ep["scene"], 64, 80).astype(int)
    assert np.abs(again - ep["frames"]).max() <= 1
