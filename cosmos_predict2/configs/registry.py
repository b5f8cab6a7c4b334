"""Registration helpers for Hydra ConfigStore groups and experiments.

Group names follow the upstream spelling; a few upstream aliases are accepted:
``dataloader_train``/``dataloader_val`` (Predict2) for ``data_train``/``data_val`` (Predict1 / 2.5),
``ckpt_klass`` (Predict1) for ``ckpt_type`` and ``vae`` (Predict1) for ``tokenizer``.
"""

from __future__ import annotations

import difflib
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from cosmos_predict2.lazy_config.errors import ConfigError

# group name -> package it merges into
GROUP_PACKAGES: dict[str, str] = {
    "data_train": "dataloader_train",
    "data_val": "dataloader_val",
    "optimizer": "optimizer",
    "scheduler": "scheduler",
    "model": "_global_",
    "net": "model.config.net",
    "conditioner": "model.config.conditioner",
    "tokenizer": "model.config.tokenizer",
    "ema": "model.config.ema",
    "callbacks": "trainer.callbacks",
    "checkpoint": "checkpoint",
    "ckpt_type": "checkpoint.type",
    "experiment": "_global_",
}
GROUP_ALIASES: dict[str, str] = {
    "dataloader_train": "data_train",
    "dataloader_val": "data_val",
    "ckpt_klass": "ckpt_type",
    "vae": "tokenizer",
}
# Groups whose package lies inside the ``model`` node. A ``model`` option's own net / tokenizer / conditioner /
# ema are stored as hidden options of these groups (see :func:`model_default_option`), so that choosing another
# option of one of them replaces that node instead of merging into it (Hydra's defaults-list semantics).
MODEL_SUBGROUPS: tuple[str, ...] = ("net", "conditioner", "tokenizer", "ema")
# names each group holds (besides Hydra's own bookkeeping) -> used for "did you mean" messages
_REGISTERED: dict[str, list[str]] = {group: [] for group in GROUP_PACKAGES}
_EXPERIMENT_ALIASES: dict[str, str] = {}
_CPU_EXPERIMENTS: set[str] = set()  # experiments sized to train on a CPU laptop (the rest need GPUs)


def canonical_group(name: str) -> str:
    return GROUP_ALIASES.get(name, name)


def _as_node(node: Any) -> Any:
    if node is None:
        return None
    if isinstance(node, DictConfig):
        return node
    return DictConfig(content=node, flags={"allow_objects": True})


def model_default_option(model_option: str) -> str:
    """Name of the hidden sub-group option that holds a ``model`` option's own net / tokenizer / ... node."""
    return f"model_default__{model_option}"


def _split_model_node(name: str, node: Any) -> Any:
    """Move ``model.config.<subgroup>`` of a ``model`` option into hidden options of the sub-groups."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    node = dict(node)
    model = node.get("model")
    config = model.get("config") if isinstance(model, (dict, DictConfig)) else None
    if config is None:
        return node
    model = OmegaConf.to_container(model, resolve=False) if isinstance(model, DictConfig) else dict(model)
    config = dict(model["config"])
    for sub in MODEL_SUBGROUPS:
        if sub in config:
            ConfigStore.instance().store(group=sub, package=GROUP_PACKAGES[sub], name=model_default_option(name),
                                         node=_as_node(config.pop(sub)))
    model["config"] = config
    node["model"] = model
    return node


def register_group_option(group: str, name: str, node: Any) -> None:
    """Store ``node`` as option ``name`` of ``group`` (the node is merged at the group's package).

    A ``model`` option's net / tokenizer / conditioner / ema become that option's defaults for those groups:
    they apply unless the group is chosen (``net=X`` or ``override /net: X``), which replaces them whole.
    """
    group = canonical_group(group)
    if group not in GROUP_PACKAGES:
        raise KeyError(f"unknown config group {group!r}; groups: {sorted(GROUP_PACKAGES)}")
    if group == "model":
        node = _split_model_node(name, node)
    ConfigStore.instance().store(group=group, package=GROUP_PACKAGES[group], name=name, node=_as_node(node))
    if name not in _REGISTERED[group]:
        _REGISTERED[group].append(name)


def _normalise_defaults(defaults: list) -> list:
    """Rewrite upstream group aliases inside an experiment's defaults list."""
    out = []
    for entry in defaults:
        if isinstance(entry, (dict, DictConfig)):
            fixed = {}
            for key, value in dict(entry).items():
                prefix = "override /" if key.startswith("override /") else ("/" if key.startswith("/") else "")
                bare = key[len(prefix):]
                fixed[prefix + canonical_group(bare)] = value
            out.append(fixed)
        else:
            out.append(entry)
    return out


def register_experiment(name: str, node: Any, aliases: tuple[str, ...] = (), cpu: bool = False) -> None:
    """Register an experiment (a dict with a ``defaults`` list) under ``name`` and its aliases; ``cpu``: it is
    sized to train on a CPU (``--list experiment`` says so)."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    node = dict(node)
    node["defaults"] = _normalise_defaults(list(node.get("defaults", ["_self_"])))
    register_group_option("experiment", name, node)
    for alias in aliases:
        register_group_option("experiment", alias, node)
        _EXPERIMENT_ALIASES[alias] = name
    if cpu:
        _CPU_EXPERIMENTS.update((name, *aliases))


def is_cpu_experiment(name: str) -> bool:
    return name in _CPU_EXPERIMENTS


def listing(group: str) -> list[str]:
    """``--list GROUP`` lines: option names; experiments marked ``[cpu]`` (trains on a CPU) or ``[gpu]``.

    An unknown group is a :class:`~cosmos_predict2.lazy_config.errors.ConfigError` naming the known groups.
    """
    if canonical_group(group) not in GROUP_PACKAGES:
        near = difflib.get_close_matches(group, list(GROUP_PACKAGES) + list(GROUP_ALIASES), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        raise ConfigError(f"unknown config group {group!r} for --list.{hint} Known groups: "
                          f"{', '.join(GROUP_PACKAGES)} (aliases: {', '.join(GROUP_ALIASES)}); "
                          f"e.g. --list experiment")
    names = sorted(registered_options(group))
    if canonical_group(group) != "experiment":
        return names
    width = max((len(n) for n in names), default=0)
    return [f"{n:<{width}}  {'[cpu]' if n in _CPU_EXPERIMENTS else '[gpu]'}"
            + (f"  (alias of {_EXPERIMENT_ALIASES[n]})" if n in _EXPERIMENT_ALIASES else "") for n in names]


def registered_options(group: str) -> list[str]:
    return list(_REGISTERED.get(canonical_group(group), []))


def experiment_aliases() -> dict[str, str]:
    return dict(_EXPERIMENT_ALIASES)
