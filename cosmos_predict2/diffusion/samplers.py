"""Samplers: pure tensor code; the denoiser is a callable ``fn(x_B_C_T_H_W, sigma_or_t_B) -> prediction``.

- ``RectifiedFlowAB2Sampler`` (Predict2): Karras sigmas (0.002..80, rho 7, 35 steps), first step Euler in
  x0 form, then 2nd-order Adams-Bashforth in log-sigma (exponential integrator with a linear x0
  extrapolation), float64 state, final x0 pass at sigma_min. Expects x0 predictions.
- ``EDMSampler`` (Predict1): same Karras schedule; ``solver="2ab"`` (the multistep above, what upstream
  inference runs) or ``"heun"`` (EDM's deterministic 2nd-order Heun, 2 calls per step). Expects x0.
- ``FlowUniPCSampler`` (Predict2.5): UniPC (order 2, bh2, x0-prediction, predictor + free corrector,
  lower order at the end) over flow sigmas ``linspace(0.999, 0, N+1)[:-1]`` shifted by 5, final sigma 0.
  Expects velocity predictions ``v = eps - x0`` at flow time t = sigma.

Guidance: ``out = cond + g*(cond - uncond)`` (effective scale 1+g); with g == 0 the unconditional
denoiser is never called (one network call per evaluation). Conditioning frames (mask 1) are returned as
the given GT. Noise comes from a CPU ``torch.Generator`` seeded with ``seed``: identical on any device.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = ["EDMSampler", "FlowUniPCSampler", "RectifiedFlowAB2Sampler", "karras_sigmas", "flow_sigmas"]


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """num_steps+1 sigmas from sigma_max down to sigma_min (float64)."""
    i = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + i * (lo - hi)) ** rho


def flow_sigmas(num_steps: int, shift: float, sigma_max: float = 0.999) -> torch.Tensor:
    """num_steps sigmas ``linspace(sigma_max, 0, N+1)[:-1]`` shifted by ``shift``, plus a final 0 (float64)."""
    s = torch.linspace(sigma_max, 0.0, num_steps + 1, dtype=torch.float64)[:-1]
    s = shift * s / (1 + (shift - 1) * s)
    return torch.cat([s, s.new_zeros(1)])


class _Sampler:
    """Shared plumbing: noise, guidance, conditioning-frame replacement."""

    prediction = "x0"

    def __init__(self, num_steps: int = 35, guidance: float = 0.0):
        if int(num_steps) < 1:
            raise ValueError(f"{type(self).__name__}: num_steps must be >= 1, got {num_steps}.")
        self.num_steps = int(num_steps)
        self.guidance = float(guidance)

    @staticmethod
    def _guided(cond_fn: Denoiser, uncond_fn: Optional[Denoiser], g: float) -> Denoiser:
        if g != 0 and uncond_fn is None:
            raise ValueError(f"sampler: guidance={g} needs an unconditional denoiser (uncond_fn); use guidance=0.")

        def fn(x: torch.Tensor, s: float) -> torch.Tensor:
            s_B = torch.full((x.shape[0],), float(s), dtype=torch.float64, device=x.device)
            c = cond_fn(x, s_B).double()
            if g == 0:
                return c
            u = uncond_fn(x, s_B).double()
            return c + g * (c - u)

        return fn

    @staticmethod
    def _noise(shape: Sequence[int], seed: Optional[int], generator: Optional[torch.Generator], device) -> torch.Tensor:
        if generator is None:
            generator = torch.Generator("cpu").manual_seed(0 if seed is None else int(seed))
        return torch.randn(tuple(shape), generator=generator, dtype=torch.float64, device=generator.device).to(device)

    def initial_noise(self, shape: Sequence[int], seed: Optional[int] = 0, generator: Optional[torch.Generator] = None,
                      device=None) -> torch.Tensor:
        """The unit-normal float64 noise :meth:`sample` starts from for ``seed`` (for callers that reuse it, e.g.
        the Predict1 conditioning-frame augmentation)."""
        return self._noise(shape, seed, generator, device)

    @staticmethod
    def _keep_condition(x0: torch.Tensor, mask, gt) -> torch.Tensor:
        if mask is None or gt is None:
            return x0
        m = mask.to(x0.dtype)
        return gt.to(x0.dtype) * m + x0 * (1 - m)

    def sample(
        self,
        cond_fn: Denoiser,
        shape: Sequence[int],
        *,
        uncond_fn: Optional[Denoiser] = None,
        guidance: Optional[float] = None,
        num_steps: Optional[int] = None,
        seed: Optional[int] = 0,
        generator: Optional[torch.Generator] = None,
        noise: Optional[torch.Tensor] = None,
        device=None,
        condition_mask_B_1_T_1_1: Optional[torch.Tensor] = None,
        gt_B_C_T_H_W: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Return clean samples (float64) of ``shape``; ``noise`` (unit normal) overrides the seeded draw."""
        g = self.guidance if guidance is None else float(guidance)
        n = self.num_steps if num_steps is None else int(num_steps)
        if n < 1:
            raise ValueError(f"{type(self).__name__}: num_steps must be >= 1, got {n}.")
        eps = noise.double() if noise is not None else self._noise(shape, seed, generator, device)
        x0 = self._solve(self._guided(cond_fn, uncond_fn, g), eps, n)
        return self._keep_condition(x0, condition_mask_B_1_T_1_1, gt_B_C_T_H_W)

    def _solve(self, fn: Callable, eps: torch.Tensor, num_steps: int) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


