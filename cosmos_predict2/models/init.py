"""Initialisation units of a network: the pieces that initialise themselves, each with its own parameters.

A net is initialised unit by unit. A unit is a sub-module that owns an ``init_weights()`` (it initialises
its whole sub-tree, e.g. a DiT ``Block``) or, lacking one, a module with its own parameters and a
``reset_parameters()`` (``nn.Linear``, ``RMSNorm``); the adapters of a LoRA layer (``models/lora.py``) are a
unit of their own holding only the adapter parameters (its base weight belongs to the enclosing unit). Walking
stops at a unit, so every parameter belongs to exactly one unit.

Eagerly built modules initialise themselves in their constructors; :func:`init_module_` (``init_weights()``
of the nets) re-initialises every unit with the global RNG. The trainer builds nets on the ``meta`` device and
initialises each unit with the RNG seeded by ``(seed, unit name)`` (``cosmos_predict2.parallel.materialize``),
so the initial weights do not depend on the world size.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Callable, Iterator

from torch import nn

from cosmos_predict2.models.lora import BASE_LAYER, is_lora_layer, reset_lora_layer_

__all__ = ["InitUnit", "iter_init_units", "init_module_", "unit_seed"]


@dataclasses.dataclass(frozen=True)
class InitUnit:
    """``init()`` initialises ``param_names`` (relative to ``module``) of the unit called ``name``."""

    name: str
    module: nn.Module
    param_names: tuple[str, ...]
    init: Callable[[], None]

    def full_names(self) -> list[str]:
        return [f"{self.name}.{p}" if self.name else p for p in self.param_names]


def _adapter_param_names(module: nn.Module) -> set[str]:
    """Adapter parameters (names relative to ``module``) of every LoRA layer under ``module``."""
    out = set()
    for name, sub in module.named_modules():
        if is_lora_layer(sub):
            prefix = f"{name}." if name else ""
            out.update(prefix + p for p in _own_adapter_params(sub))
    return out


def _own_adapter_params(layer: nn.Module) -> tuple[str, ...]:
    return tuple(sorted(p for p, _ in layer.named_parameters() if not p.startswith(BASE_LAYER + ".")))


def _adapter_units(module: nn.Module, prefix: str) -> Iterator[InitUnit]:
    for name, sub in module.named_modules():
        if is_lora_layer(sub):
            full = f"{prefix}{name}" if name else prefix.rstrip(".")
            yield InitUnit(full, sub, _own_adapter_params(sub), functools.partial(reset_lora_layer_, sub))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def iter_init_units(net: nn.Module) -> Iterator[InitUnit]:
    """Every init unit of ``net`` in module order (the root's own ``init_weights`` is not a unit)."""

    def walk(module: nn.Module, name: str, root: bool) -> Iterator[InitUnit]:
        direct = [p for p, _ in module.named_parameters(recurse=False)]
        if is_lora_layer(module):  # reached without an owning parent: its base layer is a unit of its own
            yield from walk(module.get_submodule(BASE_LAYER), _join(name, BASE_LAYER), False)
            yield from _adapter_units(module, name + ".")
            return
        if not root and callable(getattr(module, "init_weights", None)):
            adapters = _adapter_param_names(module)
            params = tuple(p for p, _ in module.named_parameters() if p not in adapters)
            yield InitUnit(name, module, params, module.init_weights)
            yield from _adapter_units(module, name + ".")
            return
        if direct:
            reset = getattr(module, "reset_parameters", None)
            if not callable(reset):
                raise TypeError(f"{type(module).__name__} at {name or '<root>'!r} has parameters {direct} but neither "
                                "init_weights() nor reset_parameters(); give it one so it can be initialised")
            yield InitUnit(name, module, tuple(direct), reset)
            if any(True for _ in module.children()):
                for child_name, child in module.named_children():
                    yield from walk(child, _join(name, child_name), False)
            return
        for child_name, child in module.named_children():
            yield from walk(child, _join(name, child_name), False)

    yield from walk(net, "", True)


def init_module_(net: nn.Module) -> None:
    """Initialise every parameter of ``net`` with the global RNG (eager construction / re-initialisation)."""
    for unit in iter_init_units(net):
        unit.init()


def unit_seed(seed: int, name: str) -> int:
    """A 63-bit seed for unit ``name`` under run seed ``seed`` (independent of world size and order)."""
    digest = hashlib.sha256(f"{int(seed)}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
