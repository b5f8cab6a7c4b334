"""Helpers shared by the tokenizers."""

from __future__ import annotations

from collections.abc import Callable

import torch


def video_to_uint8(video: torch.Tensor) -> torch.Tensor:
    """Decoded video, nominally in [-1, 1] (any layout) -> uint8 levels 0..255 (clamped to [-1, 1] first, then
    rounded): what is saved or fed back to ``encode`` (which maps uint8 input back to [-1, 1]). Tokenizer
    ``decode`` does not clamp (as upstream's VAE), so every pixel/uint8/metric path must clamp, e.g. here."""
    return ((video.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def check_temporal_frames(num_frames: int, factor: int = 4, *, what: str = "video tokenizer") -> None:
    """Raise a ``ValueError`` unless ``num_frames`` is ``1 + factor * k`` (k >= 0).

    A causal video tokenizer with ``factor``-times temporal compression codes the first frame alone and then
    groups of ``factor`` frames; other counts cannot be compressed. Upstream's Wan2.1 VAE encodes the
    leftover frames as a short last window (and fails inside a conv for some counts, e.g. 6 or 7 frames);
    nothing here drops or invents frames silently, so the caller must trim or pad the clip itself.
    """
    t, f = int(num_frames), int(factor)
    if f <= 1:
        if t < 1:
            raise ValueError(f"{what}: got {t} frames, needs at least 1")
        return
    if t >= 1 and (t - 1) % f == 0:
        return
    lower = 1 + f * max(0, (t - 1) // f)
    upper = lower + f if t > lower else lower
    nearest = f"{lower} or {upper}" if upper != lower else f"{lower}"
    raise ValueError(
        f"{what}: cannot encode a clip of {t} frames; {f}x temporal compression needs T = 1 + {f}k frames "
        f"(1, {1 + f}, {1 + 2 * f}, {1 + 3 * f}, ...). Nearest valid frame counts: {nearest}. Trim or pad the clip "
        "(frames are never dropped silently)."
    )


def apply_per_frame(fn: Callable[[torch.Tensor], torch.Tensor], x_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
    """Run a causal video codec on every frame as its own 1-frame clip: (B,C,T,H,W) -> (B,C',T,H',W').

    Used for ``encode_frames_independently`` (Predict1 action setting: each frame is an image, so T pixel
    frames give T latent frames and vice versa).
    """
    b, c, t, h, w = x_B_C_T_H_W.shape
    y = fn(x_B_C_T_H_W.transpose(1, 2).reshape(b * t, c, 1, h, w))  # (B*T, C', 1, H', W')
    return y.reshape(b, t, *y.shape[1:2], *y.shape[3:]).transpose(1, 2)
