"""Typed schema of ``model.config``: every key of the Video2World world model, its type, default and meaning.

The config files build the node from it (``configs/base/defaults/model.py``), compose checks the composed node
against it (an unknown or mistyped key is a :class:`ConfigError` naming ``model.config.<key>`` with the closest
valid names), and :class:`~cosmos_predict2.pipelines.video2world_model.Video2WorldModel`, the launcher and the
inference scripts read it through :meth:`Video2WorldConfig.from_node`. The defaults below are the only ones.

Lazy nodes (``net``, ``tokenizer``, ``conditioner``, ``objective``, ``sampler``, ``condition_augment``) stay
uninstantiated ``L(...)`` nodes; the model instantiates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import attrs

from cosmos_predict2.lazy_config.errors import ConfigError, did_you_mean
from cosmos_predict2.lazy_config.nodes import node_get
from cosmos_predict2.models.lora import LORA_TARGET_MODULES

MODEL_TARGET = "cosmos_predict2.pipelines.video2world_model.Video2WorldModel"
# Keys older job configs carry that no longer exist, with the one value that meant "off": read and dropped.
RETIRED_KEYS = {"rollout_conditioning": None}


def _field(default: Any, doc: str, *, factory: bool = False, lazy: bool = False) -> Any:
    meta = {"doc": doc, "lazy": lazy}
    if factory:
        return attrs.field(factory=default, metadata=meta)
    return attrs.field(default=default, metadata=meta)


@attrs.define(slots=False, kw_only=True)
class EMAConfig:
    """``model.config.ema`` (group ``ema``): power-function EMA of the net (EDM2 style)."""

    enabled: bool = _field(True, "keep an EMA copy of the net (``net_ema``)")
    rate: float = _field(0.10, "power-EMA rate (EDM2 sigma_rel style exponent)")
    iteration_shift: int = _field(0, "iterations added to the step count before the EMA decay is computed")


@attrs.define(slots=False, kw_only=True)
class TextEncoderConfig:
    """``model.config.text_encoder``: where the text embeddings the net cross-attends to come from."""

    kind: str = _field("t5", "t5 | reason1p1_7B | none (no text: zero embeddings of one token)")
    path: str = _field("checkpoints/google-t5/t5-11b", "the encoder's local folder (inference prompts)")
    compute_online: bool = _field(
        False, "Predict2.5: embeddings come from the forward pass, not the data; only empty captions are "
               "supported (encoded as the zero embedding), a non-empty caption is an error")
    embed_dim: int = _field(1024, "width of one text-embedding token")


@attrs.define(slots=False, kw_only=True)
class ModelManagerConfig:
    """``model.config.model_manager_config``: the base weights a fresh run starts from (checkpoint/weights.py)."""

    dit_path: str = _field("", "released / converted DiT weights to start from ('' = random initialisation)")
    load_ema_to_reg: bool = _field(False, "start the net from the file's ``net_ema.*`` weights")
    new_modules: list = _field(list, "net modules the file may lack (they keep their initialisation)", factory=True)


@attrs.define(slots=False, kw_only=True)
class Video2WorldConfig:
    """``model.config`` of :class:`~cosmos_predict2.pipelines.video2world_model.Video2WorldModel`."""

    net: Any = _field(None, "the DiT (group ``net``)", lazy=True)
    tokenizer: Any = _field(None, "the frozen video tokenizer (group ``tokenizer``)", lazy=True)
    conditioner: Any = _field(None, "batch -> VideoCondition (group ``conditioner``)", lazy=True)
    objective: Any = _field(None, "diffusion training objective (diffusion/objectives.py)", lazy=True)
    sampler: Any = _field(None, "sampler of ``generate`` (diffusion/samplers.py)", lazy=True)
    condition_augment: Any = _field(None, "training-time augmentation of the conditioning latent frames "
                                          "(diffusion/condition_augment.py; None = off)", lazy=True)
    ema: EMAConfig = _field(EMAConfig, "EMA of the net", factory=True)
    text_encoder: TextEncoderConfig = _field(TextEncoderConfig, "text embeddings", factory=True)
    model_manager_config: ModelManagerConfig = _field(ModelManagerConfig, "base weights", factory=True)
    precision: str = _field("bfloat16", "training compute dtype: bfloat16 | float32 (aliases bf16 | fp32)")
    fsdp_shard_size: int = _field(-1, "ranks one FSDP shard group spans (-1: all ranks; 1: full replicas)")
    num_video_frames: int = _field(93, "pixel frames per clip (1 + 4k for the 4x temporal tokenizer)")
    resolution: str = _field("720", "resolution name; its 16:9 pixel size when the data names none")
    fps: int = _field(16, "frame rate the net is conditioned on at inference (the data's fps in training)")
    state_t: Optional[int] = _field(None, "latent frames per clip (None: not checked)")
    state_ch: int = _field(16, "latent channels (the tokenizer's latent_ch)")
    min_num_conditional_frames: int = _field(1, "fewest latent conditioning frames drawn in training")
    max_num_conditional_frames: int = _field(2, "most latent conditioning frames drawn in training")
    conditional_frames_probs: Optional[dict] = _field(None, "{count: probability} of the conditioning frames "
                                                            "(None: uniform between min and max)")
    train_architecture: str = _field("base", "base (train the whole net) | lora (train adapters only)")
    lora_rank: int = _field(16, "LoRA rank")
    lora_alpha: int = _field(16, "LoRA alpha (adapter scale alpha / rank)")
    lora_target_modules: str = _field(LORA_TARGET_MODULES, "comma-separated linear-layer names that get adapters")
    init_lora_weights: bool = _field(True, "adapters start as the identity (B = 0)")
    use_dora: bool = _field(False, "weight-decomposed LoRA (DoRA)")
    activation_checkpointing: str = _field("block_wise", "policy of parallel/activation_checkpoint.py ('none': off)")
    input_video_key: str = _field("video", "batch key of the uint8 / [-1, 1] video")
    input_latent_key: str = _field("latent", "batch key of cached latents (used instead of the video when present)")

    @classmethod
    def from_node(cls, node: Any, where: str = "model.config") -> "Video2WorldConfig":
        """The typed config of a ``model.config`` node (dict or DictConfig); :class:`ConfigError` on an unknown
        key (with the closest valid names) or a value of the wrong type."""
        if isinstance(node, cls):
            return node
        return _build(cls, node, where)

    def to_node(self) -> dict:
        """Plain dict of every key (nested sections as dicts, lazy nodes as they are)."""
        return _to_dict(self)


def model_config(config: Any) -> Video2WorldConfig:
    """The typed ``model.config`` of a whole training config (``config.model.config``)."""
    return Video2WorldConfig.from_node(node_get(config.model, "config"))


def _to_dict(obj: Any) -> dict:
    return {f.name: _to_dict(v) if attrs.has(type(v)) else (list(v) if isinstance(v, (list, tuple)) else v)
            for f in attrs.fields(type(obj)) for v in (getattr(obj, f.name),)}


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


_SIMPLE = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": (list, tuple), "dict": Mapping}


def _check(where: str, type_name: str, value: Any) -> Any:
    optional = type_name.startswith("Optional[")
    base = type_name[len("Optional["):-1] if optional else type_name
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must be of type {base}, got None; remove the override to keep its default")
    value = _plain(value)
    if base == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if base == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if base == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # resolution=720 after the shell stripped its quotes
    expected = _SIMPLE[base]
    if (base in ("int", "float") and isinstance(value, bool)) or not isinstance(value, expected):
        raise ConfigError(f"{where} must be of type {base}, got {value!r} ({type(value).__name__})")
    return list(value) if base == "list" else value


def _build(cls: type, node: Any, where: str) -> Any:
    if node is None:
        node = {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where} must be a mapping of {', '.join(f.name for f in attrs.fields(cls))}; "
                          f"got {node!r}")
    fields = {f.name: f for f in attrs.fields(cls)}
    values = {}
    for key in node.keys():
        name = str(key)
        if name in RETIRED_KEYS and name not in fields and node[key] == RETIRED_KEYS[name]:
            continue
        if name not in fields:
            raise ConfigError(f"unknown config key {where}.{name}.{did_you_mean(name, fields)} (every key of {where}, "
                              f"with its type and default: {cls.__name__} in cosmos_predict2/pipelines/model_config.py)")
        field, value, path = fields[name], node[key], f"{where}.{name}"
        section = field.default.factory if isinstance(field.default, attrs.Factory) else None
        if section is not None and attrs.has(section):
            values[name] = _build(section, value, path)
        elif field.metadata.get("lazy"):
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"{path} must be a config node (L(...)) or None, got {value!r}")
            values[name] = value
        else:
            values[name] = _check(path, str(field.type), value)
    return cls(**values)
