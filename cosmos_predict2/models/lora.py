"""LoRA / DoRA adapters for the DiT, through PEFT (``LoraConfig`` + ``inject_adapter_in_model``, as upstream).

``inject_lora(net, ...)`` wraps every targeted ``nn.Linear`` in a PEFT ``lora.Linear``: the base weight moves
to ``<module>.base_layer.weight`` and the adapter ``default`` adds ``<module>.lora_A.default.weight`` (r, in),
``<module>.lora_B.default.weight`` (out, r) and, with DoRA, ``<module>.lora_magnitude_vector.default.weight``
(out,). The output is ``W x + (alpha/r) B A x`` (DoRA: ``m / ||W + (alpha/r) B A||_row * (W + (alpha/r) B A) x``);
B is zero-initialised so the net is unchanged at injection. Only the adapters are trainable (kept in float32).

Checkpoint keys (:func:`checkpoint_key`) are upstream's: ``base_layer.`` dropped (base weights keep the names of
a net without adapters, so released checkpoints load), the adapters keep PEFT's names. Files in PEFT's other
layouts map to the same keys (a ``base_model.model.`` prefix, adapter keys without the adapter name).
``merge_lora`` folds adapters into the base weights (PEFT's merge) in a module or a state dict.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, Mapping, Optional, Sequence, Union

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

__all__ = ["ADAPTER", "LORA_CONFIG_KEYS", "adapter_groups", "checkpoint_key", "dora_magnitude", "inject_lora",
           "is_adapter_key", "is_lora_layer", "lora_layers", "lora_parameters", "merge_adapter", "merge_lora",
           "parse_target_modules", "reset_lora_layer_"]

log = logging.getLogger(__name__)

ADAPTER = "default"  # PEFT's adapter name, part of every adapter key
BASE_LAYER = "base_layer"  # PEFT's wrapper part in the base weight's name
ADAPTER_PARTS = ("lora_A", "lora_B", "lora_magnitude_vector")
# inject_lora argument -> model.config key
LORA_CONFIG_KEYS = {"rank": "lora_rank", "alpha": "lora_alpha", "target_modules": "lora_target_modules",
                    "init_lora_weights": "init_lora_weights", "use_dora": "use_dora"}
LORA_TARGET_MODULES = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"


def parse_target_modules(target_modules: Union[str, Sequence[str]]) -> list[str]:
    items = target_modules.split(",") if isinstance(target_modules, str) else list(target_modules)
    out = [t.strip() for t in items if t and t.strip()]
    if not out:
        raise ValueError(f"LoRA: lora_target_modules is empty; e.g. '{LORA_TARGET_MODULES}'.")
    return out


def _matches(name: str, targets: Sequence[str]) -> bool:
    """PEFT's match: the module name equals a target or ends with '.<target>'."""
    return any(name == t or name.endswith("." + t) for t in targets)


def is_lora_layer(module: nn.Module) -> bool:
    return isinstance(module, LoraLayer)


def lora_layers(net: nn.Module) -> Iterator[tuple[str, LoraLayer]]:
    """``(module name, PEFT layer)`` of every adapted layer of ``net``."""
    return ((n, m) for n, m in net.named_modules() if is_lora_layer(m))


def inject_lora(net: nn.Module, rank: int = 16, alpha: float = 16, target_modules=LORA_TARGET_MODULES,
                init_lora_weights: bool = True, use_dora: bool = False) -> list[str]:
    """Adapt the targeted ``nn.Linear`` modules in place (on the device the net is on, ``meta`` included) and
    freeze everything else; returns the adapted module names."""
    if int(rank) <= 0:
        raise ValueError(f"LoRA: lora_rank must be a positive integer, got {rank}.")
    if rank > 64:
        log.warning("LoRA rank %s > 64: adapters this large rarely help and cost memory.", rank)
    if alpha != rank:
        log.warning("LoRA alpha (%s) != rank (%s): the adapter output is scaled by %.3f.", alpha, rank, alpha / rank)
    if any(True for _ in lora_layers(net)):
        raise ValueError("LoRA: the net already has adapters; inject them once.")
    targets = parse_target_modules(target_modules)
    names = [n for n, m in net.named_modules() if _matches(n, targets) and type(m) is nn.Linear]
    if not names:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in net.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"LoRA: no nn.Linear matches lora_target_modules={targets}; linear module names here: {linears}.")
    device = next(net.parameters()).device
    config = LoraConfig(r=int(rank), lora_alpha=alpha, target_modules=names, init_lora_weights=bool(init_lora_weights),
                        use_dora=bool(use_dora))
    with torch.device(device):  # adapters are created where the base weights are (no allocation on meta)
        inject_adapter_in_model(config, net)
    for _, layer in lora_layers(net):
        layer.init_lora_weights = bool(init_lora_weights)  # read by reset_lora_layer_
        for part in ADAPTER_PARTS:
            getattr(layer, part).float()
    for name, p in net.named_parameters():
        p.requires_grad_(is_adapter_key(name))
    return names


def lora_parameters(net: nn.Module) -> list[nn.Parameter]:
    return [p for n, p in net.named_parameters() if is_adapter_key(n)]


def dora_magnitude(weight_O_I: torch.Tensor, lora_A_R_I: torch.Tensor, lora_B_O_R: torch.Tensor,
                   scaling: float) -> torch.Tensor:
    """DoRA's initial magnitude ``||W + scaling B A||`` per output row (O,), in float32."""
    return torch.linalg.norm(weight_O_I.float() + scaling * (lora_B_O_R.float() @ lora_A_R_I.float()), dim=1)


