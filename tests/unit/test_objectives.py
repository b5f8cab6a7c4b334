"""Diffusion objectives vs independent float64 re-implementations of the upstream formulas."""

import math

import pytest
import torch

from cosmos_predict2.diffusion.objectives import EDMObjective, RectifiedFlowEDMObjective, RectifiedFlowObjective

B, C, T, H, W = 3, 4, 4, 2, 3


class RecordingNet:
    """Deterministic affine 'network' that records what it was called with."""

    def __init__(self, a=0.7, b=0.3, cond_bump=0.0, mask=None):
        self.a, self.b, self.cond_bump, self.mask = a, b, cond_bump, mask
        self.calls = []

    def __call__(self, x, ts_B_T):
        self.calls.append((x.detach().clone(), ts_B_T.detach().clone()))
        out = self.a * x + self.b * ts_B_T[:, None, :, None, None] + 0.1
        if self.mask is not None:  # huge garbage on conditioning frames must not matter
            out = out + self.cond_bump * self.mask
        return out


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(B, C, T, H, W, generator=g)
    mask = torch.zeros(B, 1, T, 1, 1)
    mask[0, :, :1] = 1
    mask[1, :, :2] = 1  # sample 2 has no conditioning frames
    return x0, mask


def test_rf_edm_loss_matches_float64_reference():
    x0, mask = _data()
    obj = RectifiedFlowEDMObjective()
    net = RecordingNet()
    loss, out = obj.training_loss(net, x0, mask, generator=torch.Generator().manual_seed(1))
    x0d, m = x0.double(), mask.double()
    sigma = out["sigma"].double().view(B, 1, 1, 1, 1)
    eps = out["noise"].double()
    x_t = x0d + sigma * eps
    sig_f = torch.where(m.bool(), torch.full_like(m, 1e-4), sigma.expand(B, 1, T, 1, 1))
    t_f = sig_f / (1 + sig_f)
    x_in = torch.where(m.bool(), x0d, x_t)
    net_in = (1 - t_f) * x_in
    F = 0.7 * net_in + 0.3 * t_f + 0.1
    x0_hat = (1 - t_f) * x_in - t_f * F
    x0_hat = torch.where(m.bool(), x0d, x0_hat)
    ref = (((x0d - x0_hat) ** 2) * (1 + sigma) ** 2 / sigma**2).mean() * 10.0
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    # what the net saw: the RF interpolant on noisy frames, ~GT on conditioning frames, t per frame
    x_seen, ts_seen = net.calls[0]
    torch.testing.assert_close(x_seen.double(), net_in, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ts_seen.double(), t_f[:, 0, :, 0, 0], rtol=1e-5, atol=1e-7)


def test_rf_edm_preconditioning_identities():
    obj = RectifiedFlowEDMObjective()
    sigma = torch.tensor([0.01, 0.5, 1.0, 7.0, 300.0], dtype=torch.float64)
    x0, eps = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = obj.scaling(sigma)
    t = sigma / (1 + sigma)
    torch.testing.assert_close(c_in * (x0 + sigma * eps), (1 - t) * x0 + t * eps)  # RF interpolant
    torch.testing.assert_close(c_noise, t)
    # with F = eps - x0 (perfect velocity) the x0 reconstruction is exact
    torch.testing.assert_close(c_skip * (x0 + sigma * eps) + c_out * (eps - x0), x0)


