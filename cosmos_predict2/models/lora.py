"""LoRA adapters for the DiT (own implementation, no PEFT).

``inject_lora(net, ...)`` replaces every targeted ``nn.Linear`` by a ``LoRALinear`` that keeps the base
parameters under the same names (``<module>.weight``/``.bias``: released checkpoints still load) and adds
``<module>.lora_A.weight`` (r, in) and ``<module>.lora_B.weight`` (out, r). The output is
``W x + b + (alpha/r) * B A x``; B is zero-initialised so the net is unchanged at injection. Only the
adapters are trainable (kept in float32). ``merge_lora`` folds adapters into the base weights
(``W + (alpha/r) B A``) in a module or a state dict. Apply after the base weights are loaded.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping, Sequence, Union

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LoRALinear", "inject_lora", "lora_parameters", "merge_lora", "parse_target_modules"]

log = logging.getLogger(__name__)


class LoRALinear(nn.Linear):
    """``nn.Linear`` with a low-rank adapter; shares the base ``weight``/``bias`` parameter objects."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, init_lora_weights: bool = True):
        nn.Module.__init__(self)  # do not allocate a new weight: reuse the base parameters
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.rank, self.alpha = int(rank), float(alpha)
        self.scaling = self.alpha / self.rank
        self.init_lora_weights = bool(init_lora_weights)
        device = base.weight.device
        self.lora_A = nn.Linear(self.in_features, self.rank, bias=False, device=device, dtype=torch.float32)
        self.lora_B = nn.Linear(self.rank, self.out_features, bias=False, device=device, dtype=torch.float32)
        if device.type != "meta":
            self.reset_lora_parameters()

    def reset_lora_parameters(self) -> None:
        """A: Kaiming-uniform (a=sqrt(5)); B: zeros (identity at init) unless ``init_lora_weights=False``."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        if self.init_lora_weights:
            nn.init.zeros_(self.lora_B.weight)
        else:
            nn.init.kaiming_uniform_(self.lora_B.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        delta = self.lora_B(self.lora_A(x.to(self.lora_A.weight.dtype))) * self.scaling
        return out + delta.to(out.dtype)

    def merged_linear(self) -> nn.Linear:
        """A plain ``nn.Linear`` with the adapter folded in."""
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            delta = (self.lora_B.weight.double() @ self.lora_A.weight.double()) * self.scaling
            lin.weight.copy_((self.weight.double() + delta).to(self.weight.dtype))
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, rank={self.rank}, alpha={self.alpha}"


def parse_target_modules(target_modules: Union[str, Sequence[str]]) -> list[str]:
    items = target_modules.split(",") if isinstance(target_modules, str) else list(target_modules)
    out = [t.strip() for t in items if t and t.strip()]
    if not out:
        raise ValueError("LoRA: lora_target_modules is empty; e.g. 'q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2'.")
    return out


def _matches(name: str, targets: Sequence[str]) -> bool:
    """PEFT-style match: the module name equals a target or ends with '.<target>'."""
    return any(name == t or name.endswith("." + t) for t in targets)


def inject_lora(net: nn.Module, rank: int = 16, alpha: float = 16, target_modules="q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2",
                init_lora_weights: bool = True) -> list[str]:
    """Wrap targeted ``nn.Linear`` modules in place, freeze everything else; returns the wrapped names."""
    if int(rank) <= 0:
        raise ValueError(f"LoRA: lora_rank must be a positive integer, got {rank}.")
    if rank > 64:
        log.warning("LoRA rank %s > 64: adapters this large rarely help and cost memory.", rank)
    if alpha != rank:
        log.warning("LoRA alpha (%s) != rank (%s): the adapter output is scaled by %.3f.", alpha, rank, alpha / rank)
    targets = parse_target_modules(target_modules)
    names = [n for n, m in net.named_modules() if _matches(n, targets) and type(m) is nn.Linear]
    if not names:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in net.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"LoRA: no nn.Linear matches lora_target_modules={targets}; linear module names here: {linears}.")
    for p in net.parameters():
        p.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha, init_lora_weights))
    return names


def lora_parameters(net: nn.Module) -> list[nn.Parameter]:
    return [p for n, p in net.named_parameters() if ".lora_A." in f".{n}" or ".lora_B." in f".{n}"]


def merge_lora(net_or_state_dict: Union[nn.Module, Mapping[str, torch.Tensor]], alpha: float | None = None):
    """Fold adapters into the base weights.

    - module: replaces every ``LoRALinear`` by a merged ``nn.Linear`` in place and returns the module;
    - state dict: returns a new dict where ``X.weight += (alpha/r) X.lora_B.weight @ X.lora_A.weight`` and the
      adapter keys are dropped (``alpha`` required; r is read from the A shape).
    """
    if isinstance(net_or_state_dict, nn.Module):
        net = net_or_state_dict
        for name, m in list(net.named_modules()):
            if isinstance(m, LoRALinear):
                parent_name, _, child = name.rpartition(".")
                parent = net.get_submodule(parent_name) if parent_name else net
                setattr(parent, child, m.merged_linear())
        return net
    if alpha is None:
        raise ValueError("merge_lora(state_dict): pass alpha= (the lora_alpha used in training).")
    sd = dict(net_or_state_dict)
    out = {k: v for k, v in sd.items() if ".lora_A." not in k and ".lora_B." not in k}
    for key in sd:
        if not key.endswith(".lora_A.weight"):
            continue
        prefix = key[: -len(".lora_A.weight")]
        A, B = sd[key], sd.get(prefix + ".lora_B.weight")
        if B is None or prefix + ".weight" not in sd:
            raise ValueError(f"merge_lora: {prefix!r} has lora_A but no lora_B or base weight in the state dict.")
        W = sd[prefix + ".weight"]
        out[prefix + ".weight"] = (W.double() + (alpha / A.shape[0]) * (B.double() @ A.double())).to(W.dtype)
    return out
