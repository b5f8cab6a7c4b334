"""Build an experiment's world model for inference and load converted weights into it.

``build_inference_model(experiment, checkpoint, load_ema=...)``:
1. the config: a training job's ``config.yaml`` given as ``config_file`` (``--config_file <job>/config.yaml``),
   else the experiment composed from its Python config file, else (no experiment name) the training job's
   ``config.yaml`` found next to or above the checkpoint, else ``default_experiment``; always with the EMA copy
   off and ``dit_path`` cleared: the checkpoint given here is the only source of DiT weights; tokenizer weights
   come from the local paths in the config, or ``tokenizer_path``;
2. checks that the checkpoint fits the config's net (built on the meta device, file metadata only): a file of
   another experiment is a one-line error naming a mismatching key and the fix, before anything is built or
   any tokenizer file is looked for;
3. instantiates ``Video2WorldModel``;
4. builds the net on the meta device, allocates it on the target device in the model's precision and loads
   ``net.*`` (or ``net_ema.*`` with ``load_ema``) through the one weight loader (``checkpoint/weights.py``:
   ``.pt``/``.safetensors`` files, DCP folders, standard checkpoints; LoRA adapters in the file are folded in);
   a file that does not fit the net (missing / unexpected learned weights, other shapes) is an error.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any, Callable, Optional, Sequence

import torch
from omegaconf import DictConfig

from cosmos_predict2.lazy_config.nodes import node_get

log = logging.getLogger(__name__)

__all__ = ["InferenceSetupError", "compose_inference_config", "build_inference_model", "pick_device",
           "empty_text_embeddings", "is_job_config_file", "load_job_config", "job_config_for"]

MISMATCH_FIX = ("pass the experiment the file was trained with (--experiment NAME) or its training job's config "
                "(--config_file <job>/config.yaml)")


class InferenceSetupError(ValueError):
    """A user-fixable problem found before any sampling starts (one line: what, where, how to fix)."""


def pick_device(device: Optional[str] = None) -> torch.device:
    if device:
        return torch.device(device)
    if torch.cuda.is_available():  # under torchrun every rank takes its own GPU
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


def compose_inference_config(experiment: str, config_file: Optional[str] = None,
                             overrides: Sequence[str] = (), tokenizer_path: Optional[str] = None):
    """The experiment's Config with inference-time changes (no EMA copy, no base-weight loading)."""
    from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config
    from cosmos_predict2.lazy_config.errors import ConfigError

    opts = [f"experiment={experiment}", "model.config.ema.enabled=false",
            "model.config.model_manager_config.dit_path=''", "model.config.train_architecture=base"]
    if tokenizer_path:
        opts.append(f"model.config.tokenizer.vae_pth={tokenizer_path}")
    try:
        return compose_config(config_file or DEFAULT_CONFIG_FILE, opts + list(overrides))
    except ConfigError as err:
        raise InferenceSetupError(f"--experiment {experiment!r}: {err}") from err


def is_job_config_file(config_file: Optional[str]) -> bool:
    """A training job's resolved ``config.yaml`` (not a Python config module)."""
    return bool(config_file) and str(config_file).endswith((".yaml", ".yml"))


def load_job_config(path: str, required: bool = True):
    """A training job's ``config.yaml`` (what the trainer writes into ``<job>/``) with the inference changes.
    ``required=False``: None when the file has no ``model.config.net`` (instead of an error)."""
    from omegaconf import OmegaConf

    from cosmos_predict2.lazy_config.instantiate import refuse_foreign_targets

    if not os.path.isfile(path):
        raise InferenceSetupError(f"--config_file {path} does not exist; pass the config.yaml the trainer wrote into "
                                  "the job folder (<job>/config.yaml, next to <job>/checkpoints/)")
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # noqa: BLE001 - YAML errors come in several classes
        raise InferenceSetupError(f"training config {path} is not readable YAML ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else ''})") from err
    if OmegaConf.select(cfg, "model.config.net") is None:
        if not required:
            return None
        raise InferenceSetupError(f"--config_file {path} has no model.config.net: it is not a training job's "
                                  "config.yaml; pass <job>/config.yaml or --experiment NAME")
    try:  # a config.yaml is data: it may name only this project's classes (nothing else is imported or called)
        refuse_foreign_targets(cfg.model, path, "model", "pass --experiment NAME instead of this config")
    except ValueError as err:
        raise InferenceSetupError(str(err)) from None
    mc = cfg.model.config
    if "ema" in mc and mc.ema is not None:
        mc.ema.enabled = False
    if "model_manager_config" in mc and mc.model_manager_config is not None:
        mc.model_manager_config.dit_path = ""
    mc.train_architecture = "base"
    log.info("experiment config taken from the training job: %s", path)
    return cfg


