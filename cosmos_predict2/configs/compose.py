"""Compose a training config: ``make_config()`` + Hydra overrides → validated :class:`Config`.

Overrides use Hydra's grammar (``key=value``, ``~key``, ``+key=value``, ``group=option``) and are
strict: an unknown experiment, group option or key fails at once with the closest valid names, and a
value of the wrong type names the key and the expected type. Two upstream spellings are accepted:
``model.config.pipe_config.X`` (Predict2) means ``model.config.X``, and the group names listed in
:data:`cosmos_predict2.configs.registry.GROUP_ALIASES`. Deleting a key that the chosen experiment does
not have (``~dataloader_train.dataloaders`` from the Predict2.5 docs) is reported and ignored.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from typing import Any, Callable, Optional

import attrs
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from cosmos_predict2.configs import registry
from cosmos_predict2.configs.schema import LAZY_SECTIONS, SECTION_TYPES, Config, check_model_config
from cosmos_predict2.lazy_config.errors import ConfigError, did_you_mean
from cosmos_predict2.utils.files import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_CONFIG_FILE = "cosmos_predict2/configs/base/config.py"
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY_ALIASES = {"model.config.pipe_config.": "model.config."}


# ----------------------------------------------------------------------------- loading the config file
def load_config_module(config_file: str) -> Callable[[], Config]:
    """Return ``make_config`` from a ``.py`` config file path (or dotted module)."""
    if config_file.endswith(".py"):
        path = os.path.abspath(config_file)
        if not os.path.isfile(path) and not os.path.isabs(config_file):  # the project's own files, from any cwd
            path = os.path.join(PROJECT_ROOT, config_file)
        if not os.path.isfile(path):
            raise ConfigError(f"--config file {config_file!r} does not exist (default: {DEFAULT_CONFIG_FILE})")
        module_name = None
        for root in (os.getcwd(), PROJECT_ROOT):
            rel = os.path.relpath(path, root)
            if not rel.startswith(".."):
                module_name = rel[:-3].replace(os.sep, ".")
                break
        if module_name:
            module = importlib.import_module(module_name)
        else:
            spec = importlib.util.spec_from_file_location("_user_config", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    else:
        module = importlib.import_module(config_file)
    if not hasattr(module, "make_config"):
        raise ConfigError(f"config file {config_file!r} has no make_config() function")
    return module.make_config


# ----------------------------------------------------------------------------- override helpers
def _rewrite_aliases(token: str) -> str:
    prefix = ""
    body = token
    for p in ("++", "+", "~"):
        if body.startswith(p):
            prefix, body = p, body[len(p):]
            break
    for old, new in KEY_ALIASES.items():
        if body.startswith(old):
            body = new + body[len(old):]
    key, sep, value = body.partition("=")
    if key in registry.GROUP_ALIASES:
        group = registry.GROUP_ALIASES[key]
        if not sep or value in registry.registered_options(group) or value in ("null", "None"):
            key = group
    return prefix + key + sep + value


def _parse(tokens: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(overrides=tokens)
    except Exception as err:  # hydra raises OverrideParseException
        raise ConfigError(f"cannot parse overrides {tokens}: {err}") from err


def _flat_keys(node: Any, prefix: str = "", depth: int = 0, out: Optional[list] = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(node, DictConfig) and depth < 8:
        for key in node.keys():
            path = f"{prefix}{key}"
            out.append(path)
            try:
                child = node._get_node(key)
            except Exception:
                continue
            _flat_keys(child, path + ".", depth + 1, out)
    return out


def _missing_key_message(cfg: DictConfig, key: str) -> str:
    parts = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parts):
        if isinstance(node, DictConfig) and part in node:
            node = node._get_node(part)
            continue
        where = ".".join(parts[:i]) or "<root>"
        siblings = list(node.keys()) if isinstance(node, DictConfig) else []
        hint = did_you_mean(part, siblings)
        if not hint:
            hint = did_you_mean(key, _flat_keys(cfg))
        valid = f" Valid keys under {where}: {', '.join(map(str, siblings[:30]))}." if siblings else ""
        add = "" if key.startswith("model.config.") else f" Use +{key}=VALUE to add a new key on purpose."
        return f"unknown config key {key!r}: {where!r} has no key {part!r}.{hint}{valid}{add}"
    return f"unknown config key {key!r}"


def _type_name(value: Any) -> str:
    if isinstance(value, DictConfig):
        return "a config node"
    if isinstance(value, ListConfig):
        return "list"
    return type(value).__name__


def _check_type(key: str, old: Any, new: Any) -> None:
    if old is None or new is None:
        return
    if isinstance(old, bool):
        ok = isinstance(new, bool)
    elif isinstance(old, int):
        ok = isinstance(new, int) and not isinstance(new, bool) or (isinstance(new, float) and float(new).is_integer())
    elif isinstance(old, float):
        ok = isinstance(new, (int, float)) and not isinstance(new, bool)
    elif isinstance(old, str):
        ok = isinstance(new, (str, int, float)) and not isinstance(new, bool)
    elif isinstance(old, (ListConfig, list, tuple)):
        ok = isinstance(new, (list, tuple))
    elif isinstance(old, DictConfig):
        ok = isinstance(new, dict)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"override {key}={new!r}: expected a value of type {_type_name(old)} "
                          f"(current value {old!r}), got {_type_name(new)}.")


# ----------------------------------------------------------------------------- composition
def _compose(base: DictConfig, overrides: list[str], return_choices: bool = False):
    """Hydra-compose ``base`` with ``overrides``; with ``return_choices`` also return the final group choices."""
    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    ConfigStore.instance().store(name="config", node=base)
    GlobalHydra.instance().clear()
    try:
        with hydra.initialize(version_base=None):
            cfg = hydra.compose(config_name="config", overrides=overrides, return_hydra_config=return_choices)
    except ConfigError:
        raise
    except Exception as err:
        raise ConfigError(f"cannot compose the config with overrides {overrides}: {err}") from err
    finally:
        GlobalHydra.instance().clear()
    if not return_choices:
        return cfg
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def _root_node(config: Config, model_option: Optional[str] = None) -> DictConfig:
    root = {}
    for field in attrs.fields(Config):
        value = getattr(config, field.name)
        root[field.name] = attrs.asdict(value, recurse=True) if attrs.has(type(value)) else value
    root["defaults"] = default_list(model_option)
    return DictConfig(content=root, flags={"allow_objects": True})


def default_list(model_option: Optional[str] = None) -> list:
    """Root defaults: the experiment entry comes last so it can override every group.

    With a ``model`` option chosen, the net / conditioner / tokenizer / ema groups default to that option's
    own nodes (hidden options, see ``registry.register_group_option``); choosing another option of one of
    these groups replaces the node whole, as in Hydra defaults lists.
    """
    def sub(group: str):
        if model_option is None:
            return None
        name = registry.model_default_option(model_option)
        return name if _stored(group, name) else None

    return [
        "_self_",
        {"data_train": None},
        {"data_val": None},
        {"optimizer": "fusedadamw"},
        {"scheduler": "constant"},
        {"model": model_option},
        {"net": sub("net")},
        {"conditioner": sub("conditioner")},
        {"tokenizer": sub("tokenizer")},
        {"ema": sub("ema")},
        {"callbacks": "basic"},
        {"checkpoint": "local"},
        {"ckpt_type": "standard"},
        {"experiment": None},
    ]


def _stored(group: str, name: str) -> bool:
    from hydra.core.config_store import ConfigStore

    return f"{name}.yaml" in ConfigStore.instance().list(group)


def _check_group_override(override) -> None:
    group = override.key_or_group
    value = override.value()
    if override.is_delete() or value is None:
        return
    options = registry.registered_options(group)
    for choice in value if isinstance(value, list) else [value]:
        if str(choice) not in options:
            what = "experiment" if group == "experiment" else f"option of group {group!r}"
            raise ConfigError(f"unknown {what} {choice!r}.{did_you_mean(str(choice), options)} "
                              f"({len(options)} registered; list them with --list {group})")


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Compose ``config`` (from make_config) with Hydra ``overrides`` into a new :class:`Config`."""
    tokens = [_rewrite_aliases(t) for t in overrides]
    parsed = _parse(tokens)
    group_tokens, key_overrides = [], []
    for token, ov in zip(tokens, parsed):
        if ov.key_or_group in registry.GROUP_PACKAGES and ov.package is None:
            _check_group_override(ov)
            group_tokens.append(token)
        else:
            key_overrides.append((token, ov))
    _, choices = _compose(_root_node(config), group_tokens, return_choices=True)
    base_node = _root_node(config, choices.get("model"))
    base = _compose(base_node, group_tokens)
    kept = list(group_tokens)
    for token, ov in key_overrides:
        key = ov.key_or_group
        exists = OmegaConf.select(base, key, default="__missing__", throw_on_missing=False) != "__missing__"
        if ov.is_delete():
            if not exists:
                log.warning("override %s ignored: key %r does not exist in this config", token, key)
                print(f"[config] ignoring {token}: key {key!r} does not exist in this experiment", file=sys.stderr)
                continue
        elif ov.is_add():
            pass
        elif not exists:
            raise ConfigError(_missing_key_message(base, key))
        else:
            old = OmegaConf.select(base, key)
            new = ov.value()
            _check_type(key, old, new)
            if isinstance(old, str) and isinstance(new, (int, float)) and not isinstance(new, bool):
                # `resolution="720"` reaches us as 720 once the shell strips the quotes: keep it a string
                token = f"{key}='{new}'"
        kept.append(token)
    cfg = _compose(base_node, kept)
    raw_name = str(OmegaConf.to_container(cfg.job, resolve=False).get("name", "")) if "job" in cfg else ""
    try:
        OmegaConf.resolve(cfg)
    except Exception as err:
        raise ConfigError(f"cannot resolve interpolations in the config: {err}") from err
    config = config_from_dict(cfg)
    config.job.name_template = raw_name  # before ${now:...} was resolved (not a config key)
    return config


