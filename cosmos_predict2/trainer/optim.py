"""Optimizer builder (``optimizer`` config group).

``fusedadamw`` and ``adamw`` both build ``torch.optim.AdamW`` over the trainable parameters (one group,
one weight decay, as upstream). The fused kernel is used on CUDA (``fused=None`` = auto: all parameters on
CUDA); CPU gets the plain implementation. ``master_weights=True`` means the parameters the optimizer steps
are float32 masters: the model is kept in float32 and bf16 compute comes from FSDP mixed precision, so
low-precision trainable parameters with ``master_weights=True`` are rejected instead of being stepped in bf16.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

import torch
from torch import nn

__all__ = ["build_optimizer", "trainable_parameters"]

log = logging.getLogger(__name__)

# upstream FusedAdam kwargs that carry no meaning for torch AdamW (accepted so upstream configs load)
_IGNORED_KWARGS = {"capturable", "adam_w_mode", "bias_correction", "set_grad_none", "optim_type"}


def trainable_parameters(model: nn.Module | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    params = model.parameters() if isinstance(model, nn.Module) else model
    return [p for p in params if p.requires_grad]


def build_optimizer(
    model: nn.Module,
    name: str = "adamw",
    lr: float = 1e-4,
    weight_decay: float = 0.1,
    betas: Sequence[float] = (0.9, 0.99),
    eps: float = 1e-8,
    fused: bool | None = None,
    master_weights: bool = True,
    **kwargs: Any,
) -> torch.optim.Optimizer:
    """AdamW over ``model``'s trainable parameters; see the module docstring."""
    if name not in ("adamw", "fusedadamw"):
        raise ValueError(f"optimizer name={name!r} is not supported; use 'adamw' or 'fusedadamw'.")
    unknown = sorted(set(kwargs) - _IGNORED_KWARGS)
    if unknown:
        raise ValueError(f"build_optimizer: unknown arguments {unknown}; supported extras: {sorted(_IGNORED_KWARGS)}.")
    if kwargs.get("adam_w_mode", True) is False:
        raise ValueError("build_optimizer: adam_w_mode=False (L2-regularised Adam) is not supported; use AdamW.")
    if len(betas) != 2:
        raise ValueError(f"build_optimizer: betas must have two values, got {list(betas)}.")
    params = trainable_parameters(model)
    if not params:
        raise ValueError("build_optimizer: the model has no trainable parameters (all requires_grad=False).")
    low = sorted({str(p.dtype) for p in params if p.dtype in (torch.float16, torch.bfloat16)})
    if master_weights and low:
        raise ValueError(
            f"build_optimizer: master_weights=True but trainable parameters are {low}; keep the model in float32 "
            "(bf16 compute comes from FSDP mixed precision) or set optimizer.master_weights=False."
        )
    on_cuda = all(p.device.type == "cuda" for p in params)
    if fused is None:
        fused = on_cuda
    elif fused and not on_cuda:
        raise ValueError("build_optimizer: fused=True needs all parameters on CUDA; use fused=None (auto) on CPU.")
    opt = torch.optim.AdamW(params, lr=float(lr), betas=(float(betas[0]), float(betas[1])), eps=float(eps),
                            weight_decay=float(weight_decay), fused=bool(fused) or None)
    log.info("optimizer %s: AdamW(lr=%g, wd=%g, betas=%s, eps=%g, fused=%s) over %d tensors", name, lr,
             weight_decay, tuple(betas), eps, bool(fused), len(params))
    return opt
