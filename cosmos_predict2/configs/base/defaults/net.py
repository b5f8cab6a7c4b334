"""Group ``net`` (package ``model.config.net``): the DiT presets.

Sizes from the released Cosmos-Predict2 / 2.5 / Predict1 nets: 2B = 2048 x 28 blocks x 16 heads,
14B = 5120 x 36 x 40, 7B = 4096 x 28 x 32 (head dim 128 everywhere). The tiny presets are for CPU.
Targets are dotted paths so that resolving a config never imports the networks.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

DIT = "cosmos_predict2.models.dit.MiniTrainDIT"
ACTION_DIT = "cosmos_predict2.models.action_dit.ActionConditionedMinimalV1LVGDiT"
ACTION_CHUNK_DIT = "cosmos_predict2.models.action_dit.ActionChunkConditionedMinimalV1LVGDiT"
SINGLE_ACTION_DIT = "cosmos_predict2.models.action_dit.SingleActionConditionedDiT"


def dit_kwargs(model_channels: int, num_blocks: int, num_heads: int, rope_hwt=(3.0, 3.0, 1.0), **extra) -> dict:
    kwargs = dict(
        max_img_h=240,
        max_img_w=240,
        max_frames=128,
        in_channels=16,
        out_channels=16,
        patch_spatial=2,
        patch_temporal=1,
        concat_padding_mask=True,
        model_channels=model_channels,
        num_blocks=num_blocks,
        num_heads=num_heads,
        mlp_ratio=4.0,
        crossattn_emb_channels=1024,
        use_crossattn_projection=False,
        crossattn_proj_in_channels=1024,
        pos_emb_cls="rope3d",
        rope_h_extrapolation_ratio=rope_hwt[0],
        rope_w_extrapolation_ratio=rope_hwt[1],
        rope_t_extrapolation_ratio=rope_hwt[2],
        extra_per_block_abs_pos_emb=False,
        use_adaln_lora=True,
        adaln_lora_dim=256,
        atten_backend="torch",
    )
    kwargs.update(extra)
    return kwargs


SIZES = {
    "2B": dict(model_channels=2048, num_blocks=28, num_heads=16, rope_hwt=(3.0, 3.0, 1.0)),
    "14B": dict(model_channels=5120, num_blocks=36, num_heads=40, rope_hwt=(2.0, 2.0, 0.8333333333333334)),
    "7B": dict(model_channels=4096, num_blocks=28, num_heads=32, rope_hwt=(1.0, 1.0, 2.0)),
}
# CPU presets: tiny widths, same structure. Text width stays small so fake/zero embeddings are cheap.
TINY = dict(model_channels=128, num_blocks=4, num_heads=4, rope_hwt=(1.0, 1.0, 1.0),
            crossattn_emb_channels=64, adaln_lora_dim=32, max_img_h=64, max_img_w=64, max_frames=32)


def action_kwargs(kind: str) -> dict:
    if kind == "clip":  # P2 / P2.5-v1: 12 x 7 flattened to one 84-d vector per clip (action_dim is per step)
        return dict(action_dim=7, num_action_per_chunk=12)
    if kind == "chunk":  # P2.5 shipped model: 4 x 7 per latent frame
        return dict(action_dim=7, num_action_per_chunk=12, temporal_compression_ratio=4)
    if kind == "single":  # P1: one 7-d action
        return dict(action_dim=7)
    raise ValueError(kind)


def register() -> None:
    for size, spec in SIZES.items():
        spec = dict(spec)
        base = dit_kwargs(**spec)
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
