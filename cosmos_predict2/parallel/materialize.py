"""Materialise nets built on the ``meta`` device: allocate only this rank's shards, then fill them.

After parallelisation (context parallel -> activation checkpointing -> FSDP2) a meta net's ``to_empty``
allocates each rank's local shards only. They are then filled from one of:

- :func:`init_parameters_`: a deterministic initialisation that does not depend on the world size. Every
  init unit (``cosmos_predict2.models.init``) of an unparallelised meta *template* of the net is allocated
  at full size, one unit at a time, initialised with the global RNG seeded from ``(seed, unit name)``, and
  this rank's slice of each parameter is copied into the shard. 1, 2 or 4 ranks get bit-identical weights
  (on the same device type); the peak extra memory is the largest unit (a DiT block).
- the weight loader (``cosmos_predict2.checkpoint.weights``), which writes file slices with :func:`write_local_`.
- :func:`copy_parameters_`: another net with the same sharding (the EMA net starts as the net's shards).

Parameter names are canonical: wrapper prefixes (activation checkpointing, ``torch.compile``, PEFT's
``base_layer``) are removed, so they equal the checkpoint keys of the plain net (``models.lora.checkpoint_key``).
DoRA magnitudes are derived from their layer's final weights (:func:`derive_dora_magnitudes_`).
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, Optional

import torch
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

from cosmos_predict2.models.init import iter_init_units, unit_seed
from cosmos_predict2.models.lora import checkpoint_key, dora_magnitude, lora_layers

log = logging.getLogger(__name__)

_WRAPPER_PARTS = ("_checkpoint_wrapped_module", "_orig_mod", "_fsdp_wrapped_module")


def canonical_name(name: str) -> str:
    """``blocks.0._checkpoint_wrapped_module.mlp.layer1.base_layer.weight`` -> ``blocks.0.mlp.layer1.weight``."""
    return checkpoint_key(".".join(part for part in name.split(".") if part not in _WRAPPER_PARTS))


def canonical_parameters(module: nn.Module) -> dict[str, nn.Parameter]:
    """``{canonical name: parameter}`` of ``module`` (DTensors stay DTensors)."""
    return {canonical_name(name): p for name, p in module.named_parameters()}


def local_tensor(param: torch.Tensor) -> torch.Tensor:
    """The part of ``param`` this rank holds (its local shard, or the tensor itself)."""
    return param.to_local() if isinstance(param, DTensor) else param.data


def local_slices(param: torch.Tensor) -> tuple[slice, ...]:
    """Index of this rank's part within the full (global) tensor of ``param``."""
    if not isinstance(param, DTensor):
        return tuple(slice(0, n) for n in param.shape)
    shape, offset = compute_local_shape_and_global_offset(param.shape, param.device_mesh, param.placements)
    return tuple(slice(o, o + s) for o, s in zip(offset, shape))


@torch.no_grad()
def write_local_(param: torch.Tensor, part: torch.Tensor) -> None:
    """Copy ``part`` (this rank's slice of the full tensor, see :func:`local_slices`) into ``param``."""
    local = local_tensor(param)
    if tuple(part.shape) != tuple(local.shape):
        raise ValueError(f"write_local_: slice {tuple(part.shape)} does not fit the local shard {tuple(local.shape)}")
    local.copy_(part)


