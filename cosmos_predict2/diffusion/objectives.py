"""Diffusion training objectives: one class per formulation, pure tensor code.

Every objective takes the network as a callable ``net_fn(x_in_B_C_T_H_W, timesteps_B_T) -> out_B_C_T_H_W``
(the world model closes over text embeddings, the condition mask channel, fps, actions, ...), so the
formulas here can be tested against float64 re-implementations without any real network.

- ``RectifiedFlowEDMObjective`` (Predict2): EDM-style log-normal sigma, variance-exploding noising
  ``x_t = x0 + sigma*eps`` and rectified-flow preconditioning (``t = sigma/(1+sigma)``).
- ``RectifiedFlowObjective`` (Predict2.5): logit-normal/uniform time with shift, ``x_t = t*eps + (1-t)*x0``,
  velocity target ``eps - x0``.
- ``EDMObjective`` (Predict1): EDM preconditioning with sigma_data 0.5 and uncertainty (log-variance)
  weighting; conditioning frames are corrupted with a small augmentation noise.

Conditioning frames (``condition_mask_B_1_T_1_1 == 1``) are given to the network as clean ground truth
and their prediction is overwritten by the target, so they contribute exactly zero loss.

``prediction`` tells samplers what ``denoise`` returns: ``"x0"`` (sigma domain, Karras schedules) or
``"velocity"`` (flow time ``t`` in [0, 1]).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import nn

NetFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = [
    "EDMObjective",
    "FourierFeatures",
    "LogVarNet",
    "RectifiedFlowEDMObjective",
    "RectifiedFlowObjective",
    "NetFn",
]


# ----------------------------------------------------------------------------- helpers
def _rand(shape, generator: Optional[torch.Generator], like: torch.Tensor, normal: bool) -> torch.Tensor:
    """Uniform/normal float32 draw from ``generator`` (on its own device), moved to ``like``'s device."""
    device = generator.device if generator is not None else like.device
    fn = torch.randn if normal else torch.rand
    return fn(shape, generator=generator, device=device, dtype=torch.float32).to(like.device)


def _bcast(v_B: torch.Tensor, ndim: int) -> torch.Tensor:
    """(B,) -> (B,1,...,1) with ``ndim`` dims."""
    return v_B.reshape(v_B.shape[0], *([1] * (ndim - 1)))


def _check_inputs(x0_B_C_T_H_W: torch.Tensor, mask_B_1_T_1_1: Optional[torch.Tensor]) -> torch.Tensor:
    """Validate shapes and return a float mask (zeros when no mask is given)."""
    if x0_B_C_T_H_W.ndim != 5:
        raise ValueError(
            f"diffusion objective: expected latents of shape (B,C,T,H,W), got {tuple(x0_B_C_T_H_W.shape)}; "
            "encode the video with the tokenizer first."
        )
    B, _, T, _, _ = x0_B_C_T_H_W.shape
    if mask_B_1_T_1_1 is None:
        return x0_B_C_T_H_W.new_zeros(B, 1, T, 1, 1)
    if mask_B_1_T_1_1.shape != (B, 1, T, 1, 1):
        raise ValueError(
            f"diffusion objective: condition mask must have shape (B,1,T,1,1)={(B, 1, T, 1, 1)}, "
            f"got {tuple(mask_B_1_T_1_1.shape)}."
        )
    return mask_B_1_T_1_1.to(x0_B_C_T_H_W.dtype)


def _inputs(x: torch.Tensor, mask, state, training: bool):
    """(float mask, condition state) for ``x``; the state defaults to ``x`` itself in training (the clean
    latents) and to zeros when denoising."""
    mask = _check_inputs(x, mask)
    if state is None:
        state = x if training else torch.zeros_like(x)
    return mask, state.to(x.dtype)


def _per_sample(v, x: torch.Tensor) -> torch.Tensor:
    """Scalar or (B,) noise level -> (B,) in ``x``'s dtype/device."""
    return torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(x.shape[0])


def _mask_loss(per_elem: torch.Tensor, mask_B_1_T_1_1: torch.Tensor) -> torch.Tensor:
    """Zero the conditioning frames of a per-element loss exactly (also kills NaN/inf there)."""
    return torch.where(mask_B_1_T_1_1.bool().expand_as(per_elem), torch.zeros_like(per_elem), per_elem)


