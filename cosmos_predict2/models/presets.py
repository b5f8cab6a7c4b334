"""Net constructor kwargs for the released sizes (2B / 14B / 7B) and tiny CPU test sizes.

Sizes: upstream Predict2 `configs/base/config_video2world.py`, Predict2.5 `configs/video2world/defaults/net.py`.
`net_kwargs("2B", num_blocks=2)` returns a copy
with overrides; `PRESETS` holds the raw dicts.
"""

from __future__ import annotations

import copy
from typing import Any

_COMMON: dict[str, Any] = dict(
    max_img_h=240,
    max_img_w=240,
    max_frames=128,
    in_channels=16,
    out_channels=16,
    patch_spatial=2,
    patch_temporal=1,
    concat_padding_mask=True,
    mlp_ratio=4.0,
    crossattn_emb_channels=1024,
    pos_emb_cls="rope3d",
    use_adaln_lora=True,
    adaln_lora_dim=256,
    extra_per_block_abs_pos_emb=False,
    rope_enable_fps_modulation=False,
    atten_backend="torch",
)

PRESETS: dict[str, dict[str, Any]] = {
    # Cosmos-Predict2 / 2.5 2B: D 2048, 28 blocks, 16 heads of 128; RoPE (h, w, t) = (3, 3, 1)
    "2B": dict(_COMMON, model_channels=2048, num_blocks=28, num_heads=16,
               rope_h_extrapolation_ratio=3.0, rope_w_extrapolation_ratio=3.0, rope_t_extrapolation_ratio=1.0),
    # Cosmos-Predict2 14B: D 5120, 36 blocks, 40 heads; RoPE (2, 2, 20/24)
    "14B": dict(_COMMON, model_channels=5120, num_blocks=36, num_heads=40,
                rope_h_extrapolation_ratio=2.0, rope_w_extrapolation_ratio=2.0,
                rope_t_extrapolation_ratio=0.8333333333333334),
    # 7B (P1 FADITV2 width / P2.5 "7B"): D 4096, 28 blocks, 32 heads
    "7B": dict(_COMMON, model_channels=4096, num_blocks=28, num_heads=32,
               rope_h_extrapolation_ratio=1.0, rope_w_extrapolation_ratio=1.0, rope_t_extrapolation_ratio=2.0),
    # CPU test sizes (seconds per step on 2 cores)
    "tiny": dict(_COMMON, model_channels=64, num_blocks=2, num_heads=4, crossattn_emb_channels=32,
                 adaln_lora_dim=16, max_img_h=64, max_img_w=64, max_frames=16,
                 rope_h_extrapolation_ratio=3.0, rope_w_extrapolation_ratio=3.0, rope_t_extrapolation_ratio=1.0),
    "tiny128": dict(_COMMON, model_channels=128, num_blocks=2, num_heads=4, crossattn_emb_channels=64,
                    adaln_lora_dim=32, max_img_h=128, max_img_w=128, max_frames=32,
                    rope_h_extrapolation_ratio=3.0, rope_w_extrapolation_ratio=3.0, rope_t_extrapolation_ratio=1.0),
}
# P2.5 2B: the Reason1 full-concat text embedding (100352) is projected to 1024 inside the net
PRESETS["2B_p25"] = dict(PRESETS["2B"], use_crossattn_projection=True, crossattn_proj_in_channels=100352)
PRESETS["tiny_p25"] = dict(PRESETS["tiny"], use_crossattn_projection=True, crossattn_proj_in_channels=48)


def net_kwargs(name: str, **overrides: Any) -> dict[str, Any]:
    """A copy of preset `name` with `overrides` applied; ValueError names the valid presets."""
    if name not in PRESETS:
        raise ValueError(f"Unknown DiT preset {name!r}; choose one of {sorted(PRESETS)}")
    kwargs = copy.deepcopy(PRESETS[name])
    kwargs.update(overrides)
    return kwargs
