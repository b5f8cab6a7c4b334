"""``LazyCall`` / ``L``: describe a call as an omegaconf node instead of making it.

``L(torch.optim.AdamW)(lr=1e-4)`` returns a ``DictConfig`` ``{"_target_": "torch.optim.AdamW", "lr": 1e-4}``
that Hydra can merge and override and that :func:`instantiate` turns into the object later.
The target may also be a dotted-path string, so a config can name a class without importing it
(a ``--dryrun`` resolves and validates such configs without importing or building anything).

Unlike some LazyConfig implementations, the target's signature defaults are *not* copied into the
node: a node holds exactly what the config author wrote. Replacing a node through a Hydra override
therefore never drags another class's defaults along.
"""

from __future__ import annotations

import importlib
import pydoc
from typing import Any, Callable

from omegaconf import DictConfig

# A value the caller supplies at build time (e.g. the optimizer's ``model``).
PLACEHOLDER = None

# Upstream spells the type of an experiment / config node ``LazyDict``: it is an omegaconf DictConfig.
LazyDict = DictConfig


def target_name(target: Any) -> str:
    """Dotted import path of a class or function (or the string itself)."""
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if module is None or qualname is None:
        raise TypeError(f"cannot make a dotted path for target {target!r}")
    return f"{module}.{qualname}"


def locate(name: str) -> Callable[..., Any]:
    """Import ``a.b.C`` (also nested attributes ``a.b.C.method``) with a helpful error."""
    obj = pydoc.locate(name)
    if obj is not None:
        return obj
    # pydoc.locate swallows the import error: find the longest importable prefix to report it.
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                continue
            raise ImportError(f"cannot import {module_name!r} while locating {name!r}: {err}") from err
        obj = module
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                raise ImportError(f"{module_name!r} has no attribute {'.'.join(parts[i:])!r} (target {name!r})")
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot locate target {name!r}: no importable module in that path")


class LazyCall:
    """``L(target)(**kwargs)`` → a DictConfig describing ``target(**kwargs)``."""

    def __init__(self, target: Any):
        if not (callable(target) or isinstance(target, str)):
            raise TypeError(f"LazyCall target must be callable or a dotted path string, got {target!r}")
        self._target = target

    def __call__(self, **kwargs: Any) -> DictConfig:
        node = {"_target_": target_name(self._target), **kwargs}
        return DictConfig(content=node, flags={"allow_objects": True})


L = LazyCall