def lognormal_sigma(B: int, p_mean: float, p_std: float, generator, like) -> torch.Tensor:
    """sigma = exp(p_mean + p_std * Phi^-1(u)), u ~ U(0,1) (inverse-CDF sampling), shape (B,)."""
    u = _rand((B,), generator, like, normal=False).double().clamp(1e-7, 1 - 1e-7)
    z = math.sqrt(2.0) * torch.erfinv(2 * u - 1)
    return torch.exp(p_mean + p_std * z).float()


# ----------------------------------------------------------------------------- Predict2
class RectifiedFlowEDMObjective:
    """Predict2: EDM sigma sampling, VE noising and rectified-flow preconditioning.

    With ``t = sigma/(1+sigma)``: ``c_skip = 1-t``, ``c_out = -t``, ``c_in = 1-t``, ``c_noise = t``.
    ``c_in*x_t = (1-t) x0 + t eps`` is the rectified-flow interpolant, the net predicts ``eps - x0``.
    Loss: ``mean((x0 - x0_hat)^2 * (1+sigma)^2/sigma^2) * loss_scale`` (uniform velocity weighting).
    """

    prediction = "x0"

    def __init__(
        self,
        p_mean: float = 0.0,
        p_std: float = 1.0,
        sigma_data: float = 1.0,
        adjust_video_noise: bool = True,
        high_sigma_ratio: float = 0.0,
        high_sigma_min: float = 200.0,
        high_sigma_max: float = 1e5,
        sigma_conditional: float = 1e-4,
        loss_scale: float = 10.0,
        t_scaling_factor: float = 1.0,
    ):
        if sigma_data != 1.0:
            raise ValueError(
                f"RectifiedFlowEDMObjective: rectified-flow preconditioning requires sigma_data=1.0, got {sigma_data}."
            )
        if not 0.0 <= high_sigma_ratio <= 1.0:
            raise ValueError(f"RectifiedFlowEDMObjective: high_sigma_ratio must be in [0,1], got {high_sigma_ratio}.")
        self.p_mean, self.p_std = float(p_mean), float(p_std)
        self.sigma_data = 1.0
        self.adjust_video_noise = bool(adjust_video_noise)  # sigma *= sqrt(latent frames of the batch)
        self.high_sigma_ratio = float(high_sigma_ratio)
        self.high_sigma_min, self.high_sigma_max = float(high_sigma_min), float(high_sigma_max)
        self.sigma_conditional = float(sigma_conditional)
        self.loss_scale = float(loss_scale)
        self.t_scaling_factor = float(t_scaling_factor)

    def trainable_modules(self) -> dict[str, nn.Module]:
        return {}

    # -- formulas
    def scaling(self, sigma: torch.Tensor):
        """Return (c_skip, c_out, c_in, c_noise) for any sigma shape."""
        t = sigma / (1 + sigma)
        return 1 - t, -t, 1 - t, t * self.t_scaling_factor

    def sample_sigma(self, B: int, T: int, generator=None, like: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One sigma per sample, shape (B,)."""
        like = like if like is not None else torch.zeros(())
        sigma = lognormal_sigma(B, self.p_mean, self.p_std, generator, like)
        if self.adjust_video_noise:
            sigma = sigma * math.sqrt(T)
        if self.high_sigma_ratio > 0:
            pick = _rand((B,), generator, like, normal=False) < self.high_sigma_ratio
            u = _rand((B,), generator, like, normal=False)
            lo, hi = math.log(self.high_sigma_min), math.log(self.high_sigma_max)
            sigma = torch.where(pick, torch.exp(lo + (hi - lo) * u), sigma)
        return sigma

    def _forward(self, net_fn: NetFn, x_t, sigma_B, mask_B_1_T_1_1, state_B_C_T_H_W):
        """Frame-replaced denoising: x0_hat (conditioning frames = state) and the raw net output."""
        ndim = x_t.ndim
        sigma_B_1_T_1_1 = _bcast(sigma_B.to(x_t.dtype), ndim).expand(-1, 1, x_t.shape[2], 1, 1)
        # conditioning frames: input = GT (x_t replaced), noise level sigma_conditional
        sigma_B_1_T_1_1 = torch.where(
            mask_B_1_T_1_1.bool(), torch.full_like(sigma_B_1_T_1_1, self.sigma_conditional), sigma_B_1_T_1_1
        )
        x_t = state_B_C_T_H_W * mask_B_1_T_1_1 + x_t * (1 - mask_B_1_T_1_1)
        c_skip, c_out, c_in, c_noise = self.scaling(sigma_B_1_T_1_1)
        net_out = net_fn(x_t * c_in, c_noise[:, 0, :, 0, 0])
        x0_hat = c_skip * x_t + c_out * net_out.to(x_t.dtype)
        x0_hat = state_B_C_T_H_W * mask_B_1_T_1_1 + x0_hat * (1 - mask_B_1_T_1_1)
        return x0_hat, net_out

    # -- training
    def training_loss(
        self,
        net_fn: NetFn,
        x0_B_C_T_H_W: torch.Tensor,
        condition_mask_B_1_T_1_1: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
        condition_state_B_C_T_H_W: Optional[torch.Tensor] = None,
    ):
        """Return (scalar loss, outputs). ``condition_state`` defaults to ``x0`` (zeros when the video
        condition is dropped); conditioning frames always get zero loss."""
        x0 = x0_B_C_T_H_W
        mask, state = _inputs(x0, condition_mask_B_1_T_1_1, condition_state_B_C_T_H_W, training=True)
        B, _, T, _, _ = x0.shape
        sigma_B = self.sample_sigma(B, T, generator, x0).to(x0.dtype)
        eps = _rand(x0.shape, generator, x0, normal=True).to(x0.dtype)
        x_t = x0 + _bcast(sigma_B, 5) * eps
        x0_hat, net_out = self._forward(net_fn, x_t, sigma_B, mask, state)
        weight_B = (1 + sigma_B) ** 2 / sigma_B**2
        per_elem = _mask_loss((x0 - x0_hat) ** 2 * _bcast(weight_B, 5), mask)
        loss = per_elem.mean() * self.loss_scale
        return loss, {
            "x0": x0, "x_t": x_t, "noise": eps, "sigma": sigma_B, "x0_pred": x0_hat, "net_output": net_out,
            "loss_per_sample": per_elem.mean(dim=(1, 2, 3, 4)) * self.loss_scale,
        }

    # -- sampling
    def denoise(self, net_fn: NetFn, x_t_B_C_T_H_W, sigma_B, condition_mask_B_1_T_1_1=None, condition_state_B_C_T_H_W=None):
        """x0 prediction at noise level ``sigma_B`` (conditioning frames return the condition state)."""
        x_t = x_t_B_C_T_H_W
        mask, state = _inputs(x_t, condition_mask_B_1_T_1_1, condition_state_B_C_T_H_W, training=False)
        return self._forward(net_fn, x_t, _per_sample(sigma_B, x_t), mask, state)[0]


# ----------------------------------------------------------------------------- Predict2.5
class RectifiedFlowObjective:
    """Predict2.5 rectified flow: ``x_t = t*eps + (1-t)*x0``, target ``v = eps - x0``.

    Training time: ``u ~ sigmoid(N(0,1))`` ("logitnormal") or ``U(0,1)`` ("uniform"), then the shift
    ``t = s*u/(1+(s-1)*u)``. The net sees ``timesteps = num_train_timesteps * t`` (1000 t) and scales them
    itself (Predict2.5 nets: ``timestep_scale=0.001``, so the embedding sees t). Conditioning frames get the same t, clean input and a replaced velocity (zero loss).
    Loss: ``mean_B(w * mean_CTHW (v_hat - v)^2)`` with ``w = 1``, times ``loss_scale`` (1).
    """

    prediction = "velocity"

    def __init__(
        self,
        shift: float = 5.0,
        train_time_distribution: str = "logitnormal",
        num_train_timesteps: int = 1000,
        loss_scale: float = 1.0,
        t_eps: float = 1e-5,
        denoise_replace_gt_frames: bool = True,
    ):
        if train_time_distribution not in ("logitnormal", "uniform"):
            raise ValueError(
                f"RectifiedFlowObjective: train_time_distribution={train_time_distribution!r} is not supported; "
                "use 'logitnormal' or 'uniform'."
            )
        if shift <= 0:
            raise ValueError(f"RectifiedFlowObjective: shift must be > 0, got {shift}.")
        self.shift = float(shift)
        self.train_time_distribution = train_time_distribution
        self.num_train_timesteps = int(num_train_timesteps)
        self.loss_scale = float(loss_scale)
        self.t_eps = float(t_eps)
        self.denoise_replace_gt_frames = bool(denoise_replace_gt_frames)

    def trainable_modules(self) -> dict[str, nn.Module]:
        return {}

    def shift_time(self, u: torch.Tensor) -> torch.Tensor:
        return self.shift * u / (1 + (self.shift - 1) * u)

    def sample_t(self, B: int, generator=None, like: Optional[torch.Tensor] = None) -> torch.Tensor:
        like = like if like is not None else torch.zeros(())
        if self.train_time_distribution == "logitnormal":
            u = torch.sigmoid(_rand((B,), generator, like, normal=True))
        else:
            u = _rand((B,), generator, like, normal=False)
        return self.shift_time(u).clamp(self.t_eps, 1.0)

    def net_timesteps(self, t_B_T: torch.Tensor) -> torch.Tensor:
        return t_B_T * self.num_train_timesteps

    def _velocity(self, net_fn: NetFn, x_t, t_B, mask, state):
        """Raw velocity prediction with conditioning frames' input replaced by the condition state."""
        x_in = state * mask + x_t * (1 - mask)
        t_B_T = t_B.to(x_t.dtype)[:, None].expand(-1, x_t.shape[2])
        return net_fn(x_in, self.net_timesteps(t_B_T)).to(x_t.dtype)

    def training_loss(
        self,
        net_fn: NetFn,
        x0_B_C_T_H_W: torch.Tensor,
        condition_mask_B_1_T_1_1: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
        condition_state_B_C_T_H_W: Optional[torch.Tensor] = None,
    ):
        x0 = x0_B_C_T_H_W
        mask, state = _inputs(x0, condition_mask_B_1_T_1_1, condition_state_B_C_T_H_W, training=True)
        B = x0.shape[0]
        t_B = self.sample_t(B, generator, x0).to(x0.dtype)
        eps = _rand(x0.shape, generator, x0, normal=True).to(x0.dtype)
        t5 = _bcast(t_B, 5)
        x_t = t5 * eps + (1 - t5) * x0
        v_target = eps - x0
        v_hat = self._velocity(net_fn, x_t, t_B, mask, state)
        if self.denoise_replace_gt_frames:  # conditioning frames: exact target, zero loss
            v_hat = v_target * mask + v_hat * (1 - mask)
            per_elem = _mask_loss((v_hat - v_target) ** 2, mask)
        else:
            per_elem = (v_hat - v_target) ** 2
        per_sample = per_elem.mean(dim=(1, 2, 3, 4))  # w == 1
        loss = per_sample.mean() * self.loss_scale
        return loss, {
            "x0": x0, "x_t": x_t, "noise": eps, "t": t_B, "sigma": t_B, "v_pred": v_hat, "v_target": v_target,
            "x0_pred": x_t - t5 * v_hat, "loss_per_sample": per_sample * self.loss_scale,
        }

    def denoise(self, net_fn: NetFn, x_t_B_C_T_H_W, t_B, condition_mask_B_1_T_1_1=None, condition_state_B_C_T_H_W=None):
        """Velocity at flow time ``t_B``. On conditioning frames the velocity ``(x_t - state)/t`` moves the
        sample straight to the condition state, so ``x_t - t*v`` there equals the state exactly."""
        x_t = x_t_B_C_T_H_W
        mask, state = _inputs(x_t, condition_mask_B_1_T_1_1, condition_state_B_C_T_H_W, training=False)
        t_B = _per_sample(t_B, x_t)
        v_hat = self._velocity(net_fn, x_t, t_B, mask, state)
        v_cond = (x_t - state) / _bcast(t_B.clamp_min(1e-12), 5)
        return torch.where(mask.bool().expand_as(v_hat), v_cond, v_hat)


# ----------------------------------------------------------------------------- Predict1
class FourierFeatures(nn.Module):
    """Random Fourier features ``sqrt(2)*cos(2*pi*(x*freqs + phases))`` (``normalize`` scales by sqrt(2))."""

    def __init__(self, num_channels: int = 128, bandwidth: float = 1.0, normalize: bool = True):
        super().__init__()
        self.register_buffer("freqs", 2 * math.pi * bandwidth * torch.randn(num_channels))
        self.register_buffer("phases", 2 * math.pi * torch.rand(num_channels))
        self.gain = math.sqrt(2.0) if normalize else 1.0

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        x = x_B.float()[:, None] * self.freqs.float()[None] + self.phases.float()[None]
        return self.gain * torch.cos(x)


class LogVarNet(nn.Module):
    """Uncertainty head: ``logvar = Linear(FourierFeatures(c_noise)) -> (B,)``."""

    def __init__(self, num_channels: int = 128):
        super().__init__()
        self.fourier = FourierFeatures(num_channels, normalize=True)
        self.linear = nn.Linear(num_channels, 1)

    def forward(self, c_noise_B: torch.Tensor) -> torch.Tensor:
        return self.linear(self.fourier(c_noise_B).to(self.linear.weight.dtype))[:, 0]


class EDMObjective:
    """Predict1 EDM: ``sigma ~ exp(N(p_mean, p_std))``, ``x_t = x0 + sigma*eps``, Karras preconditioning.

    Loss per element ``w(sigma)*(x0_hat - x0)^2 * exp(-logvar) + logvar`` (``loss_add_logvar``),
    reduced by "mean" (default here, as in the action experiment) or "sum" per sample then mean over B.
    Conditioning frames are corrupted with an augmentation noise ``sigma_aug = exp(N(0,1))*4`` (0.001 at
    inference) and given to the net as ``c_in(sigma_aug)*(gt + sigma_aug*n)``; their x0_hat is replaced by
    GT so they add no reconstruction loss.
    """

    prediction = "x0"

    def __init__(
        self,
        sigma_data: float = 0.5,
        p_mean: float = 0.0,
        p_std: float = 1.0,
        sigma_max: float = 80.0,
        sigma_min: float = 0.0002,
        loss_add_logvar: bool = True,
        logvar_channels: int = 128,
        loss_reduce: str = "mean",
        loss_scale: float = 1.0,
        augment_sigma_p_mean: float = 0.0,
        augment_sigma_p_std: float = 1.0,
        augment_sigma_scale: float = 4.0,
        augment_sigma_inference: float = 0.001,
    ):
        if loss_reduce not in ("mean", "sum"):
            raise ValueError(f"EDMObjective: loss_reduce must be 'mean' or 'sum', got {loss_reduce!r}.")
        self.sigma_data = float(sigma_data)
        self.p_mean, self.p_std = float(p_mean), float(p_std)
        self.sigma_max, self.sigma_min = float(sigma_max), float(sigma_min)
        self.loss_reduce, self.loss_scale = loss_reduce, float(loss_scale)
        self.aug_p_mean, self.aug_p_std = float(augment_sigma_p_mean), float(augment_sigma_p_std)
        self.aug_multiplier = float(augment_sigma_scale)
        self.inference_augment_sigma = float(augment_sigma_inference)
        self.logvar = LogVarNet(logvar_channels) if loss_add_logvar else None

    def trainable_modules(self) -> dict[str, nn.Module]:
        """Modules trained together with the net (registered by the world model as ``logvar``)."""
        return {"logvar": self.logvar} if self.logvar is not None else {}

    def scaling(self, sigma: torch.Tensor):
        sd = self.sigma_data
        c_skip = sd**2 / (sigma**2 + sd**2)
        c_out = sigma * sd / torch.sqrt(sigma**2 + sd**2)
        c_in = 1 / torch.sqrt(sigma**2 + sd**2)
        c_noise = 0.25 * torch.log(sigma)
        return c_skip, c_out, c_in, c_noise

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2

    def _forward(self, net_fn: NetFn, x_t, sigma_B, mask, state, aug_sigma_B, aug_noise):
        """x0_hat with the conditioning region replaced by the augmented GT (input) and GT (output)."""
        sigma5 = _bcast(sigma_B.to(x_t.dtype), 5)
        c_skip, c_out, c_in, c_noise = self.scaling(sigma5)
        aug5 = _bcast(aug_sigma_B.to(x_t.dtype), 5)
        cond_in = self.scaling(aug5)[2] * (state + aug5 * aug_noise)  # c_in(sigma_aug) * augmented GT
        x_in = cond_in * mask + (x_t * c_in) * (1 - mask)
        c_noise_B_T = c_noise.reshape(-1, 1).expand(-1, x_t.shape[2])  # same noise level on every frame
        net_out = net_fn(x_in, c_noise_B_T)
        x0_hat = c_skip * x_t + c_out * net_out.to(x_t.dtype)
        return state * mask + x0_hat * (1 - mask), net_out

    def training_loss(
        self,
        net_fn: NetFn,
        x0_B_C_T_H_W: torch.Tensor,
        condition_mask_B_1_T_1_1: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
        condition_state_B_C_T_H_W: Optional[torch.Tensor] = None,
    ):
        x0 = x0_B_C_T_H_W
        mask, state = _inputs(x0, condition_mask_B_1_T_1_1, condition_state_B_C_T_H_W, training=True)
        B = x0.shape[0]
        sigma_B = lognormal_sigma(B, self.p_mean, self.p_std, generator, x0).to(x0.dtype)
        eps = _rand(x0.shape, generator, x0, normal=True).to(x0.dtype)
        aug_sigma_B = (lognormal_sigma(B, self.aug_p_mean, self.aug_p_std, generator, x0) * self.aug_multiplier).to(x0.dtype)
        aug_noise = _rand(x0.shape, generator, x0, normal=True).to(x0.dtype)
        x_t = x0 + _bcast(sigma_B, 5) * eps
        x0_hat, net_out = self._forward(net_fn, x_t, sigma_B, mask, state, aug_sigma_B, aug_noise)
        # reconstruction state is overwritten by the *true* x0 for the loss (zero on conditioning frames)
        edm = _mask_loss((x0 - x0_hat) ** 2 * _bcast(self.loss_weight(sigma_B), 5), mask)
        if self.logvar is not None:
            logvar_B = self.logvar(self.scaling(sigma_B)[3]).to(x0.dtype)
            per_elem = edm * _bcast(torch.exp(-logvar_B), 5) + _bcast(logvar_B, 5)
        else:
            logvar_B = torch.zeros_like(sigma_B)
            per_elem = edm
        if self.loss_reduce == "mean":
            per_sample = per_elem.mean(dim=(1, 2, 3, 4))
        else:
            per_sample = per_elem.sum(dim=(1, 2, 3, 4))
        loss = per_sample.mean() * self.loss_scale
        return loss, {
            "x0": x0, "x_t": x_t, "noise": eps, "sigma": sigma_B, "x0_pred": x0_hat, "net_output": net_out,
            "edm_loss": edm.mean(dim=(1, 2, 3, 4)), "logvar": logvar_B, "augment_sigma": aug_sigma_B,
            "augment_noise": aug_noise,
            "loss_per_sample": per_sample * self.loss_scale,
        }

    def denoise(self, net_fn: NetFn, x_t_B_C_T_H_W, sigma_B, condition_mask_B_1_T_1_1=None, condition_state_B_C_T_H_W=None,
                augment_noise: Optional[torch.Tensor] = None):
        """x0 prediction. Conditioning frames are given to the net as ``c_in(s_a) * (gt + s_a * n)`` with the
        fixed ``s_a = inference_augment_sigma`` (0.001) and unit noise ``n = augment_noise`` (zero when not given;
        the world model passes the sampler's initial noise, as upstream), at the same noise level (``c_noise``)
        as the other frames (the net is not told ``s_a``); their x0 is the clean GT. As upstream
        (``augment_conditional_latent_frames``, "noise_with_sigma_fixed"), once ``sigma <= s_a`` the conditioning
        frames are denoised like the others."""
        x_t = x_t_B_C_T_H_W
        mask, state = _inputs(x_t, condition_mask_B_1_T_1_1, condition_state_B_C_T_H_W, training=False)
        sigma_B = _per_sample(sigma_B, x_t)
        aug_B = torch.full_like(sigma_B, self.inference_augment_sigma)
        mask = mask * _bcast((sigma_B > aug_B).to(mask.dtype), 5)
        noise = torch.zeros_like(x_t) if augment_noise is None else augment_noise.to(x_t.dtype)
        return self._forward(net_fn, x_t, sigma_B, mask, state, aug_B, noise)[0]
