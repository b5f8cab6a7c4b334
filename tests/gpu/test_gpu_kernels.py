"""On CUDA: bf16 DiT forward/backward, and every installed attention backend agrees with the torch one."""

import importlib.util

import pytest
import torch

from cosmos_predict2.models.attention import Attention
from cosmos_predict2.models.dit import MiniTrainDIT

pytestmark = pytest.mark.gpu


def _net(backend: str) -> MiniTrainDIT:
    torch.manual_seed(0)
    return MiniTrainDIT(max_img_h=32, max_img_w=32, max_frames=8, model_channels=256, num_blocks=2, num_heads=2,
                        crossattn_emb_channels=64, adaln_lora_dim=32, atten_backend=backend)


def test_bf16_dit_step_on_cuda():
    net = _net("torch").cuda().to(torch.bfloat16)
    x = torch.randn(2, 16, 3, 16, 16, device="cuda", dtype=torch.bfloat16)
    t = torch.rand(2, 3, device="cuda", dtype=torch.bfloat16)
    ctx = torch.randn(2, 8, 64, device="cuda", dtype=torch.bfloat16)
    out = net(x, t, ctx)
    out.float().pow(2).mean().backward()
    assert out.shape == x.shape and torch.isfinite(out.float()).all()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("backend,module", [("flash", "flash_attn"), ("transformer_engine", "transformer_engine")])
def test_optional_backends_match_torch(backend, module):
    if importlib.util.find_spec(module) is None and not (backend == "flash" and importlib.util.find_spec("flash_attn_interface")):
        pytest.skip(f"{module} not installed")
    q, k, v = (torch.randn(2, 64, 2, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    ref = Attention("torch")(q, k, v).float()
    out = Attention(backend)(q, k, v).float()
    torch.testing.assert_close(out, ref, atol=2e-2, rtol=2e-2)
