"""Predict1 action DiT (``models/general_dit.py``): upstream's parameter names / shapes, forward semantics, training.

(a) the 7B state dict equals a list written here from upstream's module tree (cosmos-predict1 @4ed35fa:
    general_dit.py builds x_embedder, pos_embedder, t_embedder, blocks[block{i}], final_layer, affline_norm; then
    general_dit_action.py adds action_embedder_B_D / _B_3D; blocks.py DITBuildingBlock = block + adaLN_modulation;
    attention.py Attention = to_q / to_k / to_v / to_out Sequentials with qkv_norm "RRI");
(b) forward = our Predict2 ``SingleActionConditionedDiT`` given the same weights through the key map below, with
    its D-path action embedder zeroed (upstream's D-path never reaches the net), at fps 24 (upstream's temporal
    RoPE positions t * 24 / fps are then integers, as the Predict2 net's); the fps-scaled RoPE table against a
    float64 transcription of upstream's formula;
(c) gradients reach every parameter upstream trains (all but action_embedder_B_D) and a few steps lower the loss.
"""

from __future__ import annotations

import math

import pytest
import torch

from cosmos_predict2.models.action_dit import SingleActionConditionedDiT
from cosmos_predict2.models.general_dit import ActionConditionalVideoExtendGeneralDIT
from cosmos_predict2.models.init import iter_init_units
from cosmos_predict2.parallel.activation_checkpoint import apply_activation_checkpointing
from cosmos_predict2.parallel.materialize import canonical_name

TINY = dict(max_img_h=64, max_img_w=64, max_frames=16, in_channels=16, out_channels=16, patch_spatial=2,
            patch_temporal=1, model_channels=64, num_blocks=2, num_heads=4, crossattn_emb_channels=32,
            adaln_lora_dim=16, rope_h_extrapolation_ratio=1.0, rope_w_extrapolation_ratio=1.0,
            rope_t_extrapolation_ratio=2.0)


# ----------------------------------------------------------------------------------------------- (a) layout
def upstream_7b_layout(D=4096, num_blocks=28, heads=32, ctx=1024, lora=256, latent=16, patch=2, pt=1,
                       mlp_ratio=4, action_dim=7) -> list[tuple[str, tuple]]:
    """(key, shape) of upstream's ActionConditionalVideoExtendGeneralDIT parameters, in state-dict order."""
    K = D // heads
    embed_in = (latent + 1 + 1) * patch * patch * pt  # in_channels=17 (latent + condition mask) + padding mask
    out = [("x_embedder.proj.1.weight", (D, embed_in)),
           ("t_embedder.1.linear_1.weight", (D, D)),                # bias only without AdaLN-LoRA
           ("t_embedder.1.linear_2.weight", (3 * D, D))]
    for i in range(num_blocks):
        for k, kind in enumerate(("fa", "ca", "mlp")):
            p = f"blocks.block{i}.blocks.{k}"
            if kind == "mlp":
                out += [(f"{p}.block.layer1.weight", (mlp_ratio * D, D)), (f"{p}.block.layer2.weight", (D, mlp_ratio * D))]
            else:
                kv_in = D if kind == "fa" else ctx
                out += [(f"{p}.block.attn.to_q.0.weight", (D, D)), (f"{p}.block.attn.to_q.1.weight", (K,)),
                        (f"{p}.block.attn.to_k.0.weight", (D, kv_in)), (f"{p}.block.attn.to_k.1.weight", (K,)),
                        (f"{p}.block.attn.to_v.0.weight", (D, kv_in)), (f"{p}.block.attn.to_out.0.weight", (D, D))]
            out += [(f"{p}.adaLN_modulation.1.weight", (lora, D)), (f"{p}.adaLN_modulation.2.weight", (3 * D, lora))]
    out += [("final_layer.linear.weight", (patch * patch * pt * latent, D)),
            ("final_layer.adaLN_modulation.1.weight", (lora, D)),
            ("final_layer.adaLN_modulation.2.weight", (2 * D, lora)),
            ("affline_norm.weight", (D,))]
    for name, width in (("B_D", D), ("B_3D", 3 * D)):
        out += [(f"action_embedder_{name}.fc1.weight", (4 * D, action_dim)), (f"action_embedder_{name}.fc1.bias", (4 * D,)),
                (f"action_embedder_{name}.fc2.weight", (width, 4 * D)), (f"action_embedder_{name}.fc2.bias", (width,))]
    return out


