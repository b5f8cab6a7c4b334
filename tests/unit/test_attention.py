"""Attention dispatch: backend names, lazy optional imports, missing-backend message, numerics."""

import importlib.util

import pytest
import torch

from cosmos_predict2.models.attention import (
    BACKENDS,
    Attention,
    AttentionBackendUnavailable,
    normalize_backend,
)
from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.presets import net_kwargs


def _reference_attention_f64(q, k, v):
    """Plain softmax(q k^T / sqrt(d)) v in float64, (B, S, H, D) layout."""
    q, k, v = (t.double() for t in (q, k, v))
    scores = torch.einsum("bshd,bnhd->bhsn", q, k) / q.shape[-1] ** 0.5
    return torch.einsum("bhsn,bnhd->bshd", scores.softmax(dim=-1), v)


def test_backend_names_and_aliases():
    assert BACKENDS == ("torch", "flash", "transformer_engine")
    assert normalize_backend("torch") == "torch"
    assert normalize_backend("minimal_a2a") == "torch"  # upstream config name: local op is torch SDPA
    assert normalize_backend("TE") == "transformer_engine"
    with pytest.raises(ValueError, match="atten_backend=torch"):
        Attention("xformers")


def test_attention_is_a_parameter_free_leaf():
    op = Attention()
    assert op.backend == "torch"
    assert list(op.parameters()) == [] and list(op.children()) == [] and op.state_dict() == {}


@pytest.mark.parametrize("shape_q,shape_kv", [((2, 37, 3, 16), (2, 37, 3, 16)), ((1, 20, 2, 32), (1, 7, 2, 32))])
def test_torch_backend_matches_float64_reference(shape_q, shape_kv):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(shape_q, generator=g)
    k, v = torch.randn(shape_kv, generator=g), torch.randn(shape_kv, generator=g)
    out = Attention("torch")(q, k, v)
    assert out.shape == shape_q
    torch.testing.assert_close(out.double(), _reference_attention_f64(q, k, v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend,package", [("flash", "flash_attn"), ("transformer_engine", "transformer_engine")])
def test_missing_backend_error_says_what_to_install_and_how_to_switch(backend, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    op = Attention(backend)  # construction is lazy: no import yet
    q = torch.randn(1, 4, 2, 8)
    with pytest.raises(AttentionBackendUnavailable) as info:
        op(q, q, q)
    message = str(info.value)
    assert "pip install" in message
    assert ("flash-attn" if backend == "flash" else "transformer-engine") in message
    assert "model.config.net.atten_backend=torch" in message


def test_every_block_has_replaceable_self_and_cross_attention_ops():
    net = MiniTrainDIT(**net_kwargs("tiny", atten_backend="minimal_a2a"))
    for block in net.blocks:
        assert isinstance(block.self_attn.attn_op, Attention)
        assert isinstance(block.cross_attn.attn_op, Attention)
        assert block.self_attn.attn_op is not block.cross_attn.attn_op

    calls = []

    class Recording(torch.nn.Module):  # what a context-parallel wrapper would look like
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, q, k, v):
            calls.append(tuple(q.shape))
            return self.inner(q, k, v)

    x = torch.randn(1, 16, 2, 4, 4)
    ctx = torch.randn(1, 3, 32)
    before = net(x, torch.rand(1, 2), ctx)
    for block in net.blocks:
        block.self_attn.attn_op = Recording(block.self_attn.attn_op)
    after = net(x, torch.rand(1, 2) * 0 + 0.5, ctx)
    assert calls == [(1, 8, 4, 16)] * len(net.blocks)  # only self-attention, (B, S=T*H/2*W/2, H, D)
    assert before.shape == after.shape
    assert sorted(net.state_dict()) == sorted(MiniTrainDIT(**net_kwargs("tiny")).state_dict())
