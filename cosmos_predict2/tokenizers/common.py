"""Helpers shared by the tokenizers."""

from __future__ import annotations

from collections.abc import Callable

import torch


def video_to_uint8(video: torch.Tensor) -> torch.Tensor:
    """Decoded video in [-1, 1] (any layout) -> uint8 levels 0..255 (clipped, rounded): what is saved or fed
    back to ``encode`` (which maps uint8 input back to [-1, 1])."""
    return ((video.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def apply_per_frame(fn: Callable[[torch.Tensor], torch.Tensor], x_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
    """Run a causal video codec on every frame as its own 1-frame clip: (B,C,T,H,W) -> (B,C',T,H',W').

    Used for ``encode_frames_independently`` (Predict1 action setting: each frame is an image, so T pixel
    frames give T latent frames and vice versa).
    """
    b, c, t, h, w = x_B_C_T_H_W.shape
    y = fn(x_B_C_T_H_W.transpose(1, 2).reshape(b * t, c, 1, h, w))  # (B*T, C', 1, H', W')
    return y.reshape(b, t, *y.shape[1:2], *y.shape[3:]).transpose(1, 2)