def test_7b_state_dict_is_upstreams_layout():
    with torch.device("meta"):
        net = ActionConditionalVideoExtendGeneralDIT()  # defaults = the action experiment's resolved net
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert got == upstream_7b_layout()
    assert sum(math.prod(s) for _, s in got) == sum(p.numel() for p in net.parameters())  # no buffers
    # what upstream's state dict has besides parameters (skipped by the weight loader)
    extra = net.released_non_learned_entries()
    assert extra.pop("pos_embedder.seq").tolist() == list(range(128))  # max(240 // 2, 240 // 2, 128)
    assert sorted(extra) == sorted(f"blocks.block{i}.blocks.{k}.block.attn.attn_op._extra_state"
                                   for i in range(28) for k in (0, 1))


def test_layer_mask_drops_blocks_and_parallel_interface():
    net = ActionConditionalVideoExtendGeneralDIT(**dict(TINY, num_blocks=3, layer_mask=[False, True, False]))
    assert list(net.blocks.keys()) == ["block0", "block2"] and len(net.blocks) == 2
    assert net.blocks[1] is net.blocks["block2"] and [b for b in net.blocks] == [net.blocks[0], net.blocks[1]]
    assert net.blocks[0].self_attn is net.blocks[0].blocks[0].block.attn  # named as on the Predict2 blocks
    units = [u.name for u in iter_init_units(net)]
    assert units == ["x_embedder", "t_embedder.1", "blocks.block0", "blocks.block2", "final_layer", "affline_norm",
                     "action_embedder_B_D.fc1", "action_embedder_B_D.fc2", "action_embedder_B_3D.fc1",
                     "action_embedder_B_3D.fc2"]
    covered = sorted(n for u in iter_init_units(net) for n in u.full_names())
    assert covered == sorted(n for n, _ in net.named_parameters())
    # upstream init: the blocks' last AdaLN Linear is zero, the final layer's is not
    with torch.no_grad():
        assert all(float(b.blocks[k].adaLN_modulation[2].weight.abs().sum()) == 0 for b in net.blocks for k in range(3))
        assert float(net.final_layer.adaLN_modulation[2].weight.abs().sum()) > 0
    for bad in (dict(use_cross_attn_mask=True), dict(extra_per_block_abs_pos_emb=True), dict(bogus=1)):
        with pytest.raises((ValueError, TypeError)):
            ActionConditionalVideoExtendGeneralDIT(**dict(TINY, **bad))


# --------------------------------------------------------------------------------------------- (b) forward
def p1_to_p2_key(key: str) -> str:
    """Predict1 GeneralDIT name -> Predict2 MiniTrainDIT name (explicit map; independent of both classes)."""
    fixed = {"affline_norm.weight": "t_embedding_norm.weight",
             "final_layer.adaLN_modulation.1.weight": "final_layer.adaln_modulation.1.weight",
             "final_layer.adaLN_modulation.2.weight": "final_layer.adaln_modulation.2.weight"}
    if key in fixed:
        return fixed[key]
    if not key.startswith("blocks."):
        return key  # x_embedder.proj.1, t_embedder.1.linear_*, final_layer.linear, action_embedder_*
    _, block, _, k, rest = key.split(".", 4)
    i, k = int(block[len("block"):]), int(k)
    sub = ("self_attn", "cross_attn", "mlp")[k]
    if rest.startswith("adaLN_modulation."):
        return f"blocks.{i}.adaln_modulation_{sub}.{rest.split('.', 1)[1]}"
    if k == 2:
        return f"blocks.{i}.mlp.{rest[len('block.'):]}"  # block.layer{1,2}.weight
    attn = {"to_q.0": "q_proj", "to_q.1": "q_norm", "to_k.0": "k_proj", "to_k.1": "k_norm", "to_v.0": "v_proj",
            "to_out.0": "output_proj"}
    part = rest[len("block.attn."):].rsplit(".", 1)[0]
    return f"blocks.{i}.{sub}.{attn[part]}.weight"


def _randomised(net, seed=0, scale=0.05):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return net


