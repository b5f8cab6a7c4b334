"""Optimizer builder: AdamW over trainable params, hyper-parameters, fused auto-selection, errors."""

import pytest
import torch
from torch import nn

from cosmos_predict2.trainer.optim import build_optimizer


def _model():
    m = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    m[0].weight.requires_grad_(False)
    return m


def test_adamw_over_trainable_params_with_upstream_defaults():
    m = _model()
    opt = build_optimizer(m, name="fusedadamw", capturable=True, adam_w_mode=True)
    assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 1
    g = opt.param_groups[0]
    assert (g["lr"], g["weight_decay"], tuple(g["betas"]), g["eps"]) == (1e-4, 0.1, (0.9, 0.99), 1e-8)
    assert not g["fused"]  # CPU -> plain implementation
    ids = {id(p) for p in g["params"]}
    assert id(m[0].weight) not in ids and ids == {id(p) for p in m.parameters() if p.requires_grad}


def test_one_step_matches_hand_computed_adamw():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = build_optimizer([p], name="adamw", lr=0.1, weight_decay=0.5, betas=[0.9, 0.999], eps=1e-8)
    p.grad = torch.tensor([0.5, 0.25])
    opt.step()
    # step 1: m_hat = g, v_hat = g^2 -> update = g/(|g|+eps) = sign(g); decoupled decay p *= (1 - lr*wd)
    expected = torch.tensor([1.0, -2.0]) * (1 - 0.1 * 0.5) - 0.1 * torch.tensor([1.0, 1.0])
    torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="name"):
        build_optimizer(_model(), name="sgd")
    with pytest.raises(ValueError, match="unknown arguments"):
        build_optimizer(_model(), momentum=0.9)
    with pytest.raises(ValueError, match="master_weights"):
        build_optimizer(_model().to(torch.bfloat16), name="fusedadamw")
    assert build_optimizer(_model().to(torch.bfloat16), master_weights=False) is not None
    with pytest.raises(ValueError, match="CUDA"):
        build_optimizer(_model(), fused=True)
    frozen = _model().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        build_optimizer(frozen)