def test_rf_edm_loss_equals_uniform_velocity_loss():
    x0, mask = _data(3)
    obj = RectifiedFlowEDMObjective()
    loss, out = obj.training_loss(RecordingNet(), x0.double(), mask.double(), generator=torch.Generator().manual_seed(4))
    v = out["noise"] - x0.double()
    vel = (((out["net_output"] - v) ** 2) * (1 - mask.double())).mean() * 10.0
    torch.testing.assert_close(loss, vel, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("objective", [RectifiedFlowEDMObjective(), RectifiedFlowObjective(), EDMObjective()])
def test_conditioning_frames_have_zero_loss(objective):
    x0, mask = _data(5)
    g = lambda: torch.Generator().manual_seed(6)  # noqa: E731
    l0, _ = objective.training_loss(RecordingNet(mask=mask), x0, mask, generator=g())
    l1, _ = objective.training_loss(RecordingNet(cond_bump=1e4, mask=mask), x0, mask, generator=g())
    torch.testing.assert_close(l0, l1)
    # gradient w.r.t. the network output is exactly zero on conditioning frames
    holder = {}

    def net(x, ts):
        out = (0.5 * x + 0.2).requires_grad_(True)
        holder["out"] = out
        return out

    loss, _ = objective.training_loss(net, x0, mask, generator=g())
    loss.backward()
    grad = holder["out"].grad
    assert torch.all(grad * mask == 0)
    assert grad[2].abs().sum() > 0


def test_rf_edm_sigma_distribution_and_high_sigma():
    obj = RectifiedFlowEDMObjective()
    s = obj.sample_sigma(20000, 4, torch.Generator().manual_seed(0))
    z = torch.log(s / 2.0)  # sqrt(state_t) = 2
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1.0) < 0.03
    obj_hi = RectifiedFlowEDMObjective(high_sigma_ratio=0.25)
    s_hi = obj_hi.sample_sigma(20000, 4, torch.Generator().manual_seed(0))
    hi = s_hi >= 200
    assert abs(hi.float().mean().item() - 0.25) < 0.02
    assert s_hi.max() <= 1e5 * 1.0001
    lu = (torch.log(s_hi[hi]) - math.log(200)) / (math.log(1e5) - math.log(200))  # log-uniform -> U(0,1)
    assert abs(lu.mean().item() - 0.5) < 0.02
    obj_noadj = RectifiedFlowEDMObjective(adjust_video_noise=False)
    s2 = obj_noadj.sample_sigma(20000, 4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(s2 * 2.0, s)


def test_rf_loss_matches_float64_reference_and_time_distribution():
    x0, mask = _data(7)
    obj = RectifiedFlowObjective(shift=5.0)
    net = RecordingNet()
    loss, out = obj.training_loss(net, x0, mask, generator=torch.Generator().manual_seed(8))
    x0d, m = x0.double(), mask.double()
    t = out["t"].double().view(B, 1, 1, 1, 1)
    eps = out["noise"].double()
    x_t = t * eps + (1 - t) * x0d
    x_in = torch.where(m.bool(), x0d, x_t)
    v_hat = 0.7 * x_in + 0.3 * 1000 * t + 0.1  # the net sees timesteps 1000 t (its timestep_scale undoes it)
    v = eps - x0d
    v_hat = torch.where(m.bool(), v, v_hat)
    ref = ((v_hat - v) ** 2).mean(dim=(1, 2, 3, 4)).mean()
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    x_seen, ts_seen = net.calls[0]
    torch.testing.assert_close(x_seen.double(), x_in, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ts_seen.double(), 1000 * t[:, 0, 0, 0, 0][:, None].expand(B, T), rtol=1e-6, atol=1e-4)
    # logitnormal + shift: undo the shift, the logit is N(0,1)
    ts = obj.sample_t(20000, torch.Generator().manual_seed(0)).double()
    u = ts / (5.0 - 4.0 * ts)
    z = torch.log(u / (1 - u))
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1.0) < 0.03
    uni = RectifiedFlowObjective(shift=1.0, train_time_distribution="uniform").sample_t(20000, torch.Generator().manual_seed(0))
    assert abs(uni.mean().item() - 0.5) < 0.01 and abs(uni.var().item() - 1 / 12) < 0.005


def test_rf_denoise_keeps_condition_frames_on_track():
    obj = RectifiedFlowObjective()
    x0, mask = _data(9)
    x0 = x0.double()
    eps = torch.randn_like(x0)
    t = torch.full((B,), 0.3, dtype=torch.float64)
    x_t = 0.3 * eps + 0.7 * x0
    v = obj.denoise(RecordingNet(), x_t, t, mask.double(), x0)
    x0_hat = x_t - 0.3 * v
    torch.testing.assert_close(x0_hat * mask, x0 * mask)