def job_config_for(checkpoint: Optional[str]):
    """The training job's config (``<job>/config.yaml`` next to or above the checkpoint) with the inference
    changes, or None."""
    if not checkpoint:
        return None
    from cosmos_predict2.conversion.convert import find_job_config

    path = find_job_config(checkpoint)
    return None if path is None else load_job_config(path, required=False)


def _config_name(config: Any) -> str:
    try:
        return f"experiment {config.job.name}"
    except Exception:  # noqa: BLE001 - a config without job.name
        return "the experiment"


def check_checkpoint_fits(config: Any, checkpoint: str, load_ema: bool = False, source: str = "") -> None:
    """The net of ``config`` built on the meta device (no memory) against the checkpoint's metadata; a file that
    does not fit is one :class:`InferenceSetupError` line: the file, the mismatching keys / shapes and the fix."""
    from cosmos_predict2.checkpoint.weights import CheckpointError, match_net_node

    try:
        match_net_node(config.model.config.net, checkpoint, prefer_ema=load_ema, what="--checkpoint-path / --dit_path")
    except CheckpointError as err:
        info = getattr(err, "mismatch", None)
        if info is None:  # not a mismatch (unreadable file, no net.* keys): its own message says it all
            raise
        parts = []
        if info["shapes"]:
            parts.append(f"{len(info['shapes'])} shapes differ, e.g. {info['shapes'][0]}")
        if info["missing"]:
            parts.append(f"{len(info['missing'])} weights of the net are not in the file, e.g. {info['missing'][0]}")
        if info["unexpected"]:
            parts.append(f"{len(info['unexpected'])} weights of the file are not in the net, e.g. "
                         f"{info['unexpected'][0]}")
        raise InferenceSetupError(f"{info['path']} does not fit the net of {source or _config_name(config)}: "
                                  f"{'; '.join(parts)}; {MISMATCH_FIX}") from err


def _missing_checkpoint_fix(checkpoint: str) -> str:
    """The fix for a checkpoint path that does not exist. A job name written with ``${now:...}`` (a guide's line
    quotes the template; the shell expands it to nothing) points at the job folders that do exist; so does a job folder
    name that differs from the experiment's (``.../<job>/checkpoints/...``) when another job holds the same file."""
    parts = os.path.normpath(checkpoint).split(os.sep)
    for i, part in enumerate(parts):
        stem = part.split("${now:")[0] if "${now:" in part else (part.rstrip("_") if part.endswith("__") else None)
        parent = os.sep.join(parts[:i]) or "."
        if stem and os.path.isdir(parent):
            found = sorted(n for n in os.listdir(parent) if n.startswith(stem) and n != part)
            if found:
                return (f"the job folder name is a ${{now:...}} template; the runs that exist: "
                        f"{', '.join(os.path.join(parent, n) for n in found[-3:])} (put the real folder in the path)")
    if "checkpoints" in parts:  # <job>/checkpoints/...: a job folder of another name may hold the same file
        i = len(parts) - 1 - parts[::-1].index("checkpoints")
        group, tail = os.sep.join(parts[:i - 1]) or ".", os.sep.join(parts[i:])
        if i >= 1 and os.path.isdir(group):
            jobs = sorted(n for n in os.listdir(group) if os.path.exists(os.path.join(group, n, tail)))
            if jobs:
                return (f"no job folder {parts[i - 1]!r}; the same file exists in "
                        f"{', '.join(os.path.join(group, n, tail) for n in jobs[:3])}")
    return ("convert a training checkpoint with scripts/convert_distcp_to_pt.py or download one with "
            "scripts/download_checkpoints.py.")