# ----------------------------------------------------------------------------- sigma-domain samplers
def ab2_x0_step(x: torch.Tensor, s: float, s_next: float, x0: torch.Tensor, s_prev: float, x0_prev: torch.Tensor) -> torch.Tensor:
    """Exact integration of dx/dsigma = (x - x0(sigma))/sigma from s to s_next, with x0 linear in
    lambda = -log(sigma) through (s, x0) and (s_prev, x0_prev)."""
    lam_s, lam_t, lam_m = -math.log(s), -math.log(s_next), -math.log(s_prev)
    h = lam_t - lam_s
    c2 = (lam_m - lam_s) / h
    phi1 = -math.expm1(-h) / h  # (1 - e^-h)/h
    phi2 = (1 - phi1) / h  # (h - 1 + e^-h)/h^2
    b2 = phi2 / c2
    b1 = phi1 - b2
    return math.exp(-h) * x + h * (b1 * x0 + b2 * x0_prev)


class RectifiedFlowAB2Sampler(_Sampler):
    """Predict2 sampler (x0 predictions in the VE sigma domain)."""

    prediction = "x0"

    def __init__(self, num_steps: int = 35, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                 guidance: float = 7.0):
        super().__init__(num_steps, guidance)
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)

    def sigmas(self, num_steps: Optional[int] = None) -> torch.Tensor:
        return karras_sigmas(num_steps or self.num_steps, self.sigma_min, self.sigma_max, self.rho)

    def _solve(self, fn, eps, num_steps):
        sig = self.sigmas(num_steps).tolist()
        x = eps * sig[0]
        x0_prev = s_prev = None
        for s, s_next in zip(sig[:-1], sig[1:]):
            x0 = fn(x, s)
            if x0_prev is None:  # Euler in x0 form (DDIM): x_next = x0 + (s_next/s)(x - x0)
                x = x0 + (s_next / s) * (x - x0)
            else:
                x = ab2_x0_step(x, s, s_next, x0, s_prev, x0_prev)
            x0_prev, s_prev = x0, s
        return fn(x, sig[-1])  # final clean pass at sigma_min


class EDMSampler(RectifiedFlowAB2Sampler):
    """Predict1 sampler: Karras schedule, ``solver="2ab"`` (upstream default) or ``"heun"`` (EDM Alg. 1)."""

    def __init__(self, num_steps: int = 35, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                 guidance: float = 7.0, solver: str = "2ab"):
        super().__init__(num_steps, sigma_min, sigma_max, rho, guidance)
        if solver not in ("2ab", "heun"):
            raise ValueError(f"EDMSampler: solver must be '2ab' or 'heun', got {solver!r}.")
        self.solver = solver

    def _solve(self, fn, eps, num_steps):
        if self.solver == "2ab":
            return super()._solve(fn, eps, num_steps)
        sig = self.sigmas(num_steps).tolist() + [0.0]
        x = eps * sig[0]
        for s, s_next in zip(sig[:-1], sig[1:]):
            d = (x - fn(x, s)) / s
            x_next = x + (s_next - s) * d
            if s_next > 0:
                d2 = (x_next - fn(x_next, s_next)) / s_next
                x_next = x + (s_next - s) * 0.5 * (d + d2)
            x = x_next
        return x


# ----------------------------------------------------------------------------- flow UniPC
def _lam(sigma: float) -> float:
    """Half log-SNR of the flow interpolant: log(alpha/sigma) with alpha = 1 - sigma."""
    return math.log(1 - sigma) - math.log(sigma)


