"""LoRA injection: stable base names, zero change at init, only adapters train, merge == unmerged."""

import pytest
import torch
from torch import nn

from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.presets import net_kwargs
from cosmos_predict2.models.lora import LoRALinear, inject_lora, lora_parameters, merge_lora


def _net():
    torch.manual_seed(0)
    return MiniTrainDIT(**net_kwargs("tiny", num_blocks=1, model_channels=32, num_heads=2, adaln_lora_dim=8))


def _inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 2, 4, 4, generator=g)
    return (x, torch.rand(1, 2, generator=g), torch.randn(1, 3, 32, generator=g)), dict(
        condition_video_input_mask_B_C_T_H_W=torch.zeros(1, 1, 2, 4, 4), padding_mask=torch.zeros(1, 1, 4, 4))


def test_injection_keeps_names_and_output():
    net = _net()
    base_sd = {k: v.clone() for k, v in net.state_dict().items()}
    args, kw = _inputs()
    ref = net(*args, **kw)
    names = inject_lora(net, rank=4, alpha=8)
    assert names and all(isinstance(net.get_submodule(n), LoRALinear) for n in names)
    targets = ("q_proj", "k_proj", "v_proj", "output_proj", "mlp.layer1", "mlp.layer2")
    assert all(n.endswith(targets) for n in names)
    assert any(".cross_attn." in n or "cross" in n for n in names)  # cross-attention projections too
    sd = net.state_dict()
    assert set(base_sd) <= set(sd)  # base names unchanged: released weights still load
    extra = set(sd) - set(base_sd)
    assert extra == {f"{n}.lora_A.weight" for n in names} | {f"{n}.lora_B.weight" for n in names}
    torch.testing.assert_close(net(*args, **kw), ref)  # B = 0 -> unchanged
    net.load_state_dict(base_sd, strict=False)  # loading base weights after injection works


def test_only_adapters_get_grads_and_merge_matches():
    net = _net()
    inject_lora(net, rank=4, alpha=8, init_lora_weights=False)  # random B so the adapter is active
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    assert all(p.dtype == torch.float32 for p in lora_parameters(net))
    args, kw = _inputs()
    out = net(*args, **kw)
    out.square().mean().backward()
    for n, p in net.named_parameters():
        assert (p.grad is not None) == p.requires_grad, n
    sd = {f"net.{k}": v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        unmerged = net(*args, **kw)
        merge_lora(net)
        assert not any(isinstance(m, LoRALinear) for m in net.modules())
        torch.testing.assert_close(net(*args, **kw), unmerged, rtol=1e-5, atol=1e-5)
    # state-dict merge == module merge
    merged_sd = merge_lora(sd, alpha=8)
    assert not any("lora_" in k for k in merged_sd)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(merged_sd[f"net.{k}"], v, rtol=1e-6, atol=1e-6)


def test_hand_computed_and_errors():
    lin = nn.Linear(3, 2)
    wrapped = LoRALinear(lin, rank=1, alpha=2)
    with torch.no_grad():
        wrapped.lora_A.weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
        wrapped.lora_B.weight.copy_(torch.tensor([[0.5], [-1.0]]))
    x = torch.tensor([[1.0, 0.0, -1.0]])
    expected = lin(x) + 2.0 * (x @ torch.tensor([[1.0, 2.0, 3.0]]).T) @ torch.tensor([[0.5, -1.0]])
    torch.testing.assert_close(wrapped(x), expected)
    with pytest.raises(ValueError, match="no nn.Linear matches"):
        inject_lora(nn.Sequential(nn.Linear(2, 2)), target_modules="q_proj")
    with pytest.raises(ValueError, match="alpha"):
        merge_lora({"a.weight": torch.zeros(2, 2)})