def _rng_devices(device: torch.device) -> list[int]:
    return [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []


@torch.no_grad()
def iter_initial_values(template: nn.Module, seed: int, device: torch.device,
                        wanted: Iterable[str]) -> Iterator[tuple[str, torch.Tensor]]:
    """``(canonical name, full initial value)`` of every parameter in ``wanted``: ``template``'s init units
    (an unparallelised meta net) are allocated one at a time on ``device``, initialised with the RNG seeded
    from ``(seed, unit name)`` and released again after their values were used."""
    wanted = set(wanted)
    device = torch.device(device)
    done = set()
    for unit in iter_init_units(template):
        todo = [(rel, full) for rel, full in zip(unit.param_names, map(canonical_name, unit.full_names()))
                if full in wanted]
        if not todo:
            continue
        unit.module.to_empty(device=device)
        with torch.random.fork_rng(devices=_rng_devices(device), device_type=device.type):
            torch.manual_seed(unit_seed(seed, unit.name))
            unit.init()
        for rel, full in todo:
            yield full, unit.module.get_parameter(rel)
            done.add(full)
        unit.module.to_empty(device="meta")  # give the full-size unit back
    missing = sorted(wanted - done)
    if missing:
        raise KeyError(f"no init unit covers {missing[:5]}")


@torch.no_grad()
def init_parameters_(net: nn.Module, template: nn.Module, seed: int, device: torch.device,
                     only: Optional[Iterable[str]] = None) -> list[str]:
    """Initialise ``net``'s parameters (all, or the canonical names in ``only``) from ``template``'s init
    units (:func:`iter_initial_values`), independently of how ``net`` is sharded. ``template`` is an
    unparallelised meta copy of ``net`` built before parallelisation. Returns the names initialised."""
    params = canonical_parameters(net)
    wanted = set(params) if only is None else set(only)
    unknown = sorted(wanted - set(params))
    if unknown:
        raise KeyError(f"init_parameters_: {unknown[:5]} are not parameters of the net")
    done = []
    for name, value in iter_initial_values(template, seed, device, wanted):
        write_local_(params[name], value[local_slices(params[name])])
        done.append(name)
    derive_dora_magnitudes_(net, done, only_with_base=True)
    return done


def _rows(param: torch.Tensor, rows: slice) -> torch.Tensor:
    """Rows ``rows`` of the full ``param`` (from the local shard when it holds exactly them; else gathered)."""
    if local_slices(param)[0] == rows:
        return local_tensor(param)
    full = param.full_tensor() if isinstance(param, DTensor) else param.data
    return full[rows]


@torch.no_grad()
def derive_dora_magnitudes_(net: nn.Module, names: Iterable[str], only_with_base: bool = False) -> list[str]:
    """Set the DoRA magnitudes among the canonical ``names`` to ``||W + scaling B A||`` per row of their layer's
    current weights (a new DoRA adapter starts as the plain base layer). ``only_with_base``: only where the
    layer's base weight is in ``names`` too. Collective on sharded nets (every rank, same ``names``)."""
    names = set(names)
    done = []
    for layer_name, layer in lora_layers(net):
        prefix = canonical_name(layer_name)
        for adapter, dora in layer.lora_magnitude_vector.items():
            target = f"{prefix}.lora_magnitude_vector.{adapter}.weight"
            if target not in names or (only_with_base and f"{prefix}.weight" not in names):
                continue
            m_O = dora.weight
            rows = local_slices(m_O)[0]
            A_R_I = layer.lora_A[adapter].weight
            A_R_I = A_R_I.full_tensor() if isinstance(A_R_I, DTensor) else A_R_I.data
            W_O_I, B_O_R = _rows(layer.get_base_layer().weight, rows), _rows(layer.lora_B[adapter].weight, rows)
            local_tensor(m_O).copy_(dora_magnitude(W_O_I, A_R_I, B_O_R, layer.scaling[adapter]).to(m_O.dtype))
            done.append(target)
    return done


@torch.no_grad()
def copy_parameters_(dst: nn.Module, src: nn.Module, only: Optional[Iterable[str]] = None) -> list[str]:
    """Copy ``src``'s local shards into ``dst``'s (same names and sharding, e.g. net -> EMA net)."""
    dst_params, src_params = canonical_parameters(dst), canonical_parameters(src)
    names = sorted(dst_params) if only is None else sorted(only)
    for name in names:
        d, s = local_tensor(dst_params[name]), local_tensor(src_params[name])
        if d.shape != s.shape:
            raise ValueError(f"copy_parameters_: {name} is sharded differently ({tuple(d.shape)} vs {tuple(s.shape)})")
        d.copy_(s)
    return names
