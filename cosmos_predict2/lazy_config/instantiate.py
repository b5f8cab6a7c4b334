"""``instantiate``: build the objects a lazy config describes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from cosmos_predict2.lazy_config.lazy import locate

_KEYWORDS = ("_target_", "_recursive_")


def _to_plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def instantiate(cfg: Any, *args: Any, **kwargs: Any) -> Any:
    """Recursively instantiate every ``{"_target_": ...}`` node in ``cfg``.

    - Nodes without ``_target_`` are returned as plain containers with their children instantiated.
    - ``_recursive_=False`` on a node passes its children to the target as (uninstantiated) configs;
      that is how the model receives its ``config`` node.
    - Call-time ``args``/``kwargs`` override the node's own keyword arguments (this is how build-time
      values such as the optimizer's ``model`` are supplied for ``PLACEHOLDER`` fields).
    """
    if cfg is None or isinstance(cfg, (int, float, str, bool, bytes)):
        return cfg
    if isinstance(cfg, ListConfig) or (isinstance(cfg, Sequence) and not isinstance(cfg, str)):
        items = [instantiate(item) for item in cfg]
        return items if not isinstance(cfg, tuple) else tuple(items)
    if isinstance(cfg, (DictConfig, Mapping)):
        if "_target_" not in cfg:
            out = {key: instantiate(cfg[key]) for key in cfg}
            out.update(kwargs)
            return out
        target = cfg["_target_"]
        if isinstance(target, str):
            target = locate(target)
        recursive = bool(cfg.get("_recursive_", True))
        params: dict[str, Any] = {}
        for key in cfg:
            if key in _KEYWORDS:
                continue
            value = cfg[key]
            if recursive:
                params[key] = instantiate(value)
            else:
                params[key] = value
        params.update(kwargs)
        try:
            return target(*args, **params)
        except TypeError as err:
            raise TypeError(f"while instantiating {getattr(target, '__qualname__', target)!r}: {err}") from err
    if dataclasses.is_dataclass(cfg):
        return cfg
    return _to_plain(cfg)


PROJECT_PACKAGES = ("cosmos_predict2.", "cosmos_predict1.")


def foreign_targets(cfg: Any, allowed: Sequence[str] = PROJECT_PACKAGES, where: str = "") -> list[tuple[str, str]]:
    """``(key, target)`` of every ``_target_`` in ``cfg`` that does not start with one of ``allowed``: what a
    config file from elsewhere (a downloaded job's ``config.yaml``) would make :func:`instantiate` import and call."""
    out: list[tuple[str, str]] = []
    if isinstance(cfg, (DictConfig, Mapping)):
        for key in cfg:
            path = f"{where}.{key}" if where else str(key)
            value = cfg[key]
            if key == "_target_":
                name = value if isinstance(value, str) else getattr(value, "__module__", "?") + "." + \
                    getattr(value, "__qualname__", "?")
                if not name.startswith(tuple(allowed)):
                    out.append((path, name))
            else:
                out += foreign_targets(value, allowed, path)
    elif isinstance(cfg, ListConfig) or (isinstance(cfg, Sequence) and not isinstance(cfg, (str, bytes))):
        for i, item in enumerate(cfg):
            out += foreign_targets(item, allowed, f"{where}.{i}" if where else str(i))
    return out


def refuse_foreign_targets(cfg: Any, source: str, where: str = "", fix: str = "") -> None:
    """Raise ValueError naming ``source`` and the first target outside this project (see :func:`foreign_targets`)."""
    bad = foreign_targets(cfg, where=where)
    if bad:
        key, name = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ValueError(f"{source}: {key} names {name!r}{more}, outside this project; a training job's config only "
                         f"names {'/'.join(p.rstrip('.') for p in PROJECT_PACKAGES)} classes; refusing to build it "
                         f"(it could run code){'; ' + fix if fix else ''}")
