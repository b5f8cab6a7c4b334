"""Power EMA: gamma root, beta schedule, update rule vs a float64 reference, name checks."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from cosmos_predict2.models.ema import PowerEMA, power_ema_beta, power_ema_gamma


def test_gamma_and_beta():
    g = power_ema_gamma(0.10)
    assert abs(g - 6.9372) < 1e-4
    assert abs(g**3 + 7 * g**2 + (16 - 100) * g + (12 - 100)) < 1e-9
    assert power_ema_beta(0, g) == 0.0
    assert power_ema_beta(9, g) == pytest.approx(0.9 ** (g + 1))
    ema = PowerEMA(0.10, iteration_shift=5)
    assert ema.beta(5) == 0.0 and ema.beta(6) == pytest.approx(0.5 ** (g + 1))
    with pytest.raises(ValueError, match="rate"):
        power_ema_gamma(0.5)


def test_update_matches_float64_reference():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(torch.bfloat16)
    ema_net = copy.deepcopy(net).float()
    ema = PowerEMA(0.10)
    ref = None
    for it in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        beta = ema.update(ema_net, net, it)
        theta = [p.detach().double() for p in net.parameters()]
        ref = theta if ref is None else [beta * r + (1 - beta) * t for r, t in zip(ref, theta)]
    for e, r in zip(ema_net.parameters(), ref):
        assert e.dtype == torch.float32
        np.testing.assert_allclose(e.detach().double().numpy(), r.numpy(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ema_net[1].running_mean, net[1].running_mean.float())
    target = copy.deepcopy(net).float()
    ema.copy_to(ema_net, target)
    for a, b in zip(target.parameters(), ema_net.parameters()):
        assert torch.equal(a, b)


def test_structure_mismatch_raises():
    with pytest.raises(ValueError, match="differ"):
        PowerEMA().update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)), 1)


def test_update_on_fsdp2_dtensors(tmp_path):
    """The EMA update works shard-locally on DTensor parameters (FSDP2 wraps net and EMA net alike)."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if dist.is_initialized():
        pytest.skip("a process group already exists in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,))
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
        ema_net = copy.deepcopy(net)
        plain_net, plain_ema = copy.deepcopy(net), copy.deepcopy(net)
        fully_shard(net, mesh=mesh)
        fully_shard(ema_net, mesh=mesh)
        assert hasattr(next(net.parameters()), "device_mesh")
        ema = PowerEMA(0.10)
        for it in range(3):
            with torch.no_grad():
                for p, q in zip(net.parameters(), plain_net.parameters()):
                    d = torch.randn(q.shape)
                    q.add_(d)
                    p.to_local().add_(d)  # world size 1: the local shard is the whole tensor
            ema.update(ema_net, net, it)
            ema.update(plain_ema, plain_net, it)
        for a, b in zip(ema_net.parameters(), plain_ema.parameters()):
            torch.testing.assert_close(a.full_tensor(), b)
    finally:
        dist.destroy_process_group()