def _check_local_files(config: Any) -> None:
    """Fail before building a multi-GB net when the tokenizer weights are not on disk."""
    from cosmos_predict2.configs.preflight import tokenizer_findings

    for finding in tokenizer_findings(config):
        raise InferenceSetupError(f"tokenizer weights {finding.path} not found; download them ({finding.fix}) or "
                                  "pass --tokenizer_path / --tokenizer-path to a local Wan2.1 VAE .pth")


def resolve_inference_config(experiment: Optional[str], checkpoint: Optional[str], config_file: Optional[str] = None,
                             overrides: Sequence[str] = (), tokenizer_path: Optional[str] = None,
                             default_experiment: Optional[str] = None) -> tuple[Any, str]:
    """``(config, where it comes from)``; the order is in the module docstring."""
    if is_job_config_file(config_file):
        config = load_job_config(str(config_file))
        if experiment:
            log.info("--experiment %s is ignored: the config is the training job's %s", experiment, config_file)
        if overrides:
            raise InferenceSetupError(f"overrides {list(overrides)} cannot be applied to a job config.yaml; pass "
                                      "--experiment NAME instead")
        source = f"the job config {config_file}"
    else:
        config = None if experiment else job_config_for(checkpoint)
        source = "the training job's config.yaml above the checkpoint"
        if config is None:
            experiment = experiment or default_experiment
            if not experiment:
                raise InferenceSetupError("no --experiment given and no training config.yaml found above the "
                                          "checkpoint; pass --experiment NAME or --config_file <job>/config.yaml")
            return compose_inference_config(experiment, config_file, overrides, tokenizer_path), \
                f"experiment {experiment}"
    if tokenizer_path:
        config.model.config.tokenizer.vae_pth = tokenizer_path
    return config, source


def apply_checkpoint_normalization(config: Any, checkpoint: Optional[str]) -> None:
    """Make the config's action normalisation the checkpoint's (:mod:`cosmos_predict2.checkpoint.metadata`), so
    inference and evaluation normalise actions as training did. LeRobot data: the checkpoint's record replaces the
    config's (a difference is logged); neither having one is an error. Bridge data: the dataset computes its
    scaled actions itself, so a checkpoint trained with another scaling, width or data format is an error. A
    checkpoint whose action width differs from the net's is an error. Everything here happens before the net is
    built."""
    from cosmos_predict2.checkpoint.metadata import read_metadata
    from cosmos_predict2.configs.action_data import (config_normalization, is_lerobot_node, net_action_dim,
                                                      training_dataset_node)
    from cosmos_predict2.data.action_norm import ActionNormalization

    node = training_dataset_node(config)
    record = read_metadata(checkpoint).get("action_normalization") if checkpoint else None
    try:
        ckpt = ActionNormalization.from_dict(record, f"{checkpoint}: action_normalization") if record else None
        ours = config_normalization(config)
    except ValueError as err:
        raise InferenceSetupError(str(err)) from None
    width = net_action_dim(config)
    if ckpt is not None and width is not None and ckpt.dim != width:
        raise InferenceSetupError(f"{checkpoint} was trained on {ckpt.dim}-d actions but the experiment's net takes "
                                  f"{width}-d actions (model.config.net.action_dim); {MISMATCH_FIX}")
    if node is None or not is_lerobot_node(node):
        if ckpt is not None and ours is not None and not ckpt.same_mapping(ours):
            raise InferenceSetupError(
                f"{checkpoint} was trained with action normalisation {ckpt.describe()} "
                f"({ckpt.source.get('format', '?')} data) but the experiment's dataset uses {ours.describe()}; "
                f"{MISMATCH_FIX}")
        return
    if ckpt is None and ours is None:
        raise InferenceSetupError(
            f"neither {checkpoint or 'the checkpoint'} nor the experiment's config carries the action normalisation "
            "its LeRobot data was trained with; pass a checkpoint converted by scripts/convert_distcp_to_pt.py or "
            "the training job's config.yaml (--config_file <job>/config.yaml)")
    if ckpt is not None:
        if ours is not None and not ckpt.same_mapping(ours):
            log.warning("the checkpoint's action normalisation (%s) differs from the config's (%s): using the "
                        "checkpoint's", ckpt.describe(), ours.describe())
        from omegaconf import OmegaConf

        for loader in ("dataloader_train", "dataloader_val"):
            ds = node_get(getattr(config, loader, None), "dataset")
            if ds is not None and is_lerobot_node(ds):
                if isinstance(ds, DictConfig) and OmegaConf.is_readonly(ds):
                    OmegaConf.set_readonly(ds, False)
                ds["action_normalization"] = ckpt.to_dict()


