"""Float32 parity of MiniTrainDIT with diffusers' CosmosTransformer3DModel (an independent implementation).

Weights go through models/key_maps.py; inputs use per-frame timesteps, a condition mask on the first
latent frame and a random padding mask. diffusers-specific conventions are listed in
models/diffusers_reference.py.
"""

import pytest
import torch

pytest.importorskip("diffusers", reason="diffusers (optional, in the test extra) is the independent reference here")

from cosmos_predict2.models.diffusers_reference import build_reference, reference_forward  # noqa: E402
from cosmos_predict2.models.dit import MiniTrainDIT  # noqa: E402
from cosmos_predict2.models.presets import net_kwargs  # noqa: E402


def _perturb(net: torch.nn.Module, scale: float, seed: int, only_constant: bool = False) -> None:
    """Make weights non-trivial (zero-initialised AdaLN outputs / unit norms would hide mapping errors).

    only_constant: perturb just the constant-initialised tensors (zeros / ones), cheap at large widths."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if only_constant and p.numel() > 1 and bool((p != p.flatten()[0]).any()):
                continue
            p.add_(torch.randn(p.shape, generator=g) * scale)


def _inputs(B, T, H, W, N, ctx_dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 16, T, H, W, generator=g)
    t = torch.rand(B, T, generator=g)  # a different timestep per latent frame
    ctx = torch.randn(B, N, ctx_dim, generator=g)
    cond = torch.zeros(B, 1, T, H, W)
    cond[:, :, 0] = 1.0
    pad = (torch.rand(1, 1, 8 * H, 8 * W, generator=g) > 0.7).float()
    return x, t, ctx, cond, pad


def _rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize(
    "preset,overrides",
    [
        ("tiny", {}),
        ("tiny", {"extra_per_block_abs_pos_emb": True, "rope_t_extrapolation_ratio": 0.8333333333333334}),
        ("tiny_p25", {}),
    ],
)
def test_tiny_parity_with_diffusers(preset, overrides):
    torch.manual_seed(0)
    net = MiniTrainDIT(**net_kwargs(preset, **overrides)).eval()
    _perturb(net, 0.05, seed=1)
    ref = build_reference(net).eval()
    ctx_dim = net.crossattn_proj[0].in_features if net.use_crossattn_projection else net.crossattn_emb_channels
    x, t, ctx, cond, pad = _inputs(2, 3, 8, 12, 5, ctx_dim)
    with torch.no_grad():
        ours = net(x, t, ctx, cond, padding_mask=pad.expand(2, -1, -1, -1))
        theirs = reference_forward(ref, x, t, ctx, cond, pad)
    assert ours.shape == theirs.shape == (2, 16, 3, 8, 12)
    assert _rel_err(ours, theirs) < 1e-5


def test_realistic_width_parity_with_diffusers():
    """D=2048 / 16 heads of 128 (the 2B width), 1 block, 2x4x4 latent -> 8 tokens, 2B RoPE ratios."""
    torch.manual_seed(0)
    net = MiniTrainDIT(**net_kwargs("2B", num_blocks=1)).eval()
    _perturb(net, 0.02, seed=2, only_constant=True)
    ref = build_reference(net).eval()
    x, t, ctx, cond, pad = _inputs(1, 2, 4, 4, 4, 1024, seed=3)
    with torch.no_grad():
        ours = net(x, t, ctx, cond, padding_mask=pad)
        theirs = reference_forward(ref, x, t, ctx, cond, pad)
    del ref
    assert _rel_err(ours, theirs) < 1e-5


def test_concat_condition_frame_parity_with_diffusers():
    """A concat_condition_frame net is diffusers' model with 2C+1 input channels fed x ++ last conditioning frame."""
    torch.manual_seed(0)
    net = MiniTrainDIT(**net_kwargs("tiny", concat_condition_frame=True)).eval()
    _perturb(net, 0.05, seed=1)
    ref = build_reference(net).eval()
    x, t, ctx, cond, pad = _inputs(2, 3, 8, 12, 5, net.crossattn_emb_channels)
    with torch.no_grad():
        ours = net(x, t, ctx, cond, padding_mask=pad.expand(2, -1, -1, -1))
        x_cat = torch.cat([x, MiniTrainDIT._last_condition_frame(x, cond)], dim=1)
        theirs = reference_forward(ref, x_cat, t, ctx, cond, pad)
    assert ours.shape == theirs.shape == (2, 16, 3, 8, 12)
    assert _rel_err(ours, theirs) < 1e-5
