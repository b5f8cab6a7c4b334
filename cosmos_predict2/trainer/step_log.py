"""What each training step leaves for the log, kept on the device until one reduction per logging interval.

A step records its micro-batch losses and its 0-dim tensor metrics (``grad_norm``, ...) as device tensors and the
``__key__``s of its micro-batches on the host: recording never waits for the device. :meth:`StepLog.reduce` packs
every pending value into one vector, all-reduces it (sum) across ranks and reads it back once; a non-finite loss
(with ``detect_nan``) or gradient norm in it raises :class:`NonFiniteLossError` on every rank, naming the first
iteration it occurred in and the ``__key__``s of the batches with the bad loss.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.distributed as dist

from cosmos_predict2.utils import distributed as du

CHECKED_FINITE = ("grad_norm",)  # tensor metrics whose non-finite value stops the run


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN / Inf loss or gradient norm."""


@dataclasses.dataclass
class Step:
    """One optimizer step as recorded: ``losses_A`` (one per micro-batch) and ``tensors`` stay on the device."""

    iteration: int  # the iteration this step completed (1-based)
    losses_A: torch.Tensor
    keys: list  # the __key__s of each micro-batch
    tensors: dict[str, torch.Tensor]
    host: dict[str, Any]  # numbers known on the host (lr, samples, step time, ...)


class StepLog:
    """Steps recorded since the last :meth:`reduce`."""

    def __init__(self, reduce_device: torch.device, detect_nan: bool = True) -> None:
        self.reduce_device = reduce_device
        self.detect_nan = detect_nan
        self.pending: list[Step] = []

    def add(self, step: Step) -> None:
        self.pending.append(step)

    def reduce(self) -> list[dict[str, Any]]:
        """Per pending iteration ``{"iteration", "loss" (mean over micro-batches and ranks), tensor metrics (mean over
        ranks), host numbers}``; one collective and one device-to-host read for all of them (collective: every rank
        calls it at the same iterations)."""
        steps, self.pending = self.pending, []
        if not steps:
            return []
        losses_K_A = torch.stack([s.losses_A.detach().reshape(-1) for s in steps]).to(self.reduce_device, torch.float64)
        names = sorted({k for s in steps for k in s.tensors})
        columns = [[s.tensors.get(name) for s in steps] for name in names]
        packed = [losses_K_A.reshape(-1)]
        for column in columns:
            packed += [v.detach().reshape(1).to(self.reduce_device, torch.float64) for v in column if v is not None]
        flat = torch.cat(packed)
        world = du.get_world_size()
        if world > 1:
            dist.all_reduce(flat)
        values = [v / world for v in flat.tolist()]
        num_k, num_a = losses_K_A.shape
        losses, rest = values[: num_k * num_a], iter(values[num_k * num_a:])
        records = [dict(s.host, iteration=s.iteration, loss=sum(losses[k * num_a:(k + 1) * num_a]) / num_a)
                   for k, s in enumerate(steps)]
        for name, column in zip(names, columns):
            for record, v in zip(records, column):
                if v is not None:
                    record[name] = next(rest)
        for k, record in enumerate(records):  # the first bad iteration; its loss before its gradient norm
            if self.detect_nan:
                self._check_loss(steps[k], losses[k * num_a:(k + 1) * num_a])
            for name in CHECKED_FINITE:
                if name in record and not math.isfinite(record[name]):
                    raise NonFiniteLossError(f"non-finite gradient norm {record[name]} at iteration "
                                             f"{record['iteration']}; lower the learning rate or check the data")
        return records

    @staticmethod
    def _check_loss(step: Step, losses_A: list[float]) -> None:
        """Raise when a micro-batch loss of ``step`` is non-finite on some rank, naming the keys of the batches
        whose loss was non-finite there (collective)."""
        micro = next((a for a, v in enumerate(losses_A) if not math.isfinite(v)), None)
        if micro is None:
            return
        mine = not math.isfinite(float(step.losses_A.reshape(-1)[micro]))
        keys = _gather_keys(list(step.keys[micro]) if mine else [])
        raise NonFiniteLossError(
            f"non-finite loss at iteration {step.iteration}; batch __key__s with the bad loss: {keys}. "
            f"Inspect those samples, lower the learning rate, or resume from the last checkpoint")


def _gather_keys(keys: list) -> list:
    if du.get_world_size() == 1:
        return keys
    out = [None] * du.get_world_size()
    dist.all_gather_object(out, keys)
    return [k for ks in out for k in (ks or [])]
