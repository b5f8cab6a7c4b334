"""Initialisation units of a network: the pieces that initialise themselves, each with its own parameters.

A net is initialised unit by unit. A unit is a sub-module that owns an ``init_weights()`` (it initialises
its whole sub-tree, e.g. a DiT ``Block``) or, lacking one, a module with its own parameters and a
``reset_parameters()`` (``nn.Linear``, ``RMSNorm``); adapters (modules with ``reset_lora_parameters()``,
e.g. LoRA) are units of their own holding only their adapter parameters. Walking stops at a unit, so every
parameter belongs to exactly one unit.

Eagerly built modules initialise themselves in their constructors; :func:`init_module_` (``init_weights()``
of the nets) re-initialises every unit with the global RNG. The trainer builds nets on the ``meta`` device and
initialises each unit with the RNG seeded by ``(seed, unit name)`` (``cosmos_predict2.parallel.materialize``),
so the initial weights do not depend on the world size.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable, Iterator

from torch import nn

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


def _is_adapter(module: nn.Module) -> bool:
    return callable(getattr(module, "reset_lora_parameters", None))


def _adapter_param_names(module: nn.Module) -> set[str]:
    """Parameters of the adapter children (``lora_A`` / ``lora_B``) of every adapter under ``module``."""
    out = set()
    for name, sub in module.named_modules():
        if _is_adapter(sub):
            for child_name, child in sub.named_children():
                prefix = f"{name}.{child_name}" if name else child_name
                out.update(f"{prefix}.{p}" for p, _ in child.named_parameters())
    return out


def _adapter_units(module: nn.Module, prefix: str) -> Iterator[InitUnit]:
    for name, sub in module.named_modules():
        if not _is_adapter(sub):
            continue
        full = f"{prefix}{name}" if name else prefix.rstrip(".")
        params = tuple(sorted(_adapter_param_names(sub)))
        yield InitUnit(full, sub, params, sub.reset_lora_parameters)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def iter_init_units(net: nn.Module) -> Iterator[InitUnit]:
    """Every init unit of ``net`` in module order (the root's own ``init_weights`` is not a unit)."""

    def walk(module: nn.Module, name: str, root: bool) -> Iterator[InitUnit]:
        direct = [p for p, _ in module.named_parameters(recurse=False)]
        if _is_adapter(module):
            if direct:  # an adapter reached without an owning parent: its base weight is a unit of its own
                yield InitUnit(name, module, tuple(direct), module.reset_parameters)
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
