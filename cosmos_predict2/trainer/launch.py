"""``launch(config) -> exit code``: everything between a validated config and a finished training run.

Order: process group (torchrun env, or a 1-rank group) -> config validation for this world size ->
device mesh -> data loaders (fail fast on missing data) -> model (same seed on every rank) -> weights from
``checkpoint.load_path`` -> LoRA -> parallelism (CP -> AC -> FSDP) -> optimizer / scheduler / checkpointer /
callbacks -> resume from ``latest_checkpoint.txt`` -> :class:`Trainer`.

User errors (config, data, checkpoint: ``ValueError`` subclasses) are printed as one line on stderr and
give exit code 2; ``COSMOS_DEBUG=1`` re-raises them with the traceback. A NaN / Inf loss gives exit code 3.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Optional

import torch

from cosmos_predict2.lazy_config import instantiate
from cosmos_predict2.utils import distributed as du
from cosmos_predict2.utils.logging import setup_logging

log = logging.getLogger(__name__)


def _cfg_get(node: Any, key: str, default: Any = None) -> Any:
    try:
        value = node[key] if key in node else default
    except TypeError:
        value = getattr(node, key, default)
    return default if value is None else value


def write_config_yaml(config, job_dir: str) -> str:
    from cosmos_predict2.configs.compose import to_yaml

    os.makedirs(job_dir, exist_ok=True)
    path = os.path.join(job_dir, "config.yaml")
    with open(path, "w") as f:
        f.write(to_yaml(config))
    return path


def _has_lora(net: torch.nn.Module) -> bool:
    from cosmos_predict2.trainer.lora import LoRALinear

    return any(isinstance(m, LoRALinear) for m in net.modules())


def apply_lora_if_needed(model, mcfg) -> None:
    """Inject LoRA adapters (after the base weights are loaded) unless the model already did."""
    if str(_cfg_get(mcfg, "train_architecture", "base")) != "lora" or _has_lora(model.net):
        return
    from cosmos_predict2.trainer.lora import inject_lora

    kwargs = dict(rank=int(_cfg_get(mcfg, "lora_rank", 16)), alpha=float(_cfg_get(mcfg, "lora_alpha", 16)),
                  target_modules=_cfg_get(mcfg, "lora_target_modules", "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"),
                  init_lora_weights=bool(_cfg_get(mcfg, "init_lora_weights", True)))
    names = inject_lora(model.net, **kwargs)
    if getattr(model, "net_ema", None) is not None:
        inject_lora(model.net_ema, **kwargs)
        model.net_ema.load_state_dict(model.net.state_dict())
        model.net_ema.requires_grad_(False)
    log.info("LoRA: %d adapted linear layers", len(names))


def move_except_nets(model: torch.nn.Module, device: torch.device) -> None:
    """``model.to(device)`` for everything but ``net`` / ``net_ema``: FSDP2 moves those one block at a time
    while sharding, so a 14B net never needs to fit on one device unsharded."""
    nets = {n: model._modules[n] for n in ("net", "net_ema") if model._modules.get(n) is not None}
    for name in nets:
        model._modules[name] = None  # keeps the child order; None children are skipped by Module._apply
    try:
        model.to(device)
    finally:
        for name, net in nets.items():
            model._modules[name] = net


def _training_checkpoint_kind(path: str) -> Optional[str]:
    """'dcp' / 'standard' when ``path`` is a full training checkpoint, else None."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model", ".metadata")):
        return "dcp"
    parent = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    if os.path.isfile(path) and os.path.basename(os.path.dirname(os.path.abspath(path))) == "model" and \
            os.path.isfile(os.path.join(parent, "trainer", os.path.basename(path))):
        return "standard"
    return None


