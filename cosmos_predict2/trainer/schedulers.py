"""Learning-rate schedulers (``scheduler`` config group): ``LambdaLR`` with a multiplier ``f(step)``.

LambdaLinear (per cycle ``c`` of length ``L_c``, step ``n`` counted from the cycle start):
  ``n < warm_up_steps[c]``: ``f = f_start + (f_max - f_start) * n / warm_up_steps``
  otherwise:              ``f = f_min + (f_max - f_min) * (L_c - n) / L_c``
(the decay is measured from the cycle start, as upstream, so it reaches ``f_min`` at ``n = L_c``).
Past the last cycle upstream raises; here the last cycle's ``f_min`` is kept.
"""

from __future__ import annotations

import logging
from typing import Sequence, Union

import numpy as np
import torch

__all__ = ["LambdaLinearSchedule", "build_constant", "build_lambda_linear"]

log = logging.getLogger(__name__)

Num = Union[int, float]


def _per_cycle(name: str, value: Union[Num, Sequence[Num]], n: int) -> list[float]:
    vals = [value] if isinstance(value, (int, float)) else list(value)
    if len(vals) == 1 and n > 1:
        vals = vals * n
    if len(vals) != n:
        raise ValueError(f"scheduler.{name} has {len(vals)} values but cycle_lengths has {n} cycles.")
    return [float(v) for v in vals]


class LambdaLinearSchedule:
    """Callable ``f(step)`` for ``LambdaLR`` (picklable; its attributes go into the scheduler state)."""

    def __init__(self, warm_up_steps, cycle_lengths, f_start, f_max, f_min, verbosity_interval: int = 0):
        cycles = [cycle_lengths] if isinstance(cycle_lengths, (int, float)) else list(cycle_lengths)
        self.cycle_lengths = [float(c) for c in cycles]
        n = len(self.cycle_lengths)
        if any(c <= 0 for c in self.cycle_lengths):
            raise ValueError(f"scheduler.cycle_lengths must be positive, got {self.cycle_lengths}.")
        self.warm_up_steps = _per_cycle("warm_up_steps", warm_up_steps, n)
        self.f_start = _per_cycle("f_start", f_start, n)
        self.f_max = _per_cycle("f_max", f_max, n)
        self.f_min = _per_cycle("f_min", f_min, n)
        self.cum_cycles = np.cumsum([0.0] + self.cycle_lengths).tolist()
        self.verbosity_interval = int(verbosity_interval)
        self.last_f = 0.0

    def _cycle(self, n: int) -> int:
        for i, end in enumerate(self.cum_cycles[1:]):
            if n <= end:
                return i
        return len(self.cycle_lengths) - 1

    def __call__(self, step: int) -> float:
        c = self._cycle(step)
        if step > self.cum_cycles[-1]:
            f = self.f_min[c]
        else:
            n = step - self.cum_cycles[c]
            if n < self.warm_up_steps[c]:
                f = self.f_start[c] + (self.f_max[c] - self.f_start[c]) * n / self.warm_up_steps[c]
            else:
                L = self.cycle_lengths[c]
                f = self.f_min[c] + (self.f_max[c] - self.f_min[c]) * (L - n) / L
        if self.verbosity_interval > 0 and step % self.verbosity_interval == 0:
            log.info("lr schedule step %d: cycle %d, f=%.4g", step, c, f)
        self.last_f = f
        return f


def build_lambda_linear(optimizer: torch.optim.Optimizer, warm_up_steps, cycle_lengths, f_start, f_max, f_min,
                        verbosity_interval: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, LambdaLinearSchedule(warm_up_steps, cycle_lengths, f_start, f_max, f_min, verbosity_interval))


def _constant(step: int) -> float:
    return 1.0


def build_constant(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """``lr`` unchanged (the Predict2 default)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _constant)