def _unipc_coeffs(h: float, order: int):
    """(h_phi_1, B_h, b[0..order-1]) of the bh2 variant for the x0-prediction form (hh = -h)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    B_h = math.expm1(hh)
    b, fact = [], 1
    for i in range(1, order + 1):
        b.append(h_phi_k * fact / B_h)
        fact *= i + 1
        h_phi_k = h_phi_k / hh - 1 / fact
    return h_phi_1, B_h, b


class FlowUniPCSampler(_Sampler):
    """Predict2.5 sampler: UniPC-bh2 on flow sigmas; expects velocity predictions at t = sigma."""

    prediction = "velocity"

    def __init__(self, num_steps: int = 35, shift: float = 5.0, guidance: float = 7.0, solver_order: int = 2,
                 sigma_max: float = 0.999, lower_order_final: bool = True, use_corrector: bool = True):
        super().__init__(num_steps, guidance)
        if solver_order not in (1, 2, 3):
            raise ValueError(f"FlowUniPCSampler: solver_order must be 1, 2 or 3, got {solver_order}.")
        self.shift, self.solver_order, self.sigma_max = float(shift), int(solver_order), float(sigma_max)
        self.lower_order_final, self.use_corrector = bool(lower_order_final), bool(use_corrector)

    def sigmas(self, num_steps: Optional[int] = None) -> torch.Tensor:
        return flow_sigmas(num_steps or self.num_steps, self.shift, self.sigma_max)

    @staticmethod
    def _diffs(sig, i0: int, order: int, hist: list, h: float):
        """(rks, D1s) from the older x0 predictions: index i0 is s0, hist[-1] its x0."""
        lam0, m0 = _lam(sig[i0]), hist[-1]
        rks, D1s = [], []
        for k in range(1, order):
            rk = (_lam(sig[i0 - k]) - lam0) / h
            rks.append(rk)
            D1s.append((hist[-(k + 1)] - m0) / rk)
        return rks + [1.0], D1s

    def _predict(self, sig, i, x, hist, order):
        s0, t = sig[i], sig[i + 1]
        if t == 0.0:  # limit h -> inf: the update is the current x0 prediction
            return hist[-1]
        h = _lam(t) - _lam(s0)
        rks, D1s = self._diffs(sig, i, order, hist, h)
        h_phi_1, B_h, b = _unipc_coeffs(h, order)
        alpha_t = 1 - t
        x_t = (t / s0) * x - alpha_t * h_phi_1 * hist[-1]
        if D1s:
            if order == 2:
                rhos = [0.5]
            else:
                R = torch.tensor([[r ** (j - 1) for r in rks] for j in range(1, order + 1)], dtype=torch.float64)
                rhos = torch.linalg.solve(R[:-1, :-1], torch.tensor(b[:-1], dtype=torch.float64)).tolist()
            x_t = x_t - alpha_t * B_h * sum(r * d for r, d in zip(rhos, D1s))
        return x_t

    def _correct(self, sig, i, last_x, x0_t, hist, order):
        s0, t = sig[i - 1], sig[i]
        h = _lam(t) - _lam(s0)
        rks, D1s = self._diffs(sig, i - 1, order, hist, h)
        h_phi_1, B_h, b = _unipc_coeffs(h, order)
        alpha_t = 1 - t
        x_t = (t / s0) * last_x - alpha_t * h_phi_1 * hist[-1]
        if order == 1:
            rhos = [0.5]
        else:
            R = torch.tensor([[r ** (j - 1) for r in rks] for j in range(1, order + 1)], dtype=torch.float64)
            rhos = torch.linalg.solve(R, torch.tensor(b, dtype=torch.float64)).tolist()
        res = sum(r * d for r, d in zip(rhos[:-1], D1s)) + rhos[-1] * (x0_t - hist[-1])
        return x_t - alpha_t * B_h * res

    def _solve(self, fn, eps, num_steps):
        sig = self.sigmas(num_steps).tolist()
        x, hist, last_x = eps, [], None
        order_used, lower = 1, 0
        for i in range(num_steps):
            x0 = x - sig[i] * fn(x, sig[i])  # velocity -> x0 prediction
            if self.use_corrector and last_x is not None:
                x = self._correct(sig, i, last_x, x0, hist, order_used)
            hist = (hist + [x0])[-self.solver_order:]
            order = min(self.solver_order, num_steps - i) if self.lower_order_final else self.solver_order
            order_used = min(order, lower + 1)
            last_x = x
            x = self._predict(sig, i, x, hist, order_used)
            lower = min(lower + 1, self.solver_order)
        return x
