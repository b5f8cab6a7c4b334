"""Typed root of every training config: job, trainer, checkpoint, model_parallel + lazy nodes.

The lazy nodes (model, optimizer, scheduler, dataloader_train, dataloader_val) are omegaconf
``DictConfig``s built with ``L(...)``; everything else is a typed attrs class so that a wrong
value type in an override is reported with the key and the expected type.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional

import attrs
from omegaconf import DictConfig

from cosmos_predict2.lazy_config.errors import ConfigError, did_you_mean

DEFAULT_OUTPUT_ROOT = "checkpoints"
# Predict2.5's default when IMAGINAIRE_OUTPUT_ROOT is unset (its guides' conversion block relies on it).
P25_OUTPUT_ROOT = "/tmp/imaginaire4-output"
OUTPUT_ROOT_ENV = ("IMAGINAIRE_OUTPUT_ROOT", "OUTPUT_ROOT")


def output_root(default: str = DEFAULT_OUTPUT_ROOT) -> str:
    """``$IMAGINAIRE_OUTPUT_ROOT``, else ``$OUTPUT_ROOT`` (Predict1 spelling), else ``default``."""
    return next((os.environ[k] for k in OUTPUT_ROOT_ENV if os.environ.get(k)), None) or default


@attrs.define(slots=False)
class JobConfig:
    project: str = "cosmos_predict2"
    group: str = "debug"
    name: str = "default_${now:%Y-%m-%d}_${now:%H-%M-%S}"
    wandb_mode: str = "disabled"
    # output root when neither IMAGINAIRE_OUTPUT_ROOT nor OUTPUT_ROOT is set (Predict2.5 experiments: /tmp/...)
    default_output_root: str = DEFAULT_OUTPUT_ROOT

    @property
    def path(self) -> str:
        return f"{self.project}/{self.group}/{self.name}"

    @property
    def path_local(self) -> str:
        return os.path.join(output_root(self.default_output_root), self.path)

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.path_local, "checkpoints")


PROFILE_CYCLE_MIN = 4  # trainer.profiling: 3 warm-up iterations + the traced one


@attrs.define(slots=False)
class ProfilingConfig:
    """``trainer.profiling`` (upstream's fields and defaults). With ``enable_profiling`` each cycle of
    ``profile_freq`` iterations runs 3 warm-up iterations and traces the last one into
    ``<job>/torch_trace/iteration_<N>/rank<r>_trace.json.gz`` on ranks below ``first_n_rank`` (-1: every rank);
    ``enable_memory_snapshot`` (CUDA) writes ``<job>/memory_snapshot/iteration_<N>/rank<r>_memory_snapshot.pickle``
    every ``profile_freq`` iterations."""

    enable_profiling: bool = False
    enable_memory_snapshot: bool = False
    profile_freq: int = 1
    first_n_rank: int = 8
    record_shape: bool = True
    profile_memory: bool = True
    with_stack: bool = True
    with_modules: bool = True

    def check(self) -> None:
        """ConfigError when profiling cannot run as configured."""
        if self.enable_profiling and int(self.profile_freq) < PROFILE_CYCLE_MIN:
            raise ConfigError(f"trainer.profiling.profile_freq={self.profile_freq} with enable_profiling: a cycle is "
                              f"3 warm-up iterations + 1 traced one; set trainer.profiling.profile_freq >= "
                              f"{PROFILE_CYCLE_MIN}")
        if self.enable_memory_snapshot and int(self.profile_freq) < 1:
            raise ConfigError(f"trainer.profiling.profile_freq={self.profile_freq} must be >= 1 (iterations between "
                              f"memory snapshots)")


def _profiling(value: Any) -> ProfilingConfig:
    """``trainer.profiling`` from a mapping (overrides, YAML): unknown keys and wrong types are ConfigErrors."""
    if isinstance(value, ProfilingConfig):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"trainer.profiling={value!r} must be a mapping of {list(attrs.fields_dict(ProfilingConfig))}"
                          f", e.g. trainer.profiling.enable_profiling=True trainer.profiling.profile_freq=10")
    fields = attrs.fields_dict(ProfilingConfig)
    for key, item in value.items():
        if key not in fields:
            raise ConfigError(f"unknown config key trainer.profiling.{key}.{did_you_mean(str(key), fields)}")
        kind = fields[key].type
        if (kind == "bool") != isinstance(item, bool) or not isinstance(item, int):
            raise ConfigError(f"trainer.profiling.{key} must be of type {kind}, got {item!r}")
    return ProfilingConfig(**value)


@attrs.define(slots=False)
class TrainerConfig:
    callbacks: Any = attrs.field(factory=dict)
    distributed_parallelism: str = "fsdp"
    seed: int = 0
    max_iter: int = 400_000
    max_val_iter: Optional[int] = None
    logging_iter: int = 10
    run_validation: bool = False
    validation_iter: int = 100
    grad_accum_iter: int = 1
    timeout_period: int = 999_999_999
    memory_format: str = "preserve_format"
    progress_bar: bool = True
    tensorboard: bool = False
    detect_nan: bool = True
    profiling: ProfilingConfig = attrs.field(factory=ProfilingConfig, converter=_profiling)


@attrs.define(slots=False)
class CheckpointConfig:
    type: Any = None
    dcp_async_mode_enabled: bool = False
    save_iter: int = 999_999_999
    load_path: str = ""
    load_training_state: bool = False
    # with load_path and load_training_state=False: also restore the LR scheduler's state from load_path
    only_load_scheduler_state: bool = False
    strict_resume: bool = True
    # parts of the checkpoint not restored: any of checkpoint.base.RESUME_KEYS ("model", "optim", "scheduler", "trainer")
    keys_not_to_resume: list = attrs.field(factory=list)
    load_ema_to_reg: bool = False
    dcp_allow_mismatched_size: bool = False
    keep_last_k: int = 0
    broadcast_via_filesystem: bool = False
    verbose: bool = True


@attrs.define(slots=False)
class ModelParallelConfig:
    context_parallel_size: int = 1
    tensor_model_parallel_size: int = 1
    pipeline_model_parallel_size: int = 1
    sequence_parallel: bool = False


@attrs.define(slots=False)
class Config:
    """The whole training config. ``freeze()`` makes it read-only once validated."""

    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    dataloader_train: Any = None
    dataloader_val: Any = None
    job: JobConfig = attrs.field(factory=JobConfig)
    trainer: TrainerConfig = attrs.field(factory=TrainerConfig)
    checkpoint: CheckpointConfig = attrs.field(factory=CheckpointConfig)
    model_parallel: ModelParallelConfig = attrs.field(factory=ModelParallelConfig)

    def freeze(self) -> "Config":
        from omegaconf import OmegaConf

        for value in (self.model, self.optimizer, self.scheduler, self.dataloader_train, self.dataloader_val,
                      self.trainer.callbacks, self.checkpoint.type):
            if isinstance(value, DictConfig):
                OmegaConf.set_readonly(value, True)
        return self


SECTION_TYPES = {
    "job": JobConfig,
    "trainer": TrainerConfig,
    "checkpoint": CheckpointConfig,
    "model_parallel": ModelParallelConfig,
}
LAZY_SECTIONS = ("model", "optimizer", "scheduler", "dataloader_train", "dataloader_val")


def check_model_config(model: Any) -> None:
    """The ``model.config`` of a Video2WorldModel node against its typed schema
    (:class:`cosmos_predict2.pipelines.model_config.Video2WorldConfig`): an unknown or mistyped key is a
    ConfigError naming ``model.config.<key>`` and the closest valid keys."""
    from cosmos_predict2.lazy_config.nodes import node_get
    from cosmos_predict2.pipelines.model_config import MODEL_TARGET, Video2WorldConfig

    if node_get(model, "_target_") == MODEL_TARGET:
        Video2WorldConfig.from_node(node_get(model, "config"))
