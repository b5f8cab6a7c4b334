"""Checkpoint -> consolidated weight files, on CPU, in one process (no process group).

Inputs (read by ``checkpoint.weights.read_state_dict``, the reading side of the one weight loader):
- a DCP ``model`` folder (``.metadata`` + ``__<rank>_0.distcp``), or its ``iter_%09d`` parent;
- a ``checkpoints`` folder holding ``latest_checkpoint.txt`` (resolved to the iteration it names);
- a standard checkpoint file ``model/iter_%09d.pt`` (or any ``.pt`` holding ``net.*`` keys).

Outputs of :func:`convert_checkpoint` (the Predict2.5 ``convert_distcp_to_pt.py`` names):
- ``model.pt``: every model tensor (``net.*`` and ``net_ema.*``, plus e.g. ``logvar.*``);
- ``model_ema_fp32.pt``: the EMA weights renamed ``net_ema.* -> net.*`` in float32 (when the checkpoint has
  no EMA, the regular ``net.*`` weights, and a warning says so);
- ``model_ema_bf16.pt``: the same in bfloat16 (recommended for inference).
With ``ema=False`` only ``net.*`` is used: ``model.pt`` (no ``net_ema.*``) and ``model_bf16.pt``.
``fmt="safetensors"`` writes the same files with a ``.safetensors`` suffix; ``fmt="diffusers"`` writes
``model.pt`` plus a diffusers ``CosmosTransformer3DModel`` folder (config from ``experiment``, or from the training
job's ``config.yaml`` found above the checkpoint) (``transformer/config.json`` +
``diffusion_pytorch_model.safetensors``) of the EMA (or regular) weights; action embedders, which diffusers
has no place for, go to ``transformer/extra_action_weights.safetensors``.
Every ``.pt`` / ``.safetensors`` output carries the action normalisation the net was trained with
(:mod:`cosmos_predict2.checkpoint.metadata`; from the training job's ``config.yaml`` above the checkpoint, or the
input file's own metadata), which the inference scripts and the evaluation apply.
``merge_lora=True`` folds LoRA / DoRA adapters (``*.lora_A/lora_B[/lora_magnitude_vector].default.weight``) into
the base weights of every output (PEFT's merge).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Mapping, Optional

import torch

from cosmos_predict2.checkpoint.metadata import METADATA_KEY, encode_metadata, read_metadata, write_metadata
from cosmos_predict2.checkpoint.weights import CheckpointError, read_state_dict

log = logging.getLogger(__name__)

__all__ = ["convert_checkpoint", "ema_state_dict", "merge_lora_state_dict"]


def _split(sd: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def merge_lora_state_dict(sd: Mapping[str, Any], alpha: Optional[float] = None) -> tuple[dict[str, Any], int]:
    """Fold LoRA / DoRA adapters of ``net.*`` and ``net_ema.*`` into their base weights (PEFT's merge).

    ``alpha=None`` uses alpha == rank of each adapter (scaling 1, the convention of every upstream LoRA
    experiment: 16/16 and 32/32). Returns (merged dict, number of merged layers).
    """
    from cosmos_predict2.models.lora import adapter_groups, merge_lora

    out = {k: v for k, v in sd.items() if not (k.startswith("net.") or k.startswith("net_ema."))}
    merged = 0
    for prefix in ("net.", "net_ema."):
        part = _split(sd, prefix)
        if not part:
            continue
        groups = adapter_groups(part)
        merged = max(merged, len(groups))
        if groups:
            if alpha is None:
                ranks = sorted({int(part[keys["lora_A"]].shape[0]) for keys in groups.values() if "lora_A" in keys})
                if len(ranks) != 1:
                    raise CheckpointError(f"LoRA adapters with several ranks {ranks}; pass --lora-alpha explicitly.")
                part = merge_lora(part, alpha=float(ranks[0]))
            else:
                part = merge_lora(part, alpha=float(alpha))
        out.update({prefix + k: v for k, v in part.items()})
    return out, merged


def ema_state_dict(sd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], bool]:
    """``net_ema.* -> net.*`` (float32); falls back to ``net.*`` when there is no EMA. Returns (dict, had_ema)."""
    ema = _split(sd, "net_ema.")
    src, had = (ema, True) if ema else (_split(sd, "net."), False)
    return {"net." + k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in src.items()}, had


def _cast(sd: Mapping[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    return {k: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in sd.items()}


def _tensors_only(sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in sd.items() if torch.is_tensor(v)}


def _save(sd: Mapping[str, Any], path: str, fmt: str, meta: Optional[Mapping[str, Any]] = None) -> str:
    """Write ``sd`` (plus ``meta``, :mod:`cosmos_predict2.checkpoint.metadata`, when given)."""
    if fmt == "safetensors":
        from safetensors.torch import save_file

        path = os.path.splitext(path)[0] + ".safetensors"
        save_file(_tensors_only(sd), path, metadata={METADATA_KEY: encode_metadata(meta)} if meta else None)
    else:
        torch.save(dict(sd), path)
        if meta:
            write_metadata(path, meta)
    return path


def checkpoint_metadata(input_path: str) -> dict[str, Any]:
    """What the converted files say about themselves: the action normalisation the net was trained with, from
    the input file's own metadata, else from the training job's ``config.yaml`` above it."""
    meta = read_metadata(input_path) if os.path.isfile(input_path) else {}
    if "action_normalization" in meta:
        return meta
    job_cfg = find_job_config(input_path)
    if job_cfg is None:
        return meta
    from omegaconf import OmegaConf

    from cosmos_predict2.configs.action_data import config_normalization

    try:
        norm = config_normalization(OmegaConf.load(job_cfg))
    except ValueError as err:
        raise CheckpointError(f"{job_cfg}: {err}") from err
    return {**meta, "action_normalization": norm.to_dict()} if norm is not None else meta


def find_job_config(checkpoint_path: str, levels: int = 4) -> Optional[str]:
    """The training job's ``config.yaml`` above a checkpoint path (``<job>/checkpoints/iter_N/model``)."""
    path = os.path.abspath(checkpoint_path)
    for _ in range(levels):
        path = os.path.dirname(path)
        cand = os.path.join(path, "config.yaml")
        if os.path.isfile(cand):
            return cand
    return None


def _net_node(experiment: Optional[str], config_file: Optional[str], checkpoint_path: str):
    """The net's LazyCall node: from ``experiment``, else from the job's config.yaml next to the checkpoint."""
    if experiment:
        from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config

        return compose_config(config_file or DEFAULT_CONFIG_FILE, [f"experiment={experiment}"]).model.config.net
    job_cfg = find_job_config(checkpoint_path)
    if job_cfg is None:
        raise CheckpointError("--format diffusers needs --experiment NAME (no training config.yaml found above "
                              f"{checkpoint_path} to read the net from).")
    from omegaconf import OmegaConf

    node = OmegaConf.select(OmegaConf.load(job_cfg), "model.config.net")
    if node is None:
        raise CheckpointError(f"{job_cfg} has no model.config.net; pass --experiment NAME.")
    from cosmos_predict2.lazy_config.instantiate import refuse_foreign_targets

    try:  # the file is data: only this project's classes are built from it
        refuse_foreign_targets(node, job_cfg, "model.config.net", "pass --experiment NAME instead")
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    return node


def export_diffusers(net_sd: Mapping[str, torch.Tensor], out_dir: str, experiment: Optional[str],
                     config_file: Optional[str] = None, checkpoint_path: str = "") -> list[str]:
    """Write ``out_dir/transformer/{config.json, diffusion_pytorch_model.safetensors}`` for ``net_sd``
    (our DiT keys without prefix). The diffusers config comes from the experiment's net (built on meta), or from
    the training job's config.yaml when no experiment is named."""
    import json

    from safetensors.torch import save_file

    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.models.diffusers_reference import diffusers_config
    from cosmos_predict2.models.key_maps import dit_state_dict_from_released, dit_state_dict_to_diffusers

    node = _net_node(experiment, config_file, checkpoint_path)
    with torch.device("meta"):
        net = instantiate(node)
    dcfg = diffusers_config(net)
    ours = dit_state_dict_from_released({"net." + k: v for k, v in net_sd.items()})
    converted, unmapped = dit_state_dict_to_diffusers(ours, strict=False)
    tdir = os.path.join(out_dir, "transformer")
    os.makedirs(tdir, exist_ok=True)
    written = []
    with open(os.path.join(tdir, "config.json"), "w") as f:
        json.dump({"_class_name": "CosmosTransformer3DModel", **{k: (list(v) if isinstance(v, tuple) else v)
                                                                 for k, v in dcfg.items()}}, f, indent=2)
    written.append(os.path.join(tdir, "config.json"))
    save_file(_tensors_only(converted), os.path.join(tdir, "diffusion_pytorch_model.safetensors"))
    written.append(os.path.join(tdir, "diffusion_pytorch_model.safetensors"))
    if unmapped:
        save_file(_tensors_only({k: ours[k] for k in unmapped}), os.path.join(tdir, "extra_action_weights.safetensors"))
        written.append(os.path.join(tdir, "extra_action_weights.safetensors"))
        log.warning("diffusers has no place for %d tensors (%s...); saved to extra_action_weights.safetensors",
                    len(unmapped), unmapped[:2])
    return written


def convert_checkpoint(
    input_path: str,
    output_dir: str,
    *,
    ema: bool = True,
    merge_lora: bool = False,
    lora_alpha: Optional[float] = None,
    fmt: str = "pt",
    experiment: Optional[str] = None,
    config_file: Optional[str] = None,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
) -> dict[str, str]:
    """Convert one checkpoint; returns ``{role: written path}``. See the module doc for the files."""
    if fmt not in ("pt", "safetensors", "diffusers"):
        raise CheckpointError(f"--format {fmt!r}: use pt, safetensors or diffusers.")
    sd = read_state_dict(input_path, progress=progress)
    if fmt == "diffusers" and not merge_lora and any(".lora_A." in k for k in sd):
        echo("--format diffusers: folding the LoRA adapters into the base weights (diffusers' transformer has no "
             "adapter slots)")
        merge_lora = True
    if merge_lora:
        sd, n = merge_lora_state_dict(sd, lora_alpha)
        echo(f"merged LoRA adapters into {n} linear layers" if n else "--merge-lora: the checkpoint has no LoRA "
             "adapters; nothing merged")
    elif any(".lora_A." in k for k in sd):
        echo("note: the checkpoint holds LoRA adapters; pass --merge-lora to fold them into the base weights")
    meta = checkpoint_metadata(input_path)
    if "action_normalization" in meta:
        from cosmos_predict2.data.action_norm import ActionNormalization

        echo("action normalisation stored in the outputs: "
             + ActionNormalization.from_dict(meta["action_normalization"]).describe())
    os.makedirs(output_dir, exist_ok=True)
    written: dict[str, str] = {}
    if not ema:
        sd = {k: v for k, v in sd.items() if not k.startswith("net_ema.")}
    written["model"] = _save(sd, os.path.join(output_dir, "model.pt"), "safetensors" if fmt == "safetensors" else "pt",
                             meta)
    if ema:
        ema_sd, had = ema_state_dict(sd)
        if not had:
            echo("no EMA weights (net_ema.*) in the checkpoint: model_ema_*.pt hold the regular net.* weights")
        name = "model_ema"
    else:
        ema_sd, had = {k: v for k, v in sd.items() if k.startswith("net.")}, False
        name = "model"
    if fmt == "diffusers":
        for path in export_diffusers(_split(ema_sd, "net."), output_dir, experiment, config_file, input_path):
            written[os.path.relpath(path, output_dir)] = path
        return written
    file_fmt = "safetensors" if fmt == "safetensors" else "pt"
    if ema:
        written["ema_fp32"] = _save(ema_sd, os.path.join(output_dir, f"{name}_fp32.pt"), file_fmt, meta)
    written["bf16"] = _save(_cast(ema_sd, torch.bfloat16), os.path.join(output_dir, f"{name}_bf16.pt"), file_fmt,
                            meta)
    return written


def iter_outputs(written: Mapping[str, str]) -> Iterable[str]:
    for path in written.values():
        yield f"{path} ({os.path.getsize(path) / 2**20:.1f} MiB)"
