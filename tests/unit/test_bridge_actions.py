"""Bridge actions from states vs an independent float64 computation (scipy rotations)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cosmos_predict2.data.actions import actions_from_states, euler2rotm, rotm2euler, wrap_angle


def _reference(state, grip, accumulate=False, scale=20.0, gscale=1.0):
    """Independent: scipy intrinsic 'ZYX' (= Rz Ry Rx) rotations, per-row loops."""
    rows = []
    rot = [Rotation.from_euler("ZYX", [s[5], s[4], s[3]]) for s in state]
    for k in range(1, len(state)):
        b = 0 if accumulate else k - 1
        Rb = rot[b].as_matrix()
        dxyz = Rb.T @ (state[k, :3] - state[b, :3])
        rel = rot[b].inv() * rot[k]
        yaw, pitch, roll = rel.as_euler("ZYX")
        rows.append([*(dxyz * scale), *(np.array([roll, pitch, yaw]) * scale), grip[k] * gscale])
    return np.array(rows)


def _angle_close(a, b, atol=1e-9):
    d = np.mod(a - b + np.pi, 2 * np.pi) - np.pi
    return np.abs(d).max() < atol


def test_hand_made_states_match_reference():
    state = np.array([
        [0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0],
        [0.2, 0.2, 0.3, 0.0, 0.0, np.pi / 2, 1],  # pure x move + 90deg yaw
        [0.2, 0.3, 0.25, 0.1, -0.2, np.pi / 2, 1],
        [0.15, 0.3, 0.2, 0.3, 0.2, -1.0, 0],
    ])
    grip = np.array([0.0, 0.3, 0.9, 1.0])
    act = actions_from_states(state, grip)
    # first step by hand: identity base, dx = 0.1 -> 2.0; dyaw = pi/2 -> 10*pi; gripper = 0.3
    np.testing.assert_allclose(act[0], [2.0, 0, 0, 0, 0, 10 * np.pi, 0.3], atol=1e-12)
    # second step: base yawed 90deg, world +y move is gripper-frame -x... R^T (0, .1, -.05) = (0.1, 0, -0.05)
    np.testing.assert_allclose(act[1, :3], [2.0, 0.0, -1.0], atol=1e-12)
    ref = _reference(state, grip)
    np.testing.assert_allclose(act[:, :3], ref[:, :3], atol=1e-9)
    assert _angle_close(act[:, 3:6] / 20, ref[:, 3:6] / 20)
    np.testing.assert_allclose(act[:, 6], grip[1:])


def test_yaw_wraparound_near_pi():
    state = np.zeros((4, 7))
    state[:, 5] = [np.pi - 0.05, -np.pi + 0.05, np.pi - 0.02, -np.pi + 0.01]  # crosses +-pi each step
    act = actions_from_states(state, np.zeros(4), scaler=1.0)
    np.testing.assert_allclose(act[:, 5], [0.1, -0.07, 0.03], atol=1e-12)  # small deltas, not ~2pi
    ref = _reference(state, np.zeros(4), scale=1.0)
    assert _angle_close(act[:, 3:6], ref[:, 3:6])


@pytest.mark.parametrize("accumulate", [False, True])
def test_random_states_and_accumulate(accumulate):
    rng = np.random.default_rng(3)
    state = np.concatenate([rng.normal(0, 0.3, (13, 3)), rng.uniform(-3.1, 3.1, (13, 1)),
                            rng.uniform(-1.2, 1.2, (13, 1)), rng.uniform(-3.14, 3.14, (13, 1)), np.zeros((13, 1))], 1)
    grip = rng.random(13)
    act = actions_from_states(state, grip, accumulate=accumulate, gripper_rescale_factor=2.0)
    ref = _reference(state, grip, accumulate=accumulate, gscale=2.0)
    assert act.shape == (12, 7)
    np.testing.assert_allclose(act[:, :3], ref[:, :3], atol=1e-9)
    np.testing.assert_allclose(act[:, 6], ref[:, 6])
    assert _angle_close(act[:, 3:6] / 20, ref[:, 3:6] / 20)
    if accumulate:  # last row equals the single-step action between frames 0 and 12
        one = actions_from_states(state[[0, 12]], grip[[0, 12]], gripper_rescale_factor=2.0)
        np.testing.assert_allclose(act[-1], one[0], atol=1e-9)


def test_angles_wrapped_and_roundtrip():
    assert wrap_angle(np.pi) == np.pi and wrap_angle(-np.pi) == np.pi
    rpy = np.array([[0.3, -0.4, 3.0], [-2.0, 1.0, -3.1]])
    np.testing.assert_allclose(rotm2euler(euler2rotm(rpy)), rpy, atol=1e-12)
    out = rotm2euler(euler2rotm(np.random.default_rng(0).uniform(-3.2, 3.2, (50, 3))))
    assert (out > -np.pi).all() and (out <= np.pi).all()
