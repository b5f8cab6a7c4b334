"""Training-time degradation of the conditioning latent frames, for robust autoregressive rollouts.

In a chunked rollout every chunk after the first is conditioned on the model's own last predicted frame,
which is blurrier than the ground-truth frames seen in training (a mean-like prediction spreads an
uncertain moving part over the cells it may occupy). ``ConditionFrameBlur`` shows the net such frames
during training: with probability ``prob`` per sample, the conditioning latent frames are blurred over the
latent grid with a Gaussian of standard deviation ``sigma ~ U(0, max_sigma)`` latent cells. Targets (the
frames to predict) are untouched. Used through ``model.config.condition_augment`` (None = off).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F


def gaussian_blur_hw(x_B_C_T_H_W: torch.Tensor, sigma_B: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable Gaussian blur over H and W, one ``sigma`` per sample (sigma 0 = identity); replicate padding."""
    B, C, T, H, W = x_B_C_T_H_W.shape
    offsets = torch.arange(-radius, radius + 1, device=x_B_C_T_H_W.device, dtype=x_B_C_T_H_W.dtype)
    s = sigma_B.to(x_B_C_T_H_W).clamp_min(1e-6).view(B, 1)
    k_B_K = torch.exp(-0.5 * (offsets.view(1, -1) / s) ** 2)
    k_B_K = k_B_K / k_B_K.sum(dim=1, keepdim=True)  # sigma -> 0 gives a delta kernel
    # one group per (sample, channel, frame): depthwise conv with the sample's kernel
    x = x_B_C_T_H_W.reshape(1, B * C * T, H, W)
    k = k_B_K.repeat_interleave(C * T, dim=0)  # (B*C*T, K)
    x = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(-1, 1, 1, 2 * radius + 1), groups=B * C * T)
    x = F.pad(x, (0, 0, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(-1, 1, 2 * radius + 1, 1), groups=B * C * T)
    return x.view(B, C, T, H, W)


class ConditionFrameBlur:
    """Blur the conditioning latent frames of a random subset of samples (see the module docstring)."""

    def __init__(self, prob: float = 0.5, max_sigma: float = 1.5):
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"ConditionFrameBlur: prob must be in [0, 1], got {prob}.")
        if not float(max_sigma) > 0.0:
            raise ValueError(f"ConditionFrameBlur: max_sigma must be > 0 (latent cells), got {max_sigma}.")
        self.prob, self.max_sigma = float(prob), float(max_sigma)
        self.radius = max(1, math.ceil(3 * self.max_sigma))

    def __call__(self, gt_latent_B_C_T_H_W: torch.Tensor, condition_mask_B_1_T_1_1: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Latents with the conditioning frames of the chosen samples blurred (other frames unchanged)."""
        if self.prob == 0.0:
            return gt_latent_B_C_T_H_W  # off: draws no random numbers either
        B = gt_latent_B_C_T_H_W.shape[0]
        dev = gt_latent_B_C_T_H_W.device
        draw_dev = generator.device if generator is not None else dev
        chosen_B = torch.rand(B, generator=generator, device=draw_dev).to(dev) < self.prob
        sigma_B = torch.rand(B, generator=generator, device=draw_dev).to(dev)
        sigma_B = sigma_B * self.max_sigma * chosen_B  # 0 for the others: their kernel is an exact delta
        blurred = gaussian_blur_hw(gt_latent_B_C_T_H_W, sigma_B, self.radius)
        mask = condition_mask_B_1_T_1_1.to(gt_latent_B_C_T_H_W.dtype)
        return blurred * mask + gt_latent_B_C_T_H_W * (1 - mask)
