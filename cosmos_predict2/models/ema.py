"""Power-function EMA (EDM2 style) of the network weights, kept in float32.

``gamma`` solves ``std(rate)``: the largest real root of ``x^3 + 7x^2 + (16 - s^-2)x + (12 - s^-2)`` with
``s = rate`` (6.9372 for 0.10). At step ``n``: ``beta_n = (1 - 1/(n+1))^(gamma+1)`` (0 for ``n < 1``, so the
first update copies the weights) and ``ema = beta*ema + (1-beta)*theta``.

Works on plain tensors and on DTensors (FSDP2): the EMA net is sharded like the net, and every update is
a local element-wise op on matching shards.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

__all__ = ["PowerEMA", "power_ema_gamma", "power_ema_beta"]


def power_ema_gamma(rate: float) -> float:
    """Largest real root of [1, 7, 16 - rate^-2, 12 - rate^-2] (EDM2 power EMA exponent)."""
    if not 0.0 < rate < 0.28:
        raise ValueError(f"power EMA rate must be in (0, 0.28) for a positive exponent, got {rate}.")
    s2 = rate ** -2
    roots = np.roots([1.0, 7.0, 16.0 - s2, 12.0 - s2])
    return float(max(r.real for r in roots if abs(r.imag) < 1e-9))


def power_ema_beta(iteration: int, gamma: float) -> float:
    """Decay at step ``iteration``; 0 before step 1 (copy)."""
    if iteration < 1:
        return 0.0
    return (1.0 - 1.0 / (iteration + 1)) ** (gamma + 1)


def _local(t: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (or the tensor itself)."""
    return t.to_local() if hasattr(t, "to_local") else t


class PowerEMA:
    """Power EMA over a module's floating parameters (and a copy of its buffers).

    ``update(ema_module, module, iteration)`` matches parameters by name, so the two modules must have
    the same structure (same LoRA injection, same FSDP wrapping).
    """

    def __init__(self, rate: float = 0.10, iteration_shift: int = 0):
        self.rate = float(rate)
        self.iteration_shift = int(iteration_shift)
        self.gamma = power_ema_gamma(self.rate)

    def beta(self, iteration: int) -> float:
        return power_ema_beta(int(iteration) - self.iteration_shift, self.gamma)

    @staticmethod
    def _pairs(ema_module: nn.Module, module: nn.Module) -> Iterable[tuple[str, torch.Tensor, torch.Tensor]]:
        ema_params = dict(ema_module.named_parameters())
        params = dict(module.named_parameters())
        if ema_params.keys() != params.keys():
            only_ema = sorted(set(ema_params) - set(params))[:5]
            only_net = sorted(set(params) - set(ema_params))[:5]
            raise ValueError(
                f"PowerEMA: EMA and net parameters differ (only in EMA: {only_ema}, only in net: {only_net}); "
                "build the EMA copy after LoRA injection and wrap both the same way."
            )
        for name, p in params.items():
            yield name, ema_params[name], p

    @torch.no_grad()
    def update(self, ema_module: nn.Module, module: nn.Module, iteration: int) -> float:
        """One EMA step; returns the beta used."""
        beta = self.beta(iteration)
        ema_local, src_local = [], []
        for _, e, p in self._pairs(ema_module, module):
            if not e.dtype.is_floating_point:
                continue
            ema_local.append(_local(e))
            src_local.append(_local(p.detach()).to(e.dtype))
        if ema_local:
            # ema = beta*ema + (1-beta)*theta  ==  lerp(ema, theta, 1-beta)
            torch._foreach_lerp_(ema_local, src_local, 1.0 - beta)
        for (name, eb), (_, b) in zip(ema_module.named_buffers(), module.named_buffers()):
            _local(eb).copy_(_local(b))
        return beta

    @torch.no_grad()
    def copy_to(self, ema_module: nn.Module, module: nn.Module) -> None:
        """Write the EMA weights into ``module`` (e.g. for evaluation with EMA weights)."""
        for _, e, p in self._pairs(ema_module, module):
            _local(p).copy_(_local(e).to(p.dtype))
