"""Throughput, FLOP and memory estimates for the training log.

DiT FLOPs per sample (forward): ``2 * P_blocks * N`` for the block matmuls (P_blocks parameters touched by
every token, N tokens) plus ``4 * N^2 * D`` per block for self-attention scores and the weighted sum.
Training (forward + backward) is 3x that; full activation recomputation adds one forward (4x).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import torch
from torch import nn

# dense bf16 peak TFLOP/s by device name fragment (used for the utilisation estimate)
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A6000": 155.0, "4090": 165.0,
               "5090": 209.0, "B200": 2250.0}


def count_params(module: nn.Module) -> int:
    total = 0
    for p in module.parameters():
        total += p.numel()  # DTensor.numel() is the global size
    return int(total)


def dit_shape(net: nn.Module) -> tuple[int, int, int, int, int]:
    """(block params, num blocks, model channels, patch_spatial, patch_temporal) of a DiT."""
    blocks = getattr(net, "blocks", [])
    block_params = sum(count_params(b) for b in blocks)
    dim = int(getattr(net, "model_channels", 0) or 0)
    return block_params, len(blocks), dim, int(getattr(net, "patch_spatial", 2)), int(getattr(net, "patch_temporal", 1))


def tokens_per_sample(batch: Mapping[str, Any], patch_spatial: int = 2, patch_temporal: int = 1,
                      latent_key: str = "latent", video_key: str = "video") -> int:
    """DiT tokens of one sample: latent (T, H/8, W/8) patched by (pt, p, p)."""
    if latent_key in batch and isinstance(batch[latent_key], torch.Tensor):
        t, h, w = batch[latent_key].shape[-3:]
    elif video_key in batch and isinstance(batch[video_key], torch.Tensor):
        T, H, W = batch[video_key].shape[-3:]
        t, h, w = 1 + (T - 1) // 4, H // 8, W // 8
    else:
        return 0
    return int(t // patch_temporal) * int(h // patch_spatial) * int(w // patch_spatial)


def train_flops_per_sample(block_params: int, num_blocks: int, dim: int, tokens: int, recompute: bool = False) -> float:
    forward = 2.0 * block_params * tokens + 4.0 * num_blocks * tokens * tokens * dim
    return forward * (4.0 if recompute else 3.0)


def peak_tflops() -> Optional[float]:
    """Peak dense TFLOP/s of one device: ``$COSMOS_PEAK_TFLOPS`` or a table by CUDA device name; None on CPU."""
    env = os.environ.get("COSMOS_PEAK_TFLOPS")
    if env:
        return float(env)
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for key, value in PEAK_TFLOPS.items():
            if key in name:
                return value
    return None


def peak_memory_gib() -> Optional[float]:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux): peak RSS
    except Exception:  # pragma: no cover
        return None