def _inputs(B=2, T=2, H=8, W=12, seed=1, fps=24.0):
    g = torch.Generator().manual_seed(seed)
    cond = torch.zeros(B, 1, T, H, W)
    cond[:, :, 0] = 1.0
    pad = (torch.rand(B, 1, 2 * H, 2 * W, generator=g) > 0.7).float()
    return dict(x_B_C_T_H_W=torch.randn(B, 16, T, H, W, generator=g), timesteps_B_T=torch.randn(B, generator=g),
                crossattn_emb_B_N_D=torch.randn(B, 5, 32, generator=g), condition_video_input_mask_B_C_T_H_W=cond,
                fps=torch.full((B,), fps), padding_mask=pad, action=torch.randn(B, 1, 7, generator=g))


def _reference(p1: ActionConditionalVideoExtendGeneralDIT, d_path: bool) -> SingleActionConditionedDiT:
    ref = SingleActionConditionedDiT(**{k: v for k, v in TINY.items()}, action_dim=7)
    sd = {p1_to_p2_key(k): v for k, v in p1.state_dict().items()}
    assert sorted(sd) == sorted(ref.state_dict())
    if not d_path:  # upstream: the D-path embedding is computed but never reaches the network
        for k in ("action_embedder_B_D.fc2.weight", "action_embedder_B_D.fc2.bias"):
            sd[k] = torch.zeros_like(sd[k])
    ref.load_state_dict(sd)
    return ref


@pytest.mark.parametrize("d_path", [False, True])
def test_forward_equals_predict2_net_under_key_map(d_path):
    torch.manual_seed(0)
    p1 = _randomised(ActionConditionalVideoExtendGeneralDIT(**TINY, use_action_d_path=d_path))
    ref = _reference(p1, d_path)
    inp = _inputs()
    with torch.no_grad():
        y = p1(**inp)
        y_ref = ref(**inp)
    assert y.shape == (2, 16, 2, 8, 12)
    assert torch.allclose(y, y_ref, atol=1e-5, rtol=1e-5), (y - y_ref).abs().max()
    if not d_path:  # upstream quirk: the D-path embedder has no effect
        with torch.no_grad():
            p1.action_embedder_B_D.fc2.weight.normal_()
            assert torch.equal(p1(**inp), y)


def test_action_timesteps_and_fps_semantics():
    torch.manual_seed(0)
    net = _randomised(ActionConditionalVideoExtendGeneralDIT(**TINY)).eval()
    inp = _inputs()
    with torch.no_grad():
        y = net(**inp)
        # the first action of (B, N, 7) is the one used; (B, 7) is the same
        more = dict(inp, action=torch.cat([inp["action"], torch.randn(2, 3, 7)], dim=1))
        same = dict(atol=1e-5, rtol=1e-5)  # float32 rounding (strided action views, (B, T) timesteps)
        assert torch.allclose(net(**more), y, **same)
        assert torch.allclose(net(**dict(inp, action=inp["action"][:, 0])), y, **same)
        assert not torch.allclose(net(**dict(inp, action=inp["action"] + 1)), y)
        # per-sample timesteps: (B, T) equal over T is the same as (B,); unequal is refused
        t_BT = inp["timesteps_B_T"][:, None].expand(-1, 2)
        assert torch.allclose(net(**dict(inp, timesteps_B_T=t_BT)), y, **same)
        with pytest.raises(ValueError, match="one timestep per sample"):
            net(**dict(inp, timesteps_B_T=torch.rand(2, 2)))
        # fps moves the temporal RoPE positions (t * 24 / fps); images (T = 1) need none
        assert not torch.allclose(net(**dict(inp, fps=torch.full((2,), 4.0))), y)
        with pytest.raises(ValueError, match="fps"):
            net(**dict(inp, fps=None))
        one = _inputs(T=1)
        assert torch.allclose(net(**dict(one, fps=None)), net(**one), **same)
        with pytest.raises(ValueError, match="action"):
            net(**dict(inp, action=None))


