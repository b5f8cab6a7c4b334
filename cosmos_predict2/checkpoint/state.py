"""What goes into a checkpoint: model / optimizer state dicts without wrapper prefixes, RNG states.

Model keys are ``net.<param>`` and ``net_ema.<param>`` (plus ``<child>.<param>`` for any other child module
of the model with trainable parameters, e.g. a loss log-variance head). Keys are canonical parameter names
(``parallel.materialize.canonical_name``: no FSDP, activation-checkpoint, ``torch.compile`` or PEFT ``base_layer``
parts), so base weights keep the released checkpoints' keys and LoRA adapters upstream's
(``<module>.lora_A.default.weight``).
"""

from __future__ import annotations

import random
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_optimizer_state_dict)

from cosmos_predict2.parallel.materialize import canonical_name


def checkpoint_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{"net": ..., "net_ema": ..., other trainable children}`` in a fixed order."""
    out: dict[str, nn.Module] = {}
    for name in ("net", "net_ema"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            out[name] = module
    for name, child in model.named_children():
        if name in out or name in ("tokenizer", "text_encoder"):
            continue
        if any(p.requires_grad for p in child.parameters()):
            out[name] = child
    if not out:
        out[""] = model
    return out


def _prefixed(name: str, key: str) -> str:
    return f"{name}.{key}" if name else key


def model_state_dict(model: nn.Module, full: bool = False) -> dict[str, torch.Tensor]:
    """Flat ``{prefix.param: tensor}``; sharded DTensors, or full CPU tensors on rank 0 with ``full``."""
    opts = StateDictOptions(full_state_dict=full, cpu_offload=full)
    out = {}
    for name, module in checkpoint_modules(model).items():
        for key, value in get_model_state_dict(module, options=opts).items():
            out[_prefixed(name, canonical_name(key))] = value
    return out


def optimizer_state_dict(model: nn.Module, optimizer, full: bool = False) -> dict:
    return get_optimizer_state_dict(model, optimizer,
                                    options=StateDictOptions(full_state_dict=full, cpu_offload=full))


def set_optimizer_state(model: nn.Module, optimizer, state: dict, full: bool = False) -> None:
    rank0 = not (dist.is_initialized() and dist.get_rank() != 0)
    opts = StateDictOptions(full_state_dict=full, broadcast_from_rank0=full)
    set_optimizer_state_dict(model, optimizer, state if (rank0 or not full) else {}, options=opts)


# ----------------------------------------------------------------------------- RNG
def rng_state() -> dict:
    """This process's RNG states (python, numpy, torch CPU, CUDA) as weights_only-loadable values."""
    np_state = np.random.get_state()
    out = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def set_rng_state(state: Optional[dict]) -> None:
    if not state:
        return
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def gather_to_rank0(obj) -> Optional[list]:
    """``[obj of rank 0, obj of rank 1, ...]`` on rank 0, None elsewhere (``[obj]`` without a group)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out
