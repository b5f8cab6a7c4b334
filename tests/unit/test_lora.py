"""LoRA / DoRA injection through PEFT: stable base names, zero change at init, only adapters train,
merge == unmerged."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from cosmos_predict2.checkpoint.weights import load_weights
from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.lora import (checkpoint_key, inject_lora, is_lora_layer, lora_parameters, merge_adapter,
                                         merge_lora)
from cosmos_predict2.models.presets import net_kwargs


def _net():
    torch.manual_seed(0)
    return MiniTrainDIT(**net_kwargs("tiny", num_blocks=1, model_channels=32, num_heads=2, adaln_lora_dim=8))


def _inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 2, 4, 4, generator=g)
    return (x, torch.rand(1, 2, generator=g), torch.randn(1, 3, 32, generator=g)), dict(
        condition_video_input_mask_B_C_T_H_W=torch.zeros(1, 1, 2, 4, 4), padding_mask=torch.zeros(1, 1, 4, 4))


@pytest.mark.parametrize("use_dora", [False, True])
def test_injection_keeps_names_and_output(tmp_path, use_dora):
    net = _net()
    base_sd = {k: v.clone() for k, v in net.state_dict().items()}
    args, kw = _inputs()
    ref = net(*args, **kw)
    names = inject_lora(net, rank=4, alpha=8, use_dora=use_dora)
    assert names and all(is_lora_layer(net.get_submodule(n)) for n in names)
    targets = ("q_proj", "k_proj", "v_proj", "output_proj", "mlp.layer1", "mlp.layer2")
    assert all(n.endswith(targets) for n in names)
    assert any(".cross_attn." in n or "cross" in n for n in names)  # cross-attention projections too
    sd = {checkpoint_key(k): v for k, v in net.state_dict().items()}
    assert set(base_sd) <= set(sd)  # base checkpoint keys unchanged: released weights still load
    extra = set(sd) - set(base_sd)
    parts = ("lora_A", "lora_B") + (("lora_magnitude_vector",) if use_dora else ())
    assert extra == {f"{n}.{p}.default.weight" for n in names for p in parts}
    torch.testing.assert_close(net(*args, **kw), ref)  # B = 0 (DoRA: m = ||W||) -> unchanged
    # loading base weights after injection works (the weight loader, released key names)
    holder = nn.Module()
    holder.net = net
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    torch.save({f"net.{k}": v for k, v in base_sd.items()}, tmp_path / "base.pt")
    report = load_weights(holder, str(tmp_path / "base.pt"))
    assert sorted(report.new) == sorted(f"net.{k}" for k in extra)
    loaded = {checkpoint_key(k): v for k, v in net.state_dict().items()}
    for k, v in base_sd.items():
        assert torch.equal(loaded[k], v), k
    torch.testing.assert_close(net(*args, **kw), ref)  # new DoRA magnitudes start from the loaded base weights


@pytest.mark.parametrize("use_dora", [False, True])
def test_only_adapters_get_grads_and_merge_matches(use_dora):
    net = _net()
    inject_lora(net, rank=4, alpha=8, init_lora_weights=False, use_dora=use_dora)  # random B: the adapter is active
    if use_dora:
        with torch.no_grad():  # magnitudes away from ||W + s B A|| so they matter
            for n, p in net.named_parameters():
                if "lora_magnitude_vector" in n:
                    p.mul_(torch.rand_like(p) + 0.5)
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all("lora_A" in n or "lora_B" in n or "lora_magnitude_vector" in n for n in trainable)
    assert any("lora_magnitude_vector" in n for n in trainable) == use_dora
    assert all(p.dtype == torch.float32 for p in lora_parameters(net))
    args, kw = _inputs()
    out = net(*args, **kw)
    out.square().mean().backward()
    for n, p in net.named_parameters():
        assert (p.grad is not None) == p.requires_grad, n
    sd = {f"net.{checkpoint_key(k)}": v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        unmerged = net(*args, **kw)  # the unmerged PEFT model is the reference
        merge_lora(net)
        assert not any(is_lora_layer(m) for m in net.modules())
        torch.testing.assert_close(net(*args, **kw), unmerged, rtol=1e-5, atol=1e-5)
    # state-dict merge == module merge
    merged_sd = merge_lora(sd, alpha=8)
    assert not any("lora_" in k for k in merged_sd)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(merged_sd[f"net.{k}"], v, rtol=1e-6, atol=1e-6)


def test_hand_computed_and_errors():
    net = nn.Sequential(OrderedDict(q_proj=nn.Linear(3, 2)))
    W, b = net.q_proj.weight.detach().clone(), net.q_proj.bias.detach().clone()
    inject_lora(net, rank=1, alpha=2, target_modules="q_proj")
    layer = net.q_proj
    A, B = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.5], [-1.0]])
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(A)
        layer.lora_B["default"].weight.copy_(B)
    x = torch.tensor([[1.0, 0.0, -1.0]])
    expected = x @ W.T + b + 2.0 * (x @ A.T) @ B.T
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(merge_adapter(W, A, B, alpha=2.0), W + 2.0 * B @ A)
    # DoRA: m / ||W + s B A||_row * (W + s B A), bias untouched
    m = torch.tensor([0.7, 1.9])
    V = W + 2.0 * B @ A
    W_dora = m[:, None] / V.norm(dim=1, keepdim=True) * V
    torch.testing.assert_close(merge_adapter(W, A, B, alpha=2.0, magnitude_O=m), W_dora)
    dora = nn.Sequential(OrderedDict(q_proj=nn.Linear(3, 2)))
    with torch.no_grad():
        dora.q_proj.weight.copy_(W)
        dora.q_proj.bias.copy_(b)
    inject_lora(dora, rank=1, alpha=2, target_modules="q_proj", use_dora=True)
    torch.testing.assert_close(dora.q_proj.lora_magnitude_vector["default"].weight, W.norm(dim=1))  # m = ||W||
    with torch.no_grad():
        dora.q_proj.lora_A["default"].weight.copy_(A)
        dora.q_proj.lora_B["default"].weight.copy_(B)
        dora.q_proj.lora_magnitude_vector["default"].weight.copy_(m)
    torch.testing.assert_close(dora.q_proj(x), x @ W_dora.T + b)
    with pytest.raises(ValueError, match="no nn.Linear matches"):
        inject_lora(nn.Sequential(nn.Linear(2, 2)), target_modules="q_proj")
    with pytest.raises(ValueError, match="already has adapters"):
        inject_lora(net, rank=1, alpha=1, target_modules="q_proj")
    with pytest.raises(ValueError, match="alpha"):
        merge_lora({"a.weight": torch.zeros(2, 2)})