def test_edm_loss_matches_float64_reference():
    torch.manual_seed(0)
    x0, mask = _data(10)
    obj = EDMObjective()
    net = RecordingNet()
    loss, out = obj.training_loss(net, x0, mask, generator=torch.Generator().manual_seed(11))
    sd = 0.5
    x0d, m = x0.double(), mask.double()
    sigma = out["sigma"].double().view(B, 1, 1, 1, 1)
    aug = out["augment_sigma"].double().view(B, 1, 1, 1, 1)
    eps, n = out["noise"].double(), out["augment_noise"].double()
    x_t = x0d + sigma * eps
    c_in = 1 / torch.sqrt(sigma**2 + sd**2)
    c_noise = 0.25 * torch.log(sigma)
    cond_in = (x0d + aug * n) / torch.sqrt(aug**2 + sd**2)
    net_in = torch.where(m.bool(), cond_in, c_in * x_t)
    F = 0.7 * net_in + 0.3 * c_noise + 0.1
    x0_hat = sd**2 / (sigma**2 + sd**2) * x_t + sigma * sd / torch.sqrt(sigma**2 + sd**2) * F
    x0_hat = torch.where(m.bool(), x0d, x0_hat)
    edm = (x0d - x0_hat) ** 2 * (sigma**2 + sd**2) / (sigma * sd) ** 2
    lv = obj.logvar
    feats = math.sqrt(2) * torch.cos(c_noise.view(B, 1) * lv.fourier.freqs.double() + lv.fourier.phases.double())
    logvar = (feats @ lv.linear.weight.double().T + lv.linear.bias.double()).view(B, 1, 1, 1, 1)
    ref = (edm * torch.exp(-logvar) + logvar).mean()
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    # augment sigma = exp(N(0,1)) * 4
    assert obj.trainable_modules()["logvar"] is obj.logvar
    loss.backward()
    assert obj.logvar.linear.weight.grad is not None and obj.logvar.linear.weight.grad.abs().sum() > 0


def test_bad_shapes_raise():
    obj = RectifiedFlowObjective()
    with pytest.raises(ValueError, match="B,C,T,H,W"):
        obj.training_loss(RecordingNet(), torch.zeros(2, 3, 4), None)
    with pytest.raises(ValueError, match="condition mask"):
        obj.training_loss(RecordingNet(), torch.zeros(B, C, T, H, W), torch.zeros(B, T))
    with pytest.raises(ValueError, match="sigma_data"):
        RectifiedFlowEDMObjective(sigma_data=0.5)


@pytest.mark.parametrize("objective", [RectifiedFlowEDMObjective(), RectifiedFlowObjective(), EDMObjective()])
def test_dropped_video_condition_zero_state(objective):
    """With the video condition dropped the net sees zeros on conditioning frames; still no loss there."""
    x0, mask = _data(12)
    net = RecordingNet()
    loss, out = objective.training_loss(net, x0, mask, generator=torch.Generator().manual_seed(13),
                                        condition_state_B_C_T_H_W=torch.zeros_like(x0))
    assert torch.isfinite(loss)
    x_seen = net.calls[0][0]
    if not isinstance(objective, EDMObjective):  # P1 adds its augmentation noise to the (zero) state
        assert torch.all(x_seen[mask.bool().expand_as(x_seen)] == 0)
    l2, _ = objective.training_loss(RecordingNet(cond_bump=1e3, mask=mask), x0, mask,
                                    generator=torch.Generator().manual_seed(13),
                                    condition_state_B_C_T_H_W=torch.zeros_like(x0))
    torch.testing.assert_close(loss, l2)


def test_edm_inference_augmentation_matches_upstream_formula():
    """Predict1 at inference: conditioning frames enter the net as c_in(0.001) * (gt + 0.001 n) at the frame-wide
    c_noise(sigma) (the net is not told 0.001), come out as the clean gt; below sigma 0.001 they are denoised."""
    obj = EDMObjective()
    x0, mask = _data(21)
    x0, m = x0.double(), mask.double()
    g = torch.Generator().manual_seed(3)
    n = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = torch.randn(x0.shape, generator=g, dtype=torch.float64) * 2.0
    sd, s_a = 0.5, 0.001
    for sigma in (2.0, 0.0005):
        net = RecordingNet()
        x0_hat = obj.denoise(net, x_t, torch.full((B,), sigma, dtype=torch.float64), m, x0, augment_noise=n)
        net_in, ts = net.calls[-1]
        active = m * (1.0 if sigma > s_a else 0.0)  # upstream zeroes the indicator once s_a >= sigma
        cond_in = (x0 + s_a * n) / math.sqrt(s_a**2 + sd**2)
        gen_in = x_t / math.sqrt(sigma**2 + sd**2)
        torch.testing.assert_close(net_in, torch.where(active.bool(), cond_in, gen_in))
        torch.testing.assert_close(ts, torch.full((B, T), 0.25 * math.log(sigma), dtype=torch.float64))
        F = 0.7 * net_in + 0.3 * 0.25 * math.log(sigma) + 0.1
        ref = sd**2 / (sigma**2 + sd**2) * x_t + sigma * sd / math.sqrt(sigma**2 + sd**2) * F
        torch.testing.assert_close(x0_hat, torch.where(active.bool(), x0, ref))
