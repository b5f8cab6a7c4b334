"""Optional action featurisation for the chunk action DiT: where the gripper is, not only how it moves.

The released action nets embed each latent frame's raw per-step actions (deltas). To place the gripper in
latent frame k the net must add up every earlier delta itself. ``cumulative_fourier`` hands it the sums:
per step, the raw action, the cumulative sum of the 6 pose deltas since the clip's first frame, and
sin/cos of the cumulative translation at a few periods (Fourier features, the form in which attention
with rotary positions can use an offset). Clip-relative sums restart with every clip, as the rollout
restarts from its last predicted frame.
"""

from __future__ import annotations

import torch

ACTION_FEATURES = ("raw", "cumulative_fourier")
DEFAULT_FOURIER_PERIODS = (24.0, 12.0, 6.0, 3.0)  # in scaled action units (x20 world units for Bridge)


def features_per_step(kind: str, action_dim: int, periods=DEFAULT_FOURIER_PERIODS) -> int:
    """Width of one step's features for ``kind`` (``action_dim`` raw values + derived ones)."""
    if kind == "raw":
        return action_dim
    if kind == "cumulative_fourier":
        if action_dim < 6:
            raise ValueError(f"action_features='cumulative_fourier' needs >= 6 pose dims per action, got {action_dim}")
        if not len(periods) or min(periods) <= 0:
            raise ValueError(f"action_fourier_periods must be one or more positive periods, got {tuple(periods)}")
        return action_dim + 6 + 3 * 2 * len(periods)
    raise ValueError(f"action_features must be one of {ACTION_FEATURES}, got {kind!r}")


def action_step_features(action_B_N_A: torch.Tensor, kind: str, periods=DEFAULT_FOURIER_PERIODS) -> torch.Tensor:
    """(B, N, A) per-step actions -> (B, N, features_per_step(kind, A))."""
    if kind == "raw":
        return action_B_N_A
    features_per_step(kind, action_B_N_A.shape[-1], periods)  # validates
    cum_B_N_6 = action_B_N_A[..., :6].cumsum(dim=1)  # pose after each step, relative to the clip start
    omega_F = (2 * torch.pi / torch.tensor(periods, dtype=action_B_N_A.dtype, device=action_B_N_A.device))
    phase_B_N_3F = (cum_B_N_6[..., :3, None] * omega_F).flatten(-2)
    return torch.cat([action_B_N_A, cum_B_N_6, phase_B_N_3F.sin(), phase_B_N_3F.cos()], dim=-1)
