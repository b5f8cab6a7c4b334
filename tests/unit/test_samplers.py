"""Samplers on analytic cases (Gaussian data: exact denoiser and exact ODE solution known), call counts,
guidance, conditioning frames, seeds, and UniPC vs diffusers' UniPCMultistepScheduler."""

import math

import pytest
import torch

from cosmos_predict2.diffusion.samplers import (
    EDMSampler,
    FlowUniPCSampler,
    RectifiedFlowAB2Sampler,
    flow_sigmas,
    karras_sigmas,
)

SHAPE = (2, 4, 3, 8, 8)
MU, S = 0.7, 0.5


def ve_gaussian_x0(x, sigma_B):
    """E[x0 | x0 + sigma*eps = x] for x0 ~ N(MU, S^2)."""
    s2 = sigma_B.view(-1, 1, 1, 1, 1) ** 2
    return MU + S**2 / (S**2 + s2) * (x - MU)


def flow_gaussian_v(x, t_B):
    """E[eps - x0 | t*eps + (1-t)*x0 = x] for x0 ~ N(MU, S^2)."""
    t = t_B.view(-1, 1, 1, 1, 1)
    V = t**2 + (1 - t) ** 2 * S**2
    r = x - (1 - t) * MU
    return t / V * r - (MU + (1 - t) * S**2 / V * r)


def test_schedules():
    k = karras_sigmas(35, 0.002, 80.0, 7.0)
    assert len(k) == 36 and abs(k[0] - 80) < 1e-9 and abs(k[-1] - 0.002) < 1e-12
    i = 17
    ref = (80 ** (1 / 7) + i / 35 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    assert abs(k[i].item() - ref) < 1e-9
    f = flow_sigmas(35, 5.0)
    assert len(f) == 36 and f[-1] == 0
    u = 0.999 - 0.999 * 3 / 35
    assert abs(f[3].item() - 5 * u / (1 + 4 * u)) < 1e-12


@pytest.mark.parametrize("sampler", [RectifiedFlowAB2Sampler(guidance=0.0), EDMSampler(guidance=0.0),
                                     EDMSampler(guidance=0.0, solver="heun")])
def test_sigma_samplers_solve_gaussian_ode_exactly(sampler):
    eps = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # exact probability-flow ODE solution from sigma_max to sigma_min, then the exact denoiser
    s_max, s_min = 80.0, 0.002
    x_min = MU + math.sqrt(S**2 + s_min**2) / math.sqrt(S**2 + s_max**2) * (s_max * eps - MU)
    if getattr(sampler, "solver", "2ab") == "2ab":
        exact = MU + S**2 / (S**2 + s_min**2) * (x_min - MU)
    else:  # Heun integrates down to sigma = 0
        exact = MU + S / math.sqrt(S**2 + s_max**2) * (s_max * eps - MU)
    out = sampler.sample(ve_gaussian_x0, SHAPE, noise=eps)
    assert out.dtype == torch.float64
    err35 = (out - exact).abs().max().item()
    assert err35 < 0.04  # 35 Karras steps from sigma 80
    assert abs(out.mean().item() - MU) < 0.05 and abs(out.std().item() - S) < 0.03
    # second-order convergence: 4x the steps -> >= 8x smaller error
    err140 = (sampler.sample(ve_gaussian_x0, SHAPE, noise=eps, num_steps=140) - exact).abs().max().item()
    assert err140 < err35 / 8


def test_flow_unipc_solves_gaussian_ode_exactly():
    sampler = FlowUniPCSampler(guidance=0.0)
    eps = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    errs = []
    for n in (35, 140):
        out = sampler.sample(flow_gaussian_v, SHAPE, noise=eps, num_steps=n)
        t0 = flow_sigmas(n, 5.0)[0].item()
        V0 = t0**2 + (1 - t0) ** 2 * S**2
        exact = MU + S / math.sqrt(V0) * (eps - (1 - t0) * MU)  # exact flow ODE solution from t0 to 0
        errs.append((out - exact).abs().max().item())
        assert abs(out.mean().item() - MU) < 0.05 and abs(out.std().item() - S) < 0.03
    assert errs[0] < 0.05 and errs[1] < errs[0] / 6  # converges (last step is first order)


def test_flow_unipc_matches_diffusers():
    diffusers = pytest.importorskip("diffusers", reason="diffusers (optional, in the test extra) is the independent reference here")
    ref = diffusers.UniPCMultistepScheduler(
        use_flow_sigmas=True, flow_shift=5.0, prediction_type="flow_prediction", solver_order=2,
        solver_type="bh2", predict_x0=True, lower_order_final=True, final_sigmas_type="zero",
    )
    n = 12
    # diffusers' default flow sigmas are linspace(1, 1/1000, N+1)[:-1]; upstream (and we) use
    # linspace(0.999, 0, N+1)[:-1]: pass those so both solvers run on the same (shifted) schedule
    ref.set_timesteps(sigmas=torch.linspace(0.999, 0, n + 1, dtype=torch.float64)[:-1].numpy())
    ours = FlowUniPCSampler(num_steps=n, guidance=0.0)
    torch.testing.assert_close(ref.sigmas.double(), ours.sigmas(), rtol=0, atol=1e-6)

    def vel(x, t_B):  # a non-linear velocity field
        return flow_gaussian_v(x, t_B) + 0.3 * torch.tanh(x) * t_B.view(-1, 1, 1, 1, 1)

    eps = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = eps.clone()
    for i, ts in enumerate(ref.timesteps):
        t_B = torch.full((SHAPE[0],), ref.sigmas[i].item(), dtype=torch.float64)
        x = ref.step(vel(x, t_B), ts, x).prev_sample
    out = ours.sample(vel, SHAPE, noise=eps)
    torch.testing.assert_close(out, x.double(), rtol=0, atol=2e-4)  # diffusers keeps sigmas in float32


class Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self, x, s):
        self.calls += 1
        return torch.full_like(x, self.value)


