"""Group ``net`` (package ``model.config.net``): the DiT presets.

Sizes from the released Cosmos-Predict2 / 2.5 / Predict1 nets: 2B = 2048 x 28 blocks x 16 heads,
14B = 5120 x 36 x 40, 7B = 4096 x 28 x 32 (head dim 128 everywhere). The tiny presets are for CPU.
Targets are dotted paths so that resolving a config never imports the networks.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L
from cosmos_predict2.models.presets import PRESETS

DIT = "cosmos_predict2.models.dit.MiniTrainDIT"
ACTION_DIT = "cosmos_predict2.models.action_dit.ActionConditionedMinimalV1LVGDiT"
ACTION_CHUNK_DIT = "cosmos_predict2.models.action_dit.ActionChunkConditionedMinimalV1LVGDiT"
SINGLE_ACTION_DIT = "cosmos_predict2.models.action_dit.SingleActionConditionedDiT"
P1_ACTION_DIT = "cosmos_predict2.models.general_dit.ActionConditionalVideoExtendGeneralDIT"


def dit_kwargs(preset: str = "2B", **extra) -> dict:
    """Constructor kwargs of a DiT preset (``cosmos_predict2.models.presets``, plain data, no torch import),
    with every key users may override present in the node."""
    kwargs = dict(use_crossattn_projection=False, crossattn_proj_in_channels=1024, timestep_scale=1.0,
                  use_wan_fp32_strategy=False)
    kwargs.update(PRESETS[preset])
    kwargs.update(extra)
    return kwargs


SIZES = ("2B", "14B", "7B")
# What every Predict2.5 experiment sets on its net (upstream: in the experiment body, after the net group, so it
# survives ``override /net``): the Reason1.1 full-concat text embedding (100352) projected to 1024 by
# ``crossattn_proj``, timesteps 1000 t scaled by 0.001 inside the net, and the Wan fp32 strategy under bf16.
P25_NET = dict(use_crossattn_projection=True, crossattn_proj_in_channels=100352, timestep_scale=0.001,
               use_wan_fp32_strategy=True)
# CPU preset of the tiny experiments: D 128, 4 blocks, 4 heads, 64-d text, RoPE without extrapolation.
TINY = dict(preset="tiny128", num_blocks=4, max_img_h=64, max_img_w=64, max_frames=32,
            rope_h_extrapolation_ratio=1.0, rope_w_extrapolation_ratio=1.0, rope_t_extrapolation_ratio=1.0)


def action_kwargs(kind: str) -> dict:
    if kind == "clip":  # P2 / P2.5-v1: 12 x 7 flattened to one 84-d vector per clip (action_dim is per step)
        return dict(action_dim=7, num_action_per_chunk=12)
    if kind == "chunk":  # P2.5 shipped model: 4 x 7 per latent frame
        return dict(action_dim=7, num_action_per_chunk=12, temporal_compression_ratio=4)
    if kind == "single":  # P1: one 7-d action
        return dict(action_dim=7)
    raise ValueError(kind)


def p1_action_kwargs(**extra) -> dict:
    """Predict1 ``faditv2_7b`` as its action experiment uses it (upstream module tree and names, models/general_dit.py):
    D 4096, 28 FA-CA-MLP blocks, 32 heads, T5 1024, AdaLN-LoRA 256, RoPE (h, w, t) = (1, 1, 2), one 7-d action."""
    kwargs = dict(max_img_h=240, max_img_w=240, max_frames=128, in_channels=16, out_channels=16, patch_spatial=2,
                  patch_temporal=1, concat_padding_mask=True, block_config="FA-CA-MLP", model_channels=4096,
                  num_blocks=28, num_heads=32, mlp_ratio=4.0, crossattn_emb_channels=1024, pos_emb_cls="rope3d",
                  affline_emb_norm=True, use_adaln_lora=True, adaln_lora_dim=256, rope_h_extrapolation_ratio=1.0,
                  rope_w_extrapolation_ratio=1.0, rope_t_extrapolation_ratio=2.0, base_fps=24.0, action_dim=7,
                  use_action_d_path=False, atten_backend="torch")
    kwargs.update(extra)
    return kwargs


# CPU size of the Predict1 action net (the twin of video2world_action_bridge_2frames)
P1_TINY = dict(max_img_h=64, max_img_w=64, max_frames=32, model_channels=128, num_blocks=4, num_heads=4,
               crossattn_emb_channels=64, adaln_lora_dim=32)


def register() -> None:
    for size in SIZES:
        base = dit_kwargs(size)
        register_group_option("net", f"cosmos_v1_{size}", L(DIT)(**base))
        register_group_option("net", f"cosmos_v1_{size}_action_conditioned", L(ACTION_DIT)(**base, **action_kwargs("clip")))
        register_group_option("net", f"cosmos_v1_{size}_action_chunk_conditioned",
                              L(ACTION_CHUNK_DIT)(**base, **action_kwargs("chunk")))
        register_group_option("net", f"cosmos_v1_{size}_single_action_conditioned",
                              L(SINGLE_ACTION_DIT)(**base, **action_kwargs("single")))
    tiny = dit_kwargs(**TINY)
    register_group_option("net", "mini_net", L(DIT)(**tiny))
    register_group_option("net", "tiny_dit", L(DIT)(**tiny))
    register_group_option("net", "tiny_action_chunk_dit", L(ACTION_CHUNK_DIT)(**tiny, **action_kwargs("chunk")))
    register_group_option("net", "tiny_action_dit", L(ACTION_DIT)(**tiny, **action_kwargs("clip")))
    register_group_option("net", "faditv2_7b_action", L(P1_ACTION_DIT)(**p1_action_kwargs()))
    register_group_option("net", "tiny_faditv2_action", L(P1_ACTION_DIT)(**p1_action_kwargs(**P1_TINY)))
