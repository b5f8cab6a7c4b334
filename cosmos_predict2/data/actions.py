"""Bridge actions from end-effector states (IRASim convention), float64 math.

Euler angles are [roll, pitch, yaw] with R = Rz(yaw) @ Ry(pitch) @ Rx(roll) ("ZYX").
"""

from __future__ import annotations

import numpy as np

DEFAULT_ACTION_SCALER = 20.0


def euler2rotm(rpy: np.ndarray) -> np.ndarray:
    """(..., 3) [roll, pitch, yaw] -> (..., 3, 3) rotation Rz(yaw) Ry(pitch) Rx(roll)."""
    rpy = np.asarray(rpy, dtype=np.float64)
    r, p, y = rpy[..., 0], rpy[..., 1], rpy[..., 2]
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    R = np.empty(rpy.shape[:-1] + (3, 3))
    R[..., 0, 0] = cy * cp
    R[..., 0, 1] = cy * sp * sr - sy * cr
    R[..., 0, 2] = cy * sp * cr + sy * sr
    R[..., 1, 0] = sy * cp
    R[..., 1, 1] = sy * sp * sr + cy * cr
    R[..., 1, 2] = sy * sp * cr - cy * sr
    R[..., 2, 0] = -sp
    R[..., 2, 1] = cp * sr
    R[..., 2, 2] = cp * cr
    return R


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap angles to (-pi, pi]."""
    return np.pi - np.mod(np.pi - np.asarray(a, dtype=np.float64), 2 * np.pi)


def rotm2euler(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation -> (..., 3) [roll, pitch, yaw] (atan2 form, wrapped to (-pi, pi])."""
    R = np.asarray(R, dtype=np.float64)
    sy = np.sqrt(R[..., 0, 0] ** 2 + R[..., 1, 0] ** 2)
    singular = sy < 1e-6
    roll = np.where(singular, np.arctan2(-R[..., 1, 2], R[..., 1, 1]), np.arctan2(R[..., 2, 1], R[..., 2, 2]))
    pitch = np.arctan2(-R[..., 2, 0], sy)
    yaw = np.where(singular, 0.0, np.arctan2(R[..., 1, 0], R[..., 0, 0]))
    return wrap_angle(np.stack([roll, pitch, yaw], axis=-1))


def actions_from_states(
    state: np.ndarray,
    gripper: np.ndarray,
    accumulate: bool = False,
    scaler: float = DEFAULT_ACTION_SCALER,
    gripper_rescale_factor: float = 1.0,
) -> np.ndarray:
    """(L, >=6) states + (L,) continuous gripper -> (L-1, 7) scaled actions (float64).

    Row k-1 (k = 1..L-1): base = frame k-1 (or frame 0 when `accumulate`);
    dxyz = R_base^T (xyz_k - xyz_base); drpy = rotm2euler(R_base^T R_k); gripper = gripper[k].
    Then scaled by [scaler]*6 + [gripper_rescale_factor].
    """
    state = np.asarray(state, dtype=np.float64)
    gripper = np.asarray(gripper, dtype=np.float64).reshape(-1)
    if state.ndim != 2 or state.shape[1] < 6:
        raise ValueError(f"state must be (L, >=6), got {state.shape}")
    if gripper.shape[0] != state.shape[0]:
        raise ValueError(f"gripper has {gripper.shape[0]} entries but state has {state.shape[0]} rows")
    xyz, rpy = state[:, :3], state[:, 3:6]
    R = euler2rotm(rpy)  # (L, 3, 3)
    base = np.zeros(len(state) - 1, dtype=np.int64) if accumulate else np.arange(len(state) - 1)
    Rb_T = np.swapaxes(R[base], -1, -2)  # (L-1, 3, 3)
    dxyz = np.einsum("nij,nj->ni", Rb_T, xyz[1:] - xyz[base])
    drpy = rotm2euler(Rb_T @ R[1:])
    act = np.concatenate([dxyz, drpy, gripper[1:, None]], axis=1)
    scale = np.array([scaler] * 6 + [gripper_rescale_factor], dtype=np.float64)
    return act * scale


def _integrate(state0: np.ndarray, steps_xyz: np.ndarray, steps_R: np.ndarray) -> np.ndarray:
    """Poses (L, 6) [x, y, z, roll, pitch, yaw] from state0 and (L-1, 3) translations / (L-1, 3, 3) rotations,
    each relative to the previous pose's frame."""
    R = euler2rotm(np.asarray(state0[3:6], dtype=np.float64))
    xyz = np.asarray(state0[:3], dtype=np.float64).copy()
    out = [np.concatenate([xyz, rotm2euler(R)])]
    for d, dR in zip(steps_xyz, steps_R):
        xyz = xyz + R @ d
        R = R @ dR
        out.append(np.concatenate([xyz, rotm2euler(R)]))
    return np.stack(out)


def states_from_actions(state0: np.ndarray, actions: np.ndarray, scaler: float = DEFAULT_ACTION_SCALER) -> np.ndarray:
    """Inverse of `actions_from_states` (step-wise actions): integrate (L-1, >=6) scaled actions from the first
    state (>=6,) -> (L, 6) poses [x, y, z, roll, pitch, yaw]."""
    act = np.asarray(actions, dtype=np.float64)[:, :6] / scaler
    return _integrate(state0, act[:, :3], euler2rotm(act[:, 3:6]))

def rot6d(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation -> (..., 6) continuous 6-D representation: its first two columns, column by column
    ``[R00, R10, R20, R01, R11, R21]`` (Zhou et al. 2019)."""
    R = np.asarray(R, dtype=np.float64)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rot6d_to_rotm(r6: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rot6d` (Gram-Schmidt on the two columns) -> (..., 3, 3)."""
    r6 = np.asarray(r6, dtype=np.float64)
    a, b = r6[..., :3], r6[..., 3:6]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - (x * b).sum(-1, keepdims=True) * x
    y = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def rot6d_actions_from_states(state: np.ndarray, gripper: np.ndarray) -> np.ndarray:
    """(L, >=6) [xyz, rpy] states + (L,) gripper -> (L-1, 10) single-arm actions ``[dxyz (3), rot6d (6),
    gripper (1)]``: row k-1 is the move from frame k-1 to k in frame k-1's end-effector frame
    (``R_{k-1}^T (xyz_k - xyz_{k-1})``, ``rot6d(R_{k-1}^T R_k)``) and the gripper of frame k (float64)."""
    state = np.asarray(state, dtype=np.float64)
    gripper = np.asarray(gripper, dtype=np.float64).reshape(-1)
    if state.ndim != 2 or state.shape[1] < 6 or gripper.shape[0] != state.shape[0]:
        raise ValueError(f"need (L, >=6) states and (L,) gripper, got {state.shape} and {gripper.shape}")
    R = euler2rotm(state[:, 3:6])
    Rb_T = np.swapaxes(R[:-1], -1, -2)
    dxyz = np.einsum("nij,nj->ni", Rb_T, state[1:, :3] - state[:-1, :3])
    return np.concatenate([dxyz, rot6d(Rb_T @ R[1:]), gripper[1:, None]], axis=1)


def states_from_rot6d_actions(state0: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rot6d_actions_from_states`: integrate (L-1, >=9) actions from state0 -> (L, 6) poses."""
    act = np.asarray(actions, dtype=np.float64)
    return _integrate(state0, act[:, :3], rot6d_to_rotm(act[:, 3:9]))