def build_inference_model(experiment: Optional[str], checkpoint: Optional[str], *, config_file: Optional[str] = None,
                          overrides: Sequence[str] = (), load_ema: bool = False, device: Optional[str] = None,
                          tokenizer_path: Optional[str] = None, allow_random: bool = False,
                          preflight: Optional[Callable[[Any], None]] = None,
                          default_experiment: Optional[str] = None):
    """(model in eval mode on ``device``, config). ``checkpoint=None`` needs ``allow_random`` (tests, smoke runs).
    ``experiment=None`` takes the config of the training job the checkpoint lives in (``<job>/config.yaml``), else
    ``default_experiment``; a ``.yaml`` ``config_file`` is a training job's config and wins over both."""
    from cosmos_predict2.checkpoint.weights import load_weights, match_weights
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.parallel.materialize import init_parameters_
    from cosmos_predict2.utils.hardware import cpu_has_native_bf16

    if not checkpoint and not allow_random:
        raise InferenceSetupError("no checkpoint given: pass --checkpoint-path / --dit_path (a converted model*.pt, "
                                  "a DCP iteration folder or a standard model/iter_N.pt).")
    if checkpoint and not os.path.exists(checkpoint):
        raise InferenceSetupError(f"checkpoint {checkpoint!r} does not exist; {_missing_checkpoint_fix(checkpoint)}")
    config, source = resolve_inference_config(experiment, checkpoint, config_file, overrides, tokenizer_path,
                                              default_experiment)
    if checkpoint:  # the wrong experiment for this file is the first thing to say (before its tokenizer files)
        check_checkpoint_fits(config, checkpoint, load_ema, source)
    apply_checkpoint_normalization(config, checkpoint)
    _check_local_files(config)
    if preflight is not None:  # caller's cheap checks on the resolved config, before the net is built
        preflight(config)
    dev = pick_device(device)
    model = instantiate(config.model, init_device="meta")  # the net allocates nothing yet
    match = None
    if checkpoint:  # reads metadata only: a file of another experiment fails before any allocation
        match = match_weights(model, checkpoint, prefer_ema=load_ema, what="--checkpoint-path / --dit_path")
    template = copy.deepcopy(model.net) if match is None else None
    dtype = model.precision_dtype
    if dev.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16():
        log.debug("this CPU has no native bfloat16: the net runs in float32")
        dtype = torch.float32
    model.net.to(dtype)
    model.net.to_empty(device=dev)  # allocated once, in the model's precision, on the target device
    if match is not None:
        log.debug(load_weights(model, match).summary())
    else:
        init_parameters_(model.net, template, seed=0, device=dev)
    model = model.to(dev).eval()
    tok = model.tokenizer
    if not isinstance(tok, torch.nn.Module) and hasattr(tok, "to"):  # plain-object tokenizers move themselves
        tok.to(dev)
    return model, config


def empty_text_embeddings(model: Any, batch_size: int, device: torch.device, num_tokens: int = 512) -> torch.Tensor:
    """Zero text embeddings of the model's width (``model.config.text_encoder``): what action-conditioned models
    are trained with."""
    text = model.config.text_encoder
    return torch.zeros(batch_size, 1 if text.kind == "none" else num_tokens, text.embed_dim, device=device)
