"""Key map between our Wan2.1 VAE state dict (= released ``Wan2.1_VAE.pth`` layout) and diffusers'
``AutoencoderKLWan``. Used by the parity tests, by loading diffusers-format VAE weights, and for export.

Source of the correspondence: huggingface/diffusers ``scripts/convert_wan_to_diffusers.py``
(``convert_vae``: middle.{0,1,2} -> mid_block.{resnets.0, attentions.0, resnets.1}; head.{0,2} ->
norm_out / conv_out; conv1/conv2 -> quant_conv / post_quant_conv; residual.{0,2,3,6} -> norm1, conv1, norm2,
conv2; shortcut -> conv_shortcut; encoder.downsamples.N -> encoder.down_blocks.N; decoder.upsamples are
grouped per level into up_blocks.L.resnets.j and up_blocks.L.upsamplers.0). The script hard-codes the
decoder grouping for num_res_blocks=2; here it is computed from ``num_res_blocks`` so tiny configs map too.
Assumes no attention outside the middle blocks (Wan2.1: ``attn_scales=[]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch

_RESBLOCK_TO_DIFFUSERS = {"residual.0.": "norm1.", "residual.2.": "conv1.", "residual.3.": "norm2.",
                          "residual.6.": "conv2.", "shortcut.": "conv_shortcut."}  # fmt: skip
_RESBLOCK_FROM_DIFFUSERS = {v: k for k, v in _RESBLOCK_TO_DIFFUSERS.items()}
_MIDDLE_TO_DIFFUSERS = {"0": "resnets.0", "1": "attentions.0", "2": "resnets.1"}
_MIDDLE_FROM_DIFFUSERS = {v: k for k, v in _MIDDLE_TO_DIFFUSERS.items()}
_TOP_TO_DIFFUSERS = {"conv1.": "quant_conv.", "conv2.": "post_quant_conv.", "encoder.conv1.": "encoder.conv_in.",
                     "decoder.conv1.": "decoder.conv_in.", "encoder.head.0.": "encoder.norm_out.",
                     "encoder.head.2.": "encoder.conv_out.", "decoder.head.0.": "decoder.norm_out.",
                     "decoder.head.2.": "decoder.conv_out."}  # fmt: skip
_TOP_FROM_DIFFUSERS = {v: k for k, v in _TOP_TO_DIFFUSERS.items()}


def _rename_prefix(rest: str, table: Mapping[str, str]) -> str:
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old) :]
    return rest


def wan_key_to_diffusers(key: str, num_res_blocks: int = 2) -> str:
    """One original-layout key -> diffusers ``AutoencoderKLWan`` key."""
    for old, new in _TOP_TO_DIFFUSERS.items():
        if key.startswith(old):
            return new + key[len(old) :]
    if m := re.fullmatch(r"(encoder|decoder)\.middle\.(\d)\.(.+)", key):
        return f"{m[1]}.mid_block.{_MIDDLE_TO_DIFFUSERS[m[2]]}.{_rename_prefix(m[3], _RESBLOCK_TO_DIFFUSERS)}"
    if m := re.fullmatch(r"encoder\.downsamples\.(\d+)\.(.+)", key):
        return f"encoder.down_blocks.{m[1]}.{_rename_prefix(m[2], _RESBLOCK_TO_DIFFUSERS)}"
    if m := re.fullmatch(r"decoder\.upsamples\.(\d+)\.(.+)", key):
        group = num_res_blocks + 2  # resnets + one upsampler per level (the last level has none)
        level, j = divmod(int(m[1]), group)
        if j == num_res_blocks + 1:
            return f"decoder.up_blocks.{level}.upsamplers.0.{m[2]}"
        return f"decoder.up_blocks.{level}.resnets.{j}.{_rename_prefix(m[2], _RESBLOCK_TO_DIFFUSERS)}"
    raise KeyError(f"unknown Wan2.1 VAE key {key!r}")


def diffusers_key_to_wan(key: str, num_res_blocks: int = 2) -> str:
    """One diffusers ``AutoencoderKLWan`` key -> original-layout key (inverse of ``wan_key_to_diffusers``)."""
    for old, new in _TOP_FROM_DIFFUSERS.items():
        if key.startswith(old):
            return new + key[len(old) :]
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.(resnets\.\d|attentions\.0)\.(.+)", key):
        return f"{m[1]}.middle.{_MIDDLE_FROM_DIFFUSERS[m[2]]}.{_rename_prefix(m[3], _RESBLOCK_FROM_DIFFUSERS)}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.(.+)", key):
        return f"encoder.downsamples.{m[1]}.{_rename_prefix(m[2], _RESBLOCK_FROM_DIFFUSERS)}"
    group = num_res_blocks + 2
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", key):
        return f"decoder.upsamples.{int(m[1]) * group + num_res_blocks + 1}.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        index = int(m[1]) * group + int(m[2])
        return f"decoder.upsamples.{index}.{_rename_prefix(m[3], _RESBLOCK_FROM_DIFFUSERS)}"
    raise KeyError(f"unknown diffusers AutoencoderKLWan key {key!r}")


def _infer_num_res_blocks(keys: Sequence[str], diffusers_layout: bool) -> int:
    """Encoder level 0 holds num_res_blocks residual blocks, then a Resample (which has ``resample.1``)."""
    prefix = "encoder.down_blocks." if diffusers_layout else "encoder.downsamples."
    for key in sorted(keys, key=lambda k: (len(k), k)):
        if key.startswith(prefix) and ".resample.1." in key:
            return int(key[len(prefix) :].split(".")[0])
    raise ValueError("cannot infer num_res_blocks: no encoder resample block found; pass num_res_blocks=")


def wan_to_diffusers_state_dict(state: Mapping[str, torch.Tensor], num_res_blocks: int | None = None) -> dict:
    """Original-layout state dict -> diffusers ``AutoencoderKLWan`` state dict (tensors shared, not copied)."""
    n = _infer_num_res_blocks(list(state), diffusers_layout=False) if num_res_blocks is None else num_res_blocks
    return {wan_key_to_diffusers(k, n): v for k, v in state.items()}


def diffusers_to_wan_state_dict(state: Mapping[str, torch.Tensor], num_res_blocks: int | None = None) -> dict:
    """Diffusers ``AutoencoderKLWan`` state dict -> original-layout state dict (tensors shared)."""
    n = _infer_num_res_blocks(list(state), diffusers_layout=True) if num_res_blocks is None else num_res_blocks
    return {diffusers_key_to_wan(k, n): v for k, v in state.items()}


def diffusers_vae_config(
    base_dim: int = 96,
    z_dim: int = 16,
    dim_mult: Sequence[int] = (1, 2, 4, 4),
    num_res_blocks: int = 2,
    temperal_downsample: Sequence[bool] = (False, True, True),
    latents_mean: Sequence[float] | None = None,
    latents_std: Sequence[float] | None = None,
) -> dict:
    """Keyword arguments for ``diffusers.AutoencoderKLWan`` describing the same network."""
    from cosmos_predict2.tokenizers.wan2pt1 import WAN2PT1_LATENT_MEAN, WAN2PT1_LATENT_STD

    if latents_mean is None:
        latents_mean = WAN2PT1_LATENT_MEAN if z_dim == 16 else [0.0] * z_dim
    if latents_std is None:
        latents_std = WAN2PT1_LATENT_STD if z_dim == 16 else [1.0] * z_dim
    return dict(base_dim=base_dim, z_dim=z_dim, dim_mult=list(dim_mult), num_res_blocks=num_res_blocks,
                attn_scales=[], temperal_downsample=list(temperal_downsample),
                latents_mean=list(latents_mean), latents_std=list(latents_std))  # fmt: skip


def to_diffusers_autoencoder(
    vae, latents_mean: Sequence[float] | None = None, latents_std: Sequence[float] | None = None
):
    """A diffusers ``AutoencoderKLWan`` holding a copy of ``vae``'s (a ``WanVAE``) weights (needs diffusers)."""
    from diffusers import AutoencoderKLWan

    model = AutoencoderKLWan(**diffusers_vae_config(**vae.config, latents_mean=latents_mean, latents_std=latents_std))
    state = wan_to_diffusers_state_dict(vae.state_dict(), vae.config["num_res_blocks"])
    model.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=True)
    dtype = next(vae.parameters()).dtype
    return (model if dtype == torch.float32 else model.to(dtype)).eval()