# ----------------------------------------------------------------------------- back to typed config
_SIMPLE_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": (list, ListConfig)}


def _check_field(section: str, field: attrs.Attribute, value: Any) -> Any:
    type_name = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "Any")
    optional = type_name.startswith("Optional[")
    base = type_name[len("Optional["):-1] if optional else type_name
    if value is None and optional:
        return value
    expected = _SIMPLE_TYPES.get(base)
    if expected is None:
        return value
    if base == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if base == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if (base in ("int", "float") and isinstance(value, bool)) or not isinstance(value, expected):
        raise ConfigError(f"{section}.{field.name} must be of type {base}, got {value!r} ({type(value).__name__})")
    return value


def config_from_dict(cfg: DictConfig) -> Config:
    """Rebuild the typed :class:`Config`; every key must be a known field."""
    kwargs: dict[str, Any] = {}
    known = {f.name for f in attrs.fields(Config)}
    for key in cfg.keys():
        if key not in known:
            raise ConfigError(f"unknown top-level config key {key!r}.{did_you_mean(str(key), known)}")
    for name in LAZY_SECTIONS:
        kwargs[name] = cfg[name] if name in cfg else None
    check_model_config(kwargs["model"])
    for name, cls in SECTION_TYPES.items():
        node = cfg[name] if name in cfg else {}
        fields = {f.name: f for f in attrs.fields(cls)}
        values = {}
        for key in node.keys():
            if key not in fields:
                raise ConfigError(f"unknown config key {name}.{key}.{did_you_mean(str(key), fields)}")
            raw = node[key]
            if isinstance(raw, DictConfig) and key in ("callbacks", "type"):
                values[key] = raw
            elif isinstance(raw, (DictConfig, ListConfig)):
                values[key] = OmegaConf.to_container(raw, resolve=True)
            else:
                values[key] = _check_field(name, fields[key], raw)
        kwargs[name] = cls(**values)
    return Config(**kwargs)


def compose_config(config_file: str = DEFAULT_CONFIG_FILE, overrides: Optional[list[str]] = None) -> Config:
    """Load ``make_config()`` from ``config_file`` and apply ``overrides``."""
    make_config = load_config_module(config_file)
    return apply_overrides(make_config(), list(overrides or []))


def to_yaml(config: Config) -> str:
    root = {}
    for field in attrs.fields(Config):
        value = getattr(config, field.name)
        root[field.name] = attrs.asdict(value, recurse=True) if attrs.has(type(value)) else value
    return OmegaConf.to_yaml(DictConfig(content=root, flags={"allow_objects": True}))


def write_config_yaml(config: Config, job_dir: str) -> str:
    """Write ``<job_dir>/config.yaml`` (atomically); returns its path."""
    os.makedirs(job_dir, exist_ok=True)
    path = os.path.join(job_dir, "config.yaml")
    atomic_write_text(path, to_yaml(config))
    return path
