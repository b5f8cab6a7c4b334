"""Build an experiment's world model for inference and load converted weights into it.

``build_inference_model(experiment, checkpoint, load_ema=...)``:
1. composes the experiment config (or, without an experiment name, reads the training job's ``config.yaml``
   found above the checkpoint) with the EMA copy off, ``dit_path`` cleared: the checkpoint given here is the
   only source of DiT weights; tokenizer weights come from the local paths in the config, or
   ``tokenizer_path``);
2. instantiates ``Video2WorldModel``;
3. builds the net on the meta device, allocates it on the target device in the model's precision and loads
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

log = logging.getLogger(__name__)

__all__ = ["InferenceSetupError", "compose_inference_config", "build_inference_model", "pick_device",
           "empty_text_embeddings"]


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
    from cosmos_predict2.configs.errors import ConfigError

    opts = [f"experiment={experiment}", "model.config.ema.enabled=false",
            "model.config.model_manager_config.dit_path=''", "model.config.train_architecture=base"]
    if tokenizer_path:
        opts.append(f"model.config.tokenizer.vae_pth={tokenizer_path}")
    try:
        return compose_config(config_file or DEFAULT_CONFIG_FILE, opts + list(overrides))
    except ConfigError as err:
        raise InferenceSetupError(f"--experiment {experiment!r}: {err}") from err


def job_config_for(checkpoint: Optional[str]):
    """The training job's config (``<job>/config.yaml`` above the checkpoint) with the inference changes, or None."""
    if not checkpoint:
        return None
    from omegaconf import OmegaConf

    from cosmos_predict2.checkpoint.convert import find_job_config

    path = find_job_config(checkpoint)
    if path is None:
        return None
    cfg = OmegaConf.load(path)
    if OmegaConf.select(cfg, "model.config.net") is None:
        return None
    mc = cfg.model.config
    if "ema" in mc and mc.ema is not None:
        mc.ema.enabled = False
    if "model_manager_config" in mc and mc.model_manager_config is not None:
        mc.model_manager_config.dit_path = ""
    mc.train_architecture = "base"
    log.info("experiment config taken from the training job: %s", path)
    return cfg


def _check_local_files(config: Any) -> None:
    """Fail before building a multi-GB net when the tokenizer weights are not on disk."""
    from cosmos_predict2.trainer.preflight import tokenizer_findings

    for finding in tokenizer_findings(config):
        raise InferenceSetupError(f"tokenizer weights {finding.path} not found; download them ({finding.fix}) or "
                                  "pass --tokenizer_path / --tokenizer-path to a local Wan2.1 VAE .pth")


def build_inference_model(experiment: Optional[str], checkpoint: Optional[str], *, config_file: Optional[str] = None,
                          overrides: Sequence[str] = (), load_ema: bool = False, device: Optional[str] = None,
                          tokenizer_path: Optional[str] = None, allow_random: bool = False,
                          preflight: Optional[Callable[[Any], None]] = None):
    """(model in eval mode on ``device``, config). ``checkpoint=None`` needs ``allow_random`` (tests, smoke runs).
    ``experiment=None`` takes the config of the training job the checkpoint lives in (``<job>/config.yaml``)."""
    from cosmos_predict2.checkpoint.weights import load_weights, match_weights
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.parallel.materialize import init_parameters_
    from cosmos_predict2.utils.hardware import cpu_has_native_bf16

    if not checkpoint and not allow_random:
        raise InferenceSetupError("no checkpoint given: pass --checkpoint-path / --dit_path (a converted model*.pt, "
                                  "a DCP iteration folder or a standard model/iter_N.pt).")
    if checkpoint and not os.path.exists(checkpoint):
        raise InferenceSetupError(f"checkpoint {checkpoint!r} does not exist; convert a training checkpoint with "
                                  "scripts/convert_distcp_to_pt.py or download one with scripts/download_checkpoints.py.")
    config = None if experiment else job_config_for(checkpoint)
    if config is None:
        if not experiment:
            raise InferenceSetupError("no --experiment given and no training config.yaml found above the checkpoint; "
                                      "pass --experiment NAME")
        config = compose_inference_config(experiment, config_file, overrides, tokenizer_path)
    elif tokenizer_path:
        config.model.config.tokenizer.vae_pth = tokenizer_path
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


def model_frames(model: Any, config: Any) -> int:
    """Pixel frames per generated clip (``num_video_frames``)."""
    return int(config.model.config.num_video_frames)


def empty_text_embeddings(model: Any, batch_size: int, device: torch.device, num_tokens: int = 512) -> torch.Tensor:
    """Zero text embeddings of the model's width: what action-conditioned models are trained with."""
    n = 1 if getattr(model, "text_encoder_kind", "t5") == "none" else num_tokens
    return torch.zeros(batch_size, n, int(getattr(model, "text_embed_dim", 1024)), device=device)