def build(config, return_parts: bool = False):
    """Build every training object; returns the :class:`Trainer` (collective: call on every rank)."""
    from cosmos_predict2.checkpoint.base import NoCheckpointer
    from cosmos_predict2.checkpoint.dcp import DistributedCheckpointer
    from cosmos_predict2.checkpoint.init_weights import init_model_weights
    from cosmos_predict2.checkpoint.standard import StandardCheckpointer
    from cosmos_predict2.configs.validate import validate_config
    from cosmos_predict2.parallel.mesh import build_parallel_dims
    from cosmos_predict2.parallel.parallelize import parallelize_model
    from cosmos_predict2.trainer.trainer import Trainer, seed_all

    rank, world = du.init_distributed()
    setup_logging(rank)
    for note in validate_config(config, world):
        log.info(note)
    config.freeze()
    mcfg = config.model["config"]
    dims = build_parallel_dims(world, int(_cfg_get(mcfg, "fsdp_shard_size", -1)),
                               int(config.model_parallel.context_parallel_size), du.device_type())
    log.info("mesh: %s", dims.describe())
    job_dir = config.job.path_local
    if du.is_rank0():
        log.info("job directory %s (config: %s)", job_dir, write_config_yaml(config, job_dir))
    device = du.current_device()
    seed = int(config.trainer.seed)

    # data first: a missing dataset fails in seconds, before the model is built
    dl_kwargs = dict(dp_rank=dims.dp_rank, dp_world_size=dims.dp, seed=seed)
    dataloader_train = instantiate(config.dataloader_train, **dl_kwargs)
    dataloader_val = None
    if config.dataloader_val is not None and bool(config.trainer.run_validation):
        dataloader_val = instantiate(config.dataloader_val, **dl_kwargs)

    seed_all(seed)  # identical initial weights on every rank (FSDP shards each rank's own copy)
    model = instantiate(config.model)
    checkpointer = (instantiate(config.checkpoint.type, config_checkpoint=config.checkpoint, config_job=config.job)
                    if config.checkpoint.type is not None else NoCheckpointer(config.checkpoint, config.job))
    resume_path = checkpointer.latest_path()
    load_path = str(config.checkpoint.load_path or "")
    deferred = None
    if resume_path is None and load_path:
        kind = _training_checkpoint_kind(load_path)
        if kind is not None and bool(config.checkpoint.load_training_state):
            deferred = kind  # full training state, loaded after parallelisation
        else:
            report = init_model_weights(model, load_path, bool(config.checkpoint.load_ema_to_reg))
            if du.is_rank0():
                log.info(report.summary())
    apply_lora_if_needed(model, mcfg)
    move_except_nets(model, device)  # fully_shard moves the nets block by block (only shards stay on device)
    parallelize_model(model, dims, str(_cfg_get(mcfg, "precision", "float32")),
                      str(_cfg_get(mcfg, "activation_checkpointing", "none")))

    optimizer = instantiate(config.optimizer, model=model)
    scheduler = instantiate(config.scheduler, optimizer=optimizer) if config.scheduler is not None else None
    callbacks = [instantiate(node) for node in (config.trainer.callbacks or {}).values()]
    trainer = Trainer(config, model, optimizer, scheduler, dataloader_train, dataloader_val, checkpointer, callbacks,
                      dims=dims, job_dir=job_dir, device=device)
    trainer.reseed(0)
    state = None
    if resume_path is not None:
        state = checkpointer.resume(model, optimizer, scheduler)
    elif deferred is not None:
        other = DistributedCheckpointer if deferred == "dcp" else StandardCheckpointer
        loader = other(config.checkpoint, config.job)
        state = loader.load_checkpoint(load_path, model, optimizer, scheduler, load_training_state=True)
    if state is not None:
        trainer.load_trainer_state(state)
        log.info("resumed at iteration %d", trainer.iteration)
    return trainer


def launch(config) -> int:
    """Train with ``config``; returns the process exit code (0 ok, 2 user error, 3 non-finite loss)."""
    from cosmos_predict2.trainer.trainer import NonFiniteLossError

    debug = os.environ.get("COSMOS_DEBUG", "") not in ("", "0")
    try:
        trainer = build(config)
        trainer.train()
        return 0
    except NonFiniteLossError as err:
        print(f"error{_rank_tag()}: {err}", file=sys.stderr)
        if debug:
            raise
        return 3
    except (ValueError, ImportError, FileNotFoundError) as err:
        if debug or not _is_user_error(err):
            raise
        print(f"error{_rank_tag()}: {err}", file=sys.stderr)
        return 2
    finally:
        du.destroy_distributed()


def _rank_tag() -> str:
    return f" (rank {du.get_rank()})" if du.get_world_size() > 1 else ""


def _raised_by_project(err: BaseException) -> bool:
    """True when the innermost frame of ``err`` is in this package (not in torch or another library)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and os.path.abspath(last).startswith(package_dir + os.sep)


def _is_user_error(err: BaseException) -> bool:
    """ValueError-style errors this project raises about user input (config, data, checkpoint, attention
    backend). A ValueError from inside torch or another library is a bug: it keeps its traceback."""
    from cosmos_predict2.checkpoint.base import CheckpointError
    from cosmos_predict2.configs.errors import ConfigError
    from cosmos_predict2.data.errors import DataError
    from cosmos_predict2.models.attention import AttentionBackendUnavailable

    if isinstance(err, (ConfigError, DataError, CheckpointError, AttentionBackendUnavailable)):
        return True
    return isinstance(err, (ValueError, FileNotFoundError)) and _raised_by_project(err)
