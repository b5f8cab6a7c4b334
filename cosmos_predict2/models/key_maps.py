"""State-dict key maps: released Cosmos-Predict2 checkpoints <-> ours <-> diffusers.

Where the names come from
-------------------------
Our parameter names equal the released Cosmos-Predict2 / 2.5 DiT checkpoints with the `net.` prefix
removed. The list was derived from diffusers' `scripts/convert_cosmos_to_diffusers.py`
(huggingface/diffusers, read at commit 0a882300): its `TRANSFORMER_KEYS_RENAME_DICT_COSMOS_2_0` renames
the original keys (`t_embedder.1`, `t_embedding_norm`, `blocks`, `adaln_modulation_{self_attn,cross_attn,
mlp}.{1,2}`, `self_attn`, `cross_attn`, `{q,k,v}_proj`, `output_proj`, `{q,k}_norm`, `mlp.layer{1,2}`,
`x_embedder.proj.1`, `final_layer.adaln_modulation.{1,2}`, `final_layer.linear`) to the diffusers
`CosmosTransformer3DModel` names, and its `TRANSFORMER_SPECIAL_KEYS_REMAP_COSMOS_2_0` drops the
non-parameter entries that released files also carry (`pos_embedder.seq`, `pos_embedder.dim_spatial_range`,
`pos_embedder.dim_temporal_range`, `accum_*` counters, Transformer-Engine `*._extra_state`). The same
names appear in upstream P2 `cosmos_predict2/models/text2image_dit.py`. The action embedders
(`action_embedder_B_D.fc{1,2}.{weight,bias}`, `action_embedder_B_3D...`) are P2/P2.5 action-net names
and have no diffusers counterpart.

The map is one list of (ours, diffusers) key templates (`{i}` = block index) used in both directions,
so every key maps to exactly one key (checked by tests/unit/test_dit_keys.py).
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

def _build_rules() -> list[tuple[str, str]]:
    """(ours, diffusers) key templates; `{i}` stands for a block index."""
    rules = [
        ("x_embedder.proj.1.weight", "patch_embed.proj.weight"),
        ("t_embedder.1.linear_1.weight", "time_embed.t_embedder.linear_1.weight"),
        ("t_embedder.1.linear_1.bias", "time_embed.t_embedder.linear_1.bias"),  # only without AdaLN-LoRA
        ("t_embedder.1.linear_2.weight", "time_embed.t_embedder.linear_2.weight"),
        ("t_embedding_norm.weight", "time_embed.norm.weight"),
        ("crossattn_proj.0.weight", "crossattn_proj.0.weight"),
        ("crossattn_proj.0.bias", "crossattn_proj.0.bias"),
        ("final_layer.linear.weight", "proj_out.weight"),
        ("final_layer.adaln_modulation.1.weight", "norm_out.linear_1.weight"),
        ("final_layer.adaln_modulation.2.weight", "norm_out.linear_2.weight"),
    ]
    rules += [(f"extra_pos_embedder.pos_emb_{a}", f"learnable_pos_embed.pos_emb_{a}") for a in "thw"]
    for ours_attn, diff_attn in (("self_attn", "attn1"), ("cross_attn", "attn2")):
        for x in "qkv":
            rules.append((f"blocks.{{i}}.{ours_attn}.{x}_proj.weight", f"transformer_blocks.{{i}}.{diff_attn}.to_{x}.weight"))
        for x in "qk":
            rules.append((f"blocks.{{i}}.{ours_attn}.{x}_norm.weight", f"transformer_blocks.{{i}}.{diff_attn}.norm_{x}.weight"))
        rules.append((f"blocks.{{i}}.{ours_attn}.output_proj.weight", f"transformer_blocks.{{i}}.{diff_attn}.to_out.0.weight"))
    rules.append(("blocks.{i}.mlp.layer1.weight", "transformer_blocks.{i}.ff.net.0.proj.weight"))
    rules.append(("blocks.{i}.mlp.layer2.weight", "transformer_blocks.{i}.ff.net.2.weight"))
    for ours_mod, diff_norm in (("self_attn", "norm1"), ("cross_attn", "norm2"), ("mlp", "norm3")):
        for j in (1, 2):
            rules.append((f"blocks.{{i}}.adaln_modulation_{ours_mod}.{j}.weight", f"transformer_blocks.{{i}}.{diff_norm}.linear_{j}.weight"))
    return rules


DIT_KEY_RULES: list[tuple[str, str]] = _build_rules()


def _compile(template: str) -> re.Pattern:
    return re.compile(re.escape(template).replace(re.escape("{i}"), r"(?P<i>\d+)"))


def _fill(template: str, match: re.Match) -> str:
    return template.replace("{i}", match.group("i")) if "{i}" in template else template


_OURS_TO_DIFF = [(_compile(o), d) for o, d in DIT_KEY_RULES]
_DIFF_TO_OURS = [(_compile(d), o) for o, d in DIT_KEY_RULES]

# Keys present in released checkpoints that are not parameters of the net (dropped on load): RoPE tables,
# training counters and TransformerEngine extra state.
_RELEASED_NON_PARAM = re.compile(
    r"(^|\.)(pos_embedder\.(seq|dim_spatial_range|dim_temporal_range)|accum_[a-z_]+|_extra_state)$"
)


def is_non_learned_key(key: str) -> bool:
    """True for the entries released files carry that are not learned parameters (see above)."""
    return bool(_RELEASED_NON_PARAM.search(key))


def _map_key(key: str, rules: list[tuple[re.Pattern, str]], direction: str) -> str:
    for pattern, template in rules:
        match = pattern.fullmatch(key)
        if match:
            return _fill(template, match)
    raise KeyError(f"{direction}: no key-map rule for {key!r} (see cosmos_predict2/models/key_maps.py)")


def dit_key_to_diffusers(key: str) -> str:
    """`blocks.3.self_attn.q_proj.weight` -> `transformer_blocks.3.attn1.to_q.weight` (KeyError if unmapped)."""
    return _map_key(key, _OURS_TO_DIFF, "ours->diffusers")


def dit_key_from_diffusers(key: str) -> str:
    """Inverse of `dit_key_to_diffusers`."""
    return _map_key(key, _DIFF_TO_OURS, "diffusers->ours")


def dit_state_dict_to_diffusers(
    state_dict: Mapping[str, torch.Tensor], strict: bool = True
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename our DiT state dict to diffusers `CosmosTransformer3DModel` names.

    Returns (converted, unmapped_keys). With strict=True any key without a diffusers counterpart (e.g. the
    action embedders) raises KeyError; with strict=False such keys are listed in `unmapped_keys`.
    """
    out: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for key, value in state_dict.items():
        try:
            out[dit_key_to_diffusers(key)] = value
        except KeyError:
            if strict:
                raise
            unmapped.append(key)
    return out, unmapped


def dit_state_dict_from_diffusers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a diffusers `CosmosTransformer3DModel` state dict to ours (KeyError on unknown keys)."""
    return {dit_key_from_diffusers(key): value for key, value in state_dict.items()}


def dit_state_dict_from_released(state_dict: Mapping[str, torch.Tensor], prefix: str = "net.") -> dict[str, torch.Tensor]:
    """Released `model.pt` / DCP net dict -> ours: strip `prefix`, drop RoPE tables / counters / TE state.

    Keys not starting with `prefix` (e.g. `net_ema.`, `logvar.`) are dropped when a prefix is given.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if prefix:
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
        if is_non_learned_key(key):
            continue
        out[key] = value
    return out
