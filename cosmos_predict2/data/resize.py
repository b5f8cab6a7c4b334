"""Resize uint8 videos with torch (bilinear + antialias), no torchvision."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def resize_video(video_C_T_H_W: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a uint8 (C, T, H, W) video to (C, T, size[0], size[1]) directly (aspect not kept).

    Uses bilinear interpolation with antialias (like torchvision's ``F.resize(antialias=True)``);
    returns the input unchanged when it already has the target size.
    """
    h, w = int(size[0]), int(size[1])
    c, t, h0, w0 = video_C_T_H_W.shape
    if (h0, w0) == (h, w):
        return video_C_T_H_W
    x_T_C_H_W = video_C_T_H_W.permute(1, 0, 2, 3).float()
    y = F.interpolate(x_T_C_H_W, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    y = y.round_().clamp_(0, 255).to(torch.uint8)
    return y.permute(1, 0, 2, 3).contiguous()  # (C, T, h, w)


def frames_to_video(frames_T_H_W_3, size: Sequence[int]) -> torch.Tensor:
    """Decoded uint8 frames (T, H, W, 3) (numpy) -> contiguous uint8 video (C, T, size[0], size[1])."""
    import numpy as np

    h, w = int(size[0]), int(size[1])
    if tuple(frames_T_H_W_3.shape[1:3]) == (h, w):  # no resize: one contiguous transpose (cheap to collate)
        return torch.from_numpy(np.ascontiguousarray(frames_T_H_W_3.transpose(3, 0, 1, 2)))
    return resize_video(torch.from_numpy(frames_T_H_W_3).permute(3, 0, 1, 2), size)
