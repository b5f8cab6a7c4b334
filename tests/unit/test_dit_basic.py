"""MiniTrainDIT behaviour: shapes, masks, timesteps, init, RoPE, precision, gradients, input errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.layers import apply_rope, rope3d_cos_sin
from cosmos_predict2.models.presets import net_kwargs


def _net(seed=0, **overrides):
    torch.manual_seed(seed)
    net = MiniTrainDIT(**net_kwargs("tiny", **overrides))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # zero-initialised AdaLN outputs would make timestep tests vacuous
        for name, p in net.named_parameters():
            if "adaln_modulation" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return net.eval()


def _inputs(B=2, T=3, H=4, W=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 16, T, H, W, generator=g), torch.rand(B, T, generator=g), torch.randn(B, 5, 32, generator=g)


def test_output_shape_and_defaults_for_masks_and_timesteps():
    net = _net()
    x, t, ctx = _inputs()
    with torch.no_grad():
        out = net(x, t, ctx)
        assert out.shape == x.shape and out.dtype == torch.float32
        zeros_cond = torch.zeros(2, 1, 3, 4, 6)
        torch.testing.assert_close(out, net(x, t, ctx, zeros_cond, padding_mask=torch.zeros(2, 1, 32, 48)))
        per_sample = net(x, t[:, 0], ctx)  # (B,) timesteps broadcast over latent frames
        torch.testing.assert_close(per_sample, net(x, t[:, :1].expand(2, 3), ctx))
        pad = (torch.rand(1, 1, 32, 48) > 0.5).float()
        torch.testing.assert_close(net(x, t, ctx, padding_mask=pad), net(x, t, ctx, padding_mask=pad.expand(2, 1, 32, 48)))
        cond = zeros_cond.clone()
        cond[:, :, 0] = 1
        assert (net(x, t, ctx, cond) - out).abs().max() > 1e-4  # the condition-mask channel is used


def test_per_frame_timesteps_modulate_their_own_frame():
    """With a single frame changed, the AdaLN modulation (per latent frame) differs only for that frame."""
    net = _net()
    seen = {}
    net.blocks[0].adaln_modulation_mlp.register_forward_hook(lambda m, i, o: seen.__setitem__("mod", o))
    x, t, ctx = _inputs()
    with torch.no_grad():
        net(x, t, ctx)
        mod_a = seen["mod"].clone()
        t2 = t.clone()
        t2[:, 1] += 0.3
        net(x, t2, ctx)
        mod_b = seen["mod"]
    diff_per_frame = (mod_a - mod_b).abs().amax(dim=(0, 2))
    assert diff_per_frame[1] > 1e-4 and diff_per_frame[0] == 0 and diff_per_frame[2] == 0


def test_init_follows_upstream():
    net = MiniTrainDIT(**net_kwargs("tiny128", num_blocks=1))
    block = net.blocks[0]
    for seq in (block.adaln_modulation_self_attn, block.adaln_modulation_cross_attn, block.adaln_modulation_mlp,
                net.final_layer.adaln_modulation):
        assert torch.all(seq[2].weight == 0)
    for linear in (block.self_attn.q_proj, block.cross_attn.k_proj, block.mlp.layer2, net.x_embedder.proj[1]):
        std = 1 / math.sqrt(linear.in_features)
        w = linear.weight
        assert w.abs().max() <= 3 * std + 1e-7
        assert 0.7 * std < w.std() < 1.0 * std  # truncation at 3 sigma keeps ~0.986 of the std
    assert torch.all(net.t_embedding_norm.weight == 1) and torch.all(block.self_attn.q_norm.weight == 1)


def _rope_reference_f64(T, H, W, head_dim, ratios):
    """Complex-rotation reference: per axis, angle(pos, i) = pos / theta**(2i/dim), theta with NTK scaling."""
    dim_h = head_dim // 6 * 2
    dims = (head_dim - 2 * dim_h, dim_h, dim_h)
    grids = torch.meshgrid(torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij")
    parts = []
    for pos, dim, ratio in zip(grids, dims, ratios):
        theta = 10000.0 * ratio ** (dim / (dim - 2))
        i = torch.arange(dim // 2, dtype=torch.float64)
        parts.append(pos.reshape(-1, 1).double() / theta ** (2 * i / dim))
    return torch.cat(parts, dim=1)  # (L, head_dim/2) rotation angles


def test_rope_equals_complex_rotation_reference():
    T, H, W, hd, ratios = 3, 4, 5, 24, (0.8333333333333334, 3.0, 2.0)
    cos, sin = rope3d_cos_sin(T, H, W, hd, ratios, torch.device("cpu"))
    q = torch.randn(1, T * H * W, 2, hd)
    ours = apply_rope(q, cos, sin)
    angle = _rope_reference_f64(T, H, W, hd, ratios)[None, :, None, :]  # (1, L, 1, hd/2)
    z = torch.complex(q[..., : hd // 2].double(), q[..., hd // 2:].double()) * torch.polar(torch.ones_like(angle), angle)
    torch.testing.assert_close(ours.double(), torch.cat([z.real, z.imag], dim=-1), rtol=1e-5, atol=1e-5)


def test_bf16_forward_backward_close_to_fp32():
    net = _net()
    x, t, ctx = _inputs()
    with torch.no_grad():
        ref = net(x, t, ctx)
    net_bf16 = _net().to(torch.bfloat16)
    out = net_bf16(x.bfloat16(), t, ctx.bfloat16())
    assert out.dtype == torch.bfloat16
    assert ((out.float() - ref).norm() / ref.norm()) < 3e-2
    out.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net_bf16.parameters())


def test_wan_fp32_strategy():
    x, t, ctx = _inputs()
    with torch.no_grad():
        ref = _net()(x, t, ctx)
        torch.testing.assert_close(_net(use_wan_fp32_strategy=True)(x, t, ctx), ref, rtol=1e-5, atol=1e-5)
        net_bf16 = _net(use_wan_fp32_strategy=True).to(torch.bfloat16)
        out = net_bf16(x.bfloat16(), t, ctx.bfloat16())
        # upstream runs the final layer under float32 autocast: its output is float32, and equals the float32
        # final layer applied to the (bf16) last block's output with the bf16 weights upcast
        captured = {}
        net_bf16.final_layer.register_forward_hook(lambda m, a, o: captured.update(x=a[0], emb=a[1], lora=a[2]))
        net_bf16(x.bfloat16(), t, ctx.bfloat16())
        fl = net_bf16.final_layer
        mod = F.linear(F.silu(captured["emb"].float()), fl.adaln_modulation[1].weight.float())
        mod = F.linear(mod, fl.adaln_modulation[2].weight.float()) + captured["lora"][..., : 2 * fl.dim].float()
        shift, scale = mod.unsqueeze(2).chunk(2, dim=-1)
        normed = F.layer_norm(captured["x"].float(), (fl.dim,), eps=1e-6)
        want = F.linear(normed * (1 + scale) + shift, fl.linear.weight.float())
        got = fl(captured["x"], captured["emb"], captured["lora"], True)
    assert out.dtype == torch.float32 and ((out - ref).norm() / ref.norm()) < 3e-2
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_all_parameters_get_gradients():
    net = _net().train()
    x, t, ctx = _inputs(B=1, T=2, H=4, W=4)
    net(x, t, ctx).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_input_errors_name_the_problem():
    net = _net()
    x, t, ctx = _inputs()
    with pytest.raises(ValueError, match="in_channels=16"):
        net(torch.randn(2, 17, 3, 4, 6), t, ctx)
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(2, 16, 3, 5, 6), t, ctx)
    with pytest.raises(ValueError, match="max_img_h"):
        net(torch.randn(1, 16, 1, 72, 4), t[:1, :1], ctx[:1])
    with pytest.raises(ValueError, match="Unknown DiT preset"):
        net_kwargs("3B")


@pytest.mark.parametrize("action", [False, True])
def test_meta_materialisation_then_init_weights(action):
    """FSDP-style: build on meta, `to_empty` on CPU, `init_weights()` gives the construction-time init."""
    from cosmos_predict2.models.action_dit import ActionChunkConditionedMinimalV1LVGDiT

    cls = ActionChunkConditionedMinimalV1LVGDiT if action else MiniTrainDIT
    with torch.device("meta"):
        net = cls(**net_kwargs("tiny_p25", extra_per_block_abs_pos_emb=True))
    net = net.to_empty(device="cpu")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    net.init_weights()
    state = net.state_dict()
    assert all(torch.isfinite(v).all() for v in state.values())
    assert torch.all(state["blocks.1.adaln_modulation_mlp.2.weight"] == 0)
    assert torch.all(state["t_embedding_norm.weight"] == 1)
    assert torch.all(state["crossattn_proj.0.bias"] == 0)
    if action:
        assert state["action_embedder_B_D.fc2.weight"].abs().sum() > 0
    x, t, ctx = _inputs(B=1, T=2, H=4, W=4)
    out = net(x, t, torch.randn(1, 5, 48), action=torch.randn(1, 4, 7) if action else None)
    assert torch.isfinite(out).all()


def test_timestep_scale_multiplies_timesteps_first():
    x, t, ctx = _inputs()
    with torch.no_grad():
        scaled = _net(timestep_scale=0.001)(x, t * 1000, ctx)
        torch.testing.assert_close(scaled, _net()(x, t, ctx), rtol=1e-5, atol=1e-5)


def test_block_matmul_order_matches_upstream():
    """Op-counting SAC policies assume 16 mm per block: 6 AdaLN, then q/k/v/out self, 4 cross, 2 MLP."""
    from torch.utils._python_dispatch import TorchDispatchMode

    shapes = []

    class RecordMM(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten.mm.default, torch.ops.aten.bmm.default, torch.ops.aten.addmm.default):
                shapes.append(tuple(args[-1].shape))  # (in, out) of the weight^T
            return func(*args, **(kwargs or {}))

    net = _net()
    block = net.blocks[0]
    x = torch.randn(1, 2, 8, 64)
    emb, lora = torch.randn(1, 2, 64), torch.randn(1, 2, 192)
    ctx = torch.randn(1, 5, 32)
    with torch.no_grad(), RecordMM():
        block(x, emb, ctx, None, lora)
    D, C, R = 64, 32, 16
    expected = [(D, R), (R, 3 * D)] * 3 + [(D, D)] * 3 + [(D, D)] + [(D, D), (C, D), (C, D), (D, D)] + [(D, 4 * D), (4 * D, D)]
    assert shapes == expected


def test_concat_condition_frame_feeds_the_last_conditioning_frame_to_every_frame():
    B, C, T, H, W = 3, 16, 4, 4, 6
    x = torch.randn(B, C, T, H, W, generator=torch.Generator().manual_seed(3))
    num_cond = [1, 2, 0]
    mask = torch.zeros(B, 1, T, H, W)
    for b, n in enumerate(num_cond):
        mask[b, :, :n] = 1.0
    got = MiniTrainDIT._last_condition_frame(x, mask)
    for b, n in enumerate(num_cond):  # reference: loop over samples
        want = torch.zeros(C, T, H, W) if n == 0 else x[b, :, n - 1 : n].expand(C, T, H, W)
        torch.testing.assert_close(got[b], want, rtol=0, atol=0)
    assert not MiniTrainDIT._last_condition_frame(x, None).any()

    net = _net(concat_condition_frame=True)
    assert net.x_embedder.proj[-1].in_features == (2 * C + 2) * 2 * 2  # x ++ cond frame ++ cond mask ++ padding
    x_in = net._prepare_input(x, mask, None)  # (B, 2C+2, T, H, W)
    torch.testing.assert_close(x_in[:, :C], x, rtol=0, atol=0)
    torch.testing.assert_close(x_in[:, C : 2 * C], got, rtol=0, atol=0)
    torch.testing.assert_close(x_in[:, 2 * C : 2 * C + 1], mask, rtol=0, atol=0)
    _, t, ctx = _inputs(B=B, T=T, H=H, W=W)
    with torch.no_grad():
        assert net(x, t, ctx, mask).shape == x.shape


@pytest.mark.parametrize("patch", [1, 2])
def test_output_is_a_contiguous_tensor_of_its_own(patch):
    """FSDP2 attaches its pre-backward hook to the net's output; a strided view of an internal tensor would let
    an in-place op on it skip that hook, so the output must not be a non-contiguous view."""
    x, t, ctx = _inputs()
    out = _net(patch_spatial=patch)(x, t, ctx)
    assert out.shape == x.shape and out.is_contiguous()