def test_rope_table_matches_upstream_formula_float64():
    """VideoRopePosition3DEmb.generate_embeddings transcribed: theta_axis = 10000 * ratio ** (d / (d - 2)),
    freqs 1 / theta ** (arange(0, d, 2) / d), positions h, w and t / fps * 24, emb = cat([t, h, w] * 2)."""
    net = ActionConditionalVideoExtendGeneralDIT(**TINY)
    T, H, W, fps = 3, 4, 5, 4.0
    cos, sin = net.pos_embedder(T, H, W, torch.tensor([fps, fps]), torch.device("cpu"))
    head = 64 // 4
    d_h = head // 6 * 2
    d_t = head - 2 * d_h

    def half(pos, d, ratio):
        theta = 10000.0 * ratio ** (d / (d - 2))
        return torch.outer(pos, 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64)[: d // 2] / d))

    t = half(torch.arange(T, dtype=torch.float64) / fps * 24, d_t, 2.0)
    h = half(torch.arange(H, dtype=torch.float64), d_h, 1.0)
    w = half(torch.arange(W, dtype=torch.float64), d_h, 1.0)
    emb = torch.cat([t[:, None, None].expand(T, H, W, -1), h[None, :, None].expand(T, H, W, -1),
                     w[None, None, :].expand(T, H, W, -1)] * 2, dim=-1).reshape(T * H * W, 1, head)
    assert torch.allclose(cos.double(), emb.cos(), atol=1e-6) and torch.allclose(sin.double(), emb.sin(), atol=1e-6)


# -------------------------------------------------------------------------------------------- (c) training
def test_gradients_reach_what_upstream_trains_and_loss_falls():
    torch.manual_seed(0)
    net = _randomised(ActionConditionalVideoExtendGeneralDIT(**TINY))
    apply_activation_checkpointing(net, "block_wise")  # the trainer's wrapping: names stay canonical
    inp = _inputs(seed=3)
    target = torch.randn_like(inp["x_B_C_T_H_W"])
    loss = ((net(**inp) - target) ** 2).mean()
    loss.backward()
    for name, p in net.named_parameters():
        name = canonical_name(name)
        if name.startswith("action_embedder_B_D."):
            assert p.grad is None, name  # upstream: never in the graph
        else:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = ((net(**inp) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_meta_build_materialises_unit_by_unit():
    """The trainer's path: meta template -> per-unit seeded init (parallel/materialize.py)."""
    from cosmos_predict2.parallel.materialize import init_parameters_

    with torch.device("meta"):
        template = ActionConditionalVideoExtendGeneralDIT(**TINY)
        net = ActionConditionalVideoExtendGeneralDIT(**TINY)
    net.to_empty(device="cpu")
    names = init_parameters_(net, template, seed=7, device=torch.device("cpu"))
    assert sorted(names) == sorted(n for n, _ in net.named_parameters())
    y = net(**_inputs())
    assert torch.isfinite(y).all()


def test_world_model_trains_and_samples_with_the_predict1_net():
    """Through the pipeline's keyword interface (net_fn / VideoCondition.net_kwargs) with the Predict1 EDM
    objective: per-sample timesteps, condition mask, fps, padding mask and the action reach the net."""
    from cosmos_predict2.lazy_config import L
    from cosmos_predict2.pipelines.video2world_model import Video2WorldModel

    cfg = dict(
        net=L("cosmos_predict2.models.general_dit.ActionConditionalVideoExtendGeneralDIT")(**TINY),
        tokenizer=L("cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer")(encode_frames_independently=True),
        conditioner=L("cosmos_predict2.diffusion.conditioner.VideoConditioner")(
            text_dropout_rate=0.0, use_video_condition_dropout_rate=0.0, use_action=True),
        objective=L("cosmos_predict2.diffusion.objectives.EDMObjective")(),
        sampler=L("cosmos_predict2.diffusion.samplers.EDMSampler")(num_steps=3, guidance=0.0),
        ema=dict(enabled=False), text_encoder=dict(kind="none", embed_dim=32),
        model_manager_config=dict(dit_path=""), precision="float32", state_t=2, state_ch=16,
        min_num_conditional_frames=1, max_num_conditional_frames=1, train_architecture="base",
    )
    torch.manual_seed(0)
    model = Video2WorldModel(cfg)
    g = torch.Generator().manual_seed(0)
    batch = {"video": torch.randint(0, 256, (2, 3, 2, 32, 32), generator=g, dtype=torch.uint8),
             "t5_text_embeddings": torch.randn(2, 5, 32, generator=g), "fps": torch.full((2,), 4.0),
             "padding_mask": torch.zeros(2, 1, 32, 32), "action": torch.randn(2, 1, 7, generator=g)}
    loss, _ = model.training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and model.net.action_embedder_B_3D.fc1.weight.grad is not None
    with torch.no_grad():
        video = model.generate(batch, seed=1, num_conditional_frames=1)
    assert torch.isfinite(video.float()).all()