@torch.no_grad()
def reset_lora_layer_(layer: LoraLayer) -> None:
    """Init unit of a PEFT layer's adapters: A Kaiming-uniform, B zero (both Kaiming with
    ``init_lora_weights=False``), DoRA magnitude from the current base weight."""
    for name in layer.lora_A:
        if getattr(layer, "init_lora_weights", True):
            layer.reset_lora_parameters(name, True)
        else:
            layer.lora_A[name].reset_parameters()
            layer.lora_B[name].reset_parameters()
        if name in layer.lora_magnitude_vector:
            m = layer.lora_magnitude_vector[name].weight
            m.copy_(dora_magnitude(layer.get_base_layer().weight, layer.lora_A[name].weight,
                                   layer.lora_B[name].weight, layer.scaling[name]).to(m.dtype))


# ----------------------------------------------------------------------------- checkpoint keys
def checkpoint_key(key: str) -> str:
    """Upstream's checkpoint key of a parameter name or file key: ``base_model.model.`` and ``base_layer.``
    dropped, the adapter name inserted where a file left it out (``q_proj.lora_A.weight`` ->
    ``q_proj.lora_A.default.weight``). Other keys are returned unchanged."""
    parts = key.split(".")
    out: list[str] = []
    i = 0
    while i < len(parts):
        if parts[i] == "base_model" and i + 1 < len(parts) and parts[i + 1] == "model":
            i += 2
            continue
        if parts[i] != BASE_LAYER:
            out.append(parts[i])
        i += 1
    if len(out) >= 2 and out[-2] in ADAPTER_PARTS and out[-1] in ("weight", "bias"):
        out.insert(len(out) - 1, ADAPTER)
    elif out and out[-1] == "lora_magnitude_vector":
        out += [ADAPTER, "weight"]
    return ".".join(out)


def is_adapter_key(key: str) -> bool:
    return any(f".{part}." in f".{key}." for part in ADAPTER_PARTS)


def adapter_groups(keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{module: {"lora_A": key, "lora_B": key[, "lora_magnitude_vector": key]}}`` of the adapter keys among
    ``keys`` (checkpoint keys, see :func:`checkpoint_key`)."""
    groups: dict[str, dict[str, str]] = {}
    for key in keys:
        parts = key.split(".")
        if len(parts) >= 3 and parts[-3] in ADAPTER_PARTS and parts[-2] == ADAPTER and parts[-1] == "weight":
            groups.setdefault(".".join(parts[:-3]), {})[parts[-3]] = key
    return groups


# ----------------------------------------------------------------------------- merging
@torch.no_grad()
def merge_adapter(weight_O_I: torch.Tensor, lora_A_R_I: torch.Tensor, lora_B_O_R: torch.Tensor, alpha: float,
                  magnitude_O: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One layer's merged weight by PEFT's merge, in float64, returned in ``weight_O_I``'s dtype: LoRA
    ``W + (alpha/r) B A``, DoRA (``magnitude_O`` given) ``m / ||W + (alpha/r) B A||_row * (W + (alpha/r) B A)``.
    Rows are independent: a slice of rows of W, B and m gives those rows of the result."""
    (out_f, in_f), rank = weight_O_I.shape, lora_A_R_I.shape[0]
    holder = nn.Module()
    with torch.device("meta"):
        holder.layer = nn.Linear(in_f, out_f, bias=False)
    holder.layer.weight = nn.Parameter(weight_O_I.detach().to("cpu", torch.float64), requires_grad=False)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=["layer"], use_dora=magnitude_O is not None)
    with torch.device("cpu"):
        inject_adapter_in_model(config, holder)
    layer = holder.layer
    layer.lora_A[ADAPTER].weight.copy_(lora_A_R_I)
    layer.lora_B[ADAPTER].weight.copy_(lora_B_O_R)
    if magnitude_O is not None:
        layer.lora_magnitude_vector[ADAPTER].weight.copy_(magnitude_O)
    layer.merge(safe_merge=True)
    return layer.get_base_layer().weight.to(weight_O_I.device, weight_O_I.dtype)


def merge_lora(net_or_state_dict: Union[nn.Module, Mapping[str, torch.Tensor]], alpha: float | None = None):
    """Fold adapters into the base weights.

    - module: merges every PEFT layer (its own alpha) and puts its base ``nn.Linear`` back in place; returns
      the module;
    - state dict (checkpoint keys): returns a new dict where each ``X.weight`` is merged with its ``X.lora_A`` /
      ``X.lora_B`` (/ ``X.lora_magnitude_vector``) and the adapter keys are dropped (``alpha`` required).
    """
    if isinstance(net_or_state_dict, nn.Module):
        net = net_or_state_dict
        for name, layer in list(lora_layers(net)):
            layer.merge(safe_merge=True)
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name) if parent_name else net, child, layer.get_base_layer())
        return net
    if alpha is None:
        raise ValueError("merge_lora(state_dict): pass alpha= (the lora_alpha used in training).")
    sd = dict(net_or_state_dict)
    out = {k: v for k, v in sd.items() if not is_adapter_key(k)}
    for module, keys in adapter_groups(sd).items():
        weight = f"{module}.weight"
        if "lora_A" not in keys or "lora_B" not in keys or weight not in sd:
            raise ValueError(f"merge_lora: {module!r} lacks lora_A, lora_B or its base weight in the state dict.")
        magnitude = sd[keys["lora_magnitude_vector"]] if "lora_magnitude_vector" in keys else None
        out[weight] = merge_adapter(sd[weight], sd[keys["lora_A"]], sd[keys["lora_B"]], alpha, magnitude)
    return out
