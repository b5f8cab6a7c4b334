"""diffusers `CosmosTransformer3DModel` as an independent reference / export target for our DiT.

Used by the parity tests and scripts/benchmark_dit.py; diffusers is imported only inside the functions.

Differences handled here (all documented for the export to diffusers format):
- diffusers' `in_channels` counts the condition-mask channel: ours `in_channels=16` -> diffusers 17.
- `rope_scale` is ordered (t, h, w): ours (rope_t, rope_h, rope_w)_extrapolation_ratio.
- diffusers builds the q/k RMSNorms with eps=1e-5; the released model (TE RMSNorm) and ours use 1e-6, so
  `build_reference` sets eps=1e-6 on them.
- Timesteps: diffusers takes the same values as ours (no scaling inside the transformer; its Cosmos2
  pipeline passes t = sigma / (sigma + 1)); per-frame timesteps go in as (B, 1, T, 1, 1) instead of (B, T).
  Our P2.5 `timestep_scale` has no diffusers field: pass `t * timestep_scale` to diffusers.
- fps must be None for diffusers (fps modulation of RoPE is off in the released configs).
- diffusers concatenates `padding_mask.repeat(B, ...)`, so it must be given as (1, 1, H, W).
- diffusers needs torchvision only to resize the padding mask; without torchvision, `patch_torchvision_resize`
  installs a nearest-neighbour `F.interpolate` stand-in (same result as torchvision NEAREST on tensors).
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F

from cosmos_predict2.models.key_maps import dit_state_dict_to_diffusers


def patch_torchvision_resize() -> Any:
    """Import diffusers' Cosmos transformer module, giving it a tensor resize if torchvision is missing."""
    import diffusers.models.transformers.transformer_cosmos as tc

    if not hasattr(tc, "transforms"):
        resize = lambda img, size, interpolation=None: F.interpolate(img, size=size, mode="nearest")  # noqa: E731
        tc.transforms = types.SimpleNamespace(
            InterpolationMode=types.SimpleNamespace(NEAREST="nearest"),
            functional=types.SimpleNamespace(resize=resize),
        )
    return tc


def diffusers_config(net: torch.nn.Module) -> dict[str, Any]:
    """CosmosTransformer3DModel kwargs equivalent to our MiniTrainDIT `net`."""
    if not net.use_adaln_lora:
        raise ValueError("diffusers' CosmosTransformer3DModel always uses AdaLN-LoRA; build the net with use_adaln_lora=True")
    cfg = dict(
        # diffusers' hidden_states = x (++ the last conditioning frame for concat_condition_frame nets, which the
        # caller concatenates as MiniTrainDIT._last_condition_frame does); it appends the condition mask itself
        in_channels=net.in_channels * (1 + int(net.concat_condition_frame)) + int(net.use_condition_mask),
        out_channels=net.out_channels,
        num_attention_heads=net.num_heads,
        attention_head_dim=net.head_dim,
        num_layers=net.num_blocks,
        mlp_ratio=net.blocks[0].mlp.layer1.out_features / net.model_channels if net.num_blocks else 4.0,
        text_embed_dim=net.crossattn_emb_channels,
        adaln_lora_dim=net.adaln_lora_dim,
        max_size=(net.max_frames, net.max_img_h, net.max_img_w),
        patch_size=(net.patch_temporal, net.patch_spatial, net.patch_spatial),
        rope_scale=tuple(float(r) for r in net.rope_ratios_thw),
        concat_padding_mask=net.concat_padding_mask,
        extra_pos_embed_type="learnable" if net.extra_per_block_abs_pos_emb else None,
    )
    if net.use_crossattn_projection:
        cfg.update(
            use_crossattn_projection=True,
            crossattn_proj_in_channels=net.crossattn_proj[0].in_features,
            encoder_hidden_states_channels=net.crossattn_emb_channels,
        )
    return cfg


def build_reference(net: torch.nn.Module, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """A diffusers CosmosTransformer3DModel carrying `net`'s weights (strict key match)."""
    tc = patch_torchvision_resize()
    ref = tc.CosmosTransformer3DModel(**diffusers_config(net))
    for module in ref.modules():
        if type(module).__name__ == "RMSNorm" and module is not ref.time_embed.norm:
            module.eps = 1e-6
    converted, unmapped = dit_state_dict_to_diffusers(net.state_dict(), strict=False)
    result = ref.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    ref.unmapped_keys = unmapped  # e.g. action embedders, which diffusers has no place for
    if dtype is not None:
        ref = ref.to(dtype)
    return ref


def reference_forward(
    ref: torch.nn.Module,
    x_B_C_T_H_W: torch.Tensor,
    timesteps_B_T: torch.Tensor,
    crossattn_emb_B_N_D: torch.Tensor,
    condition_mask_B_1_T_H_W: torch.Tensor | None = None,
    padding_mask_1_1_H_W: torch.Tensor | None = None,
) -> torch.Tensor:
    """Call the diffusers model with our argument conventions (see module doc)."""
    B, _, T, H, W = x_B_C_T_H_W.shape
    if condition_mask_B_1_T_H_W is None:
        condition_mask_B_1_T_H_W = x_B_C_T_H_W.new_zeros(B, 1, T, H, W)
    if padding_mask_1_1_H_W is None:
        padding_mask_1_1_H_W = x_B_C_T_H_W.new_zeros(1, 1, H, W)
    if timesteps_B_T.ndim == 1:
        timesteps_B_T = timesteps_B_T[:, None].expand(B, T)
    return ref(
        hidden_states=x_B_C_T_H_W,
        timestep=timesteps_B_T.reshape(B, 1, T, 1, 1),
        encoder_hidden_states=crossattn_emb_B_N_D,
        condition_mask=condition_mask_B_1_T_H_W,
        padding_mask=padding_mask_1_1_H_W,
        fps=None,
        return_dict=False,
    )[0]