@pytest.mark.parametrize("sampler,per_run", [(RectifiedFlowAB2Sampler(num_steps=6), 7), (EDMSampler(num_steps=6), 7),
                                             (FlowUniPCSampler(num_steps=6), 6)])
def test_one_network_call_per_step_without_guidance(sampler, per_run):
    c, u = Counter(1.0), Counter(-1.0)
    sampler.sample(c, SHAPE, uncond_fn=u, guidance=0.0)
    assert (c.calls, u.calls) == (per_run, 0)
    c, u = Counter(1.0), Counter(-1.0)
    sampler.sample(c, SHAPE, uncond_fn=u, guidance=2.0)
    assert (c.calls, u.calls) == (per_run, per_run)
    with pytest.raises(ValueError, match="uncond"):
        sampler.sample(c, SHAPE, guidance=1.0)


def test_guidance_formula():
    # x0 denoisers that return constants: the sampler's final x0 pass returns cond + g*(cond - uncond)
    out = RectifiedFlowAB2Sampler(num_steps=3).sample(Counter(1.0), SHAPE, uncond_fn=Counter(0.25), guidance=3.0)
    torch.testing.assert_close(out, torch.full(SHAPE, 1.0 + 3.0 * 0.75, dtype=torch.float64))


@pytest.mark.parametrize("sampler", [RectifiedFlowAB2Sampler(num_steps=5, guidance=0.0),
                                     FlowUniPCSampler(num_steps=5, guidance=0.0)])
def test_conditioning_frames_and_seeds(sampler):
    fn = ve_gaussian_x0 if sampler.prediction == "x0" else flow_gaussian_v
    mask = torch.zeros(SHAPE[0], 1, SHAPE[2], 1, 1)
    mask[:, :, :1] = 1
    gt = torch.randn(SHAPE, dtype=torch.float64)
    a = sampler.sample(fn, SHAPE, seed=3, condition_mask_B_1_T_1_1=mask, gt_B_C_T_H_W=gt)
    b = sampler.sample(fn, SHAPE, seed=3, condition_mask_B_1_T_1_1=mask, gt_B_C_T_H_W=gt)
    c = sampler.sample(fn, SHAPE, seed=4, condition_mask_B_1_T_1_1=mask, gt_B_C_T_H_W=gt)
    assert torch.equal(a, b) and not torch.equal(a[:, :, 1:], c[:, :, 1:])
    assert torch.equal(a[:, :, :1], gt[:, :, :1])
