"""Initialise a model's nets from released weights before parallelisation.

Sources (``checkpoint.load_path`` or ``model.config.model_manager_config.dit_path``):

- a ``.pt`` file with ``net.*`` keys (released Predict2 checkpoints; also ``net_ema.*``, and bare keys
  without prefix are accepted as the net's); ``load_ema_to_reg`` takes ``net_ema.*`` as the net;
- a DCP folder: a ``model`` folder (``.metadata``) or a checkpoint ``iter_*`` folder that holds one.

The net gets the weights; the EMA net gets ``net_ema.*`` when present, else the same weights as the net.
Missing and unexpected keys are reported exactly (a shape mismatch is an error naming the key).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import DefaultLoadPlanner

from cosmos_predict2.checkpoint.base import CheckpointError
from cosmos_predict2.checkpoint.dcp import dcp_keys, is_dcp_dir

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    source: str
    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)

    def summary(self) -> str:
        lora = [k for k in self.missing if ".lora_A." in k or ".lora_B." in k]
        missing = [k for k in self.missing if k not in lora]
        text = (f"initialised from {self.source}: {len(self.loaded)} tensors loaded; missing {len(missing)}"
                f"{': ' + ', '.join(missing) if missing else ''}; unexpected {len(self.unexpected)}"
                f"{': ' + ', '.join(self.unexpected) if self.unexpected else ''}")
        if lora:
            text += f"; {len(lora)} LoRA adapter tensors are new (not in the checkpoint)"
        return text


def resolve_dcp_model_dir(path: str) -> str | None:
    for candidate in (path, os.path.join(path, "model")):
        if is_dcp_dir(candidate):
            return candidate
    return None


def _read_source(path: str, template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors of the checkpoint with full key names (only keys the template asks for, for DCP)."""
    if os.path.isfile(path):
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
            sd = sd["model"]
        if not any(k.startswith(("net.", "net_ema.")) for k in sd):
            sd = {f"net.{k}": v for k, v in sd.items()}  # bare net state dict
        return dict(sd)
    model_dir = resolve_dcp_model_dir(path)
    if model_dir is None:
        raise CheckpointError(f"cannot initialise weights from {path!r}: not a .pt file or a DCP folder "
                              f"(expected a file, or a folder with .metadata or model/.metadata)")
    stored = set(dcp_keys(model_dir))
    want = {k: torch.empty_like(v) for k, v in template.items() if k in stored}
    dcp.load(want, checkpoint_id=model_dir, planner=DefaultLoadPlanner(allow_partial_load=True))
    # keys present in the folder but not requested are still "unexpected" for the report
    for k in stored - set(want):
        want.setdefault(k, None)
    return want


def init_model_weights(model: nn.Module, path: str, load_ema_to_reg: bool = False) -> LoadReport:
    """Load ``path`` into ``model.net`` (and ``model.net_ema``), unsharded, in place."""
    if not os.path.exists(path):
        raise CheckpointError(f"weights file {path!r} does not exist; download it (see README) or fix "
                              f"checkpoint.load_path / model.config.model_manager_config.dit_path")
    net = model.net
    ema = getattr(model, "net_ema", None)
    template = {f"net.{k}": v for k, v in net.state_dict().items()}
    if ema is not None:
        template.update({f"net_ema.{k}": v for k, v in ema.state_dict().items()})
    source = _read_source(path, template)
    src_net_prefix = "net_ema." if load_ema_to_reg and any(k.startswith("net_ema.") for k in source) else "net."
    report = LoadReport(source=path)
    net_keys = set(net.state_dict())
    used = set()

    def load_into(module: nn.Module, prefix: str, tag: str) -> None:
        own = module.state_dict()
        sd = {}
        for key, ref in own.items():
            value = source.get(prefix + key)
            if value is None:
                if tag == "net":
                    report.missing.append(f"net.{key}")
                continue
            if tuple(value.shape) != tuple(ref.shape):
                raise CheckpointError(f"{path}: {prefix + key} has shape {tuple(value.shape)} but the model expects "
                                      f"{tuple(ref.shape)}; the checkpoint is for a different net size")
            sd[key] = value
            used.add(prefix + key)
            report.loaded.append(f"{tag}.{key}")
        module.load_state_dict(sd, strict=False)

    load_into(net, src_net_prefix, "net")
    if ema is not None:
        has_ema = any(k.startswith("net_ema.") for k in source) and not load_ema_to_reg
        load_into(ema, "net_ema." if has_ema else src_net_prefix, "net_ema")
    report.unexpected = sorted(k for k in source if k not in used and not (
        k.startswith("net_ema.") and k[len("net_ema."):] in net_keys))
    log.info(report.summary())
    return report
