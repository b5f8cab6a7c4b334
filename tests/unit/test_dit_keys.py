"""The DiT's state-dict layout equals the released Cosmos-Predict2 checkpoints (without `net.`).

Expected names: diffusers `scripts/convert_cosmos_to_diffusers.py` (huggingface/diffusers @0a882300),
`TRANSFORMER_KEYS_RENAME_DICT_COSMOS_2_0`, i.e. the original keys it renames, and the shapes implied by
the "Cosmos-2.0-Diffusion-2B-Video2World" config there (16 heads x 128, 28 layers, text dim 1024,
AdaLN-LoRA 256, in_channels 16+1 (+1 padding mask), patch (1, 2, 2)).
"""

import torch

from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.key_maps import (
    DIT_KEY_RULES,
    dit_key_from_diffusers,
    dit_key_to_diffusers,
    dit_state_dict_from_released,
)
from cosmos_predict2.models.presets import net_kwargs


def _expected_2b_layout() -> dict[str, tuple[int, ...]]:
    D, L, C, lora, blocks = 2048, 256, 1024, 256, 28
    head = 128
    expected = {
        "x_embedder.proj.1.weight": (D, (16 + 1 + 1) * 2 * 2 * 1),  # 72 inputs
        "t_embedder.1.linear_1.weight": (D, D),  # no bias with AdaLN-LoRA
        "t_embedder.1.linear_2.weight": (3 * D, D),
        "t_embedding_norm.weight": (D,),
        "final_layer.linear.weight": (2 * 2 * 1 * 16, D),
        "final_layer.adaln_modulation.1.weight": (lora, D),
        "final_layer.adaln_modulation.2.weight": (2 * D, lora),
    }
    for i in range(blocks):
        p = f"blocks.{i}."
        for attn, ctx in (("self_attn", D), ("cross_attn", C)):
            expected[p + f"{attn}.q_proj.weight"] = (D, D)
            expected[p + f"{attn}.k_proj.weight"] = (D, ctx)
            expected[p + f"{attn}.v_proj.weight"] = (D, ctx)
            expected[p + f"{attn}.output_proj.weight"] = (D, D)
            expected[p + f"{attn}.q_norm.weight"] = (head,)
            expected[p + f"{attn}.k_norm.weight"] = (head,)
        expected[p + "mlp.layer1.weight"] = (4 * D, D)
        expected[p + "mlp.layer2.weight"] = (D, 4 * D)
        for mod in ("self_attn", "cross_attn", "mlp"):
            expected[p + f"adaln_modulation_{mod}.1.weight"] = (L, D)
            expected[p + f"adaln_modulation_{mod}.2.weight"] = (3 * D, L)
    return expected


def test_2b_meta_layout_matches_released_checkpoint():
    with torch.device("meta"):
        net = MiniTrainDIT(**net_kwargs("2B"))
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    expected = _expected_2b_layout()
    assert sorted(set(got) - set(expected)) == []
    assert sorted(set(expected) - set(got)) == []
    assert got == expected
    assert list(net.buffers()) == []  # no RoPE tables / counters / TE extra state
    n_params = sum(v.numel() for v in net.state_dict().values())
    assert 1.9e9 < n_params < 2.1e9, n_params  # "2B"


def test_14b_and_p25_meta_shapes():
    with torch.device("meta"):
        net = MiniTrainDIT(**net_kwargs("14B"))
    sd = net.state_dict()
    assert len([k for k in sd if k.endswith("mlp.layer1.weight")]) == 36
    assert sd["blocks.0.self_attn.q_norm.weight"].shape == (128,)
    assert sd["blocks.0.cross_attn.k_proj.weight"].shape == (5120, 1024)
    with torch.device("meta"):
        p25 = MiniTrainDIT(**net_kwargs("2B_p25", num_blocks=1))
    sd = p25.state_dict()
    assert sd["crossattn_proj.0.weight"].shape == (1024, 100352)
    assert sd["crossattn_proj.0.bias"].shape == (1024,)


def test_key_map_is_a_bijection_on_the_2b_layout():
    keys = list(_expected_2b_layout()) + ["crossattn_proj.0.weight", "crossattn_proj.0.bias",
                                          "extra_pos_embedder.pos_emb_t", "t_embedder.1.linear_1.bias"]
    diff = [dit_key_to_diffusers(k) for k in keys]
    assert len(set(diff)) == len(keys)
    assert [dit_key_from_diffusers(k) for k in diff] == keys
    # spot checks against the diffusers rename dict
    assert dit_key_to_diffusers("blocks.27.mlp.layer1.weight") == "transformer_blocks.27.ff.net.0.proj.weight"
    assert dit_key_to_diffusers("blocks.0.adaln_modulation_cross_attn.2.weight") == "transformer_blocks.0.norm2.linear_2.weight"
    assert dit_key_to_diffusers("x_embedder.proj.1.weight") == "patch_embed.proj.weight"
    assert dit_key_to_diffusers("final_layer.linear.weight") == "proj_out.weight"
    assert len(DIT_KEY_RULES) == len({o for o, _ in DIT_KEY_RULES})


def test_released_dict_is_cleaned_and_loads_strict():
    net = MiniTrainDIT(**net_kwargs("tiny"))
    released = {f"net.{k}": v for k, v in net.state_dict().items()}
    released.update({
        "net.pos_embedder.seq": torch.arange(4.0),
        "net.pos_embedder.dim_spatial_range": torch.zeros(2),
        "net.pos_embedder.dim_temporal_range": torch.zeros(2),
        "net.accum_video_sample_counter": torch.tensor(0),
        "net.blocks.0.self_attn.q_norm._extra_state": None,
        "net_ema.x_embedder.proj.1.weight": torch.zeros(1),
    })
    cleaned = dit_state_dict_from_released(released)
    result = MiniTrainDIT(**net_kwargs("tiny")).load_state_dict(cleaned, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
