"""Ulysses (all-to-all) context parallelism for the DiTs, installed through the nets' frame-sharding seam.

Latent frames are split across the ``cp`` ranks of a context-parallel group (T must be divisible by cp,
heads must be divisible by cp; :func:`cosmos_predict2.configs.validate.validate_config` checks both).
:func:`apply_context_parallel` hands the net a :class:`UlyssesFrameSharding` plan (``net.shard_frames``,
models/frame_sharding.py); the net's forward then

- keeps this rank's contiguous frames ``[r*T/cp, (r+1)*T/cp)`` of its per-frame tensors right after the
  embeddings (a pure function of the inputs, so safe under activation-checkpoint recomputation);
- runs every self-attention op wrapped in :class:`UlyssesAttention`: q/k/v (B, S/cp, H, D) are exchanged to
  (B, S, H/cp, D) with an autograd all-to-all, the local op runs on the full sequence for H/cp heads, and a
  second all-to-all brings the output back to (B, S/cp, H, D). Cross-attention stays local (every rank holds
  the whole text context);
- all-gathers the final layer's output back to the full T (autograd all-gather), so the net returns the full
  output on every rank of the group.

A net without the seam is refused, and a forward that never split or gathered through the plan raises, so a
net can never run unsharded while its attention exchanges sequence pieces.

Gradients: the all-gather's backward sums the gradient over the group, so each rank's parameter
gradient is ``cp x`` its share, and their average over the FSDP group (``dp_shard x cp`` ranks, see
parallel/mesh.py) is exactly the single-process gradient.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn

from cosmos_predict2.models.frame_sharding import FrameShardedNet


def _wait(t: torch.Tensor) -> torch.Tensor:
    return funcol.wait_tensor(t) if hasattr(funcol, "wait_tensor") else t


def _all_to_all(chunks: list[torch.Tensor], group) -> list[torch.Tensor]:
    """Send ``chunks[j]`` to rank j of ``group``; returns the chunks received from every rank, in rank order.

    Autograd-aware (the backward is the reverse exchange) and correct on sub-groups of any backend
    (``torch.distributed.nn.functional.all_to_all`` falls back to ``scatter`` with global ranks on gloo)."""
    stacked = torch.stack([c.contiguous() for c in chunks])  # (n, *chunk)
    received = _wait(funcol.all_to_all_single_autograd(stacked.flatten(0, 1), None, None, group))
    return list(received.view(stacked.shape).unbind(0))


class UlyssesAttention(nn.Module):
    """Wraps a (B, S, H, D) attention op: sequence-sharded in/out, head-sharded full-sequence inside."""

    def __init__(self, inner: nn.Module, group, cp_size: int) -> None:
        super().__init__()
        self.inner = inner
        self.group = group
        self.cp_size = int(cp_size)

    def extra_repr(self) -> str:
        return f"cp_size={self.cp_size}"

    def _seq_to_head(self, x_B_Sl_H_D: torch.Tensor) -> torch.Tensor:
        heads = x_B_Sl_H_D.shape[2]
        if heads % self.cp_size:
            raise ValueError(f"context parallelism: {heads} attention heads are not divisible by "
                             f"model_parallel.context_parallel_size={self.cp_size}")
        parts = _all_to_all(list(x_B_Sl_H_D.chunk(self.cp_size, dim=2)), self.group)  # cp x (B, S/cp, H/cp, D)
        return torch.cat(parts, dim=1)  # (B, S, H/cp, D)

    def _head_to_seq(self, x_B_S_Hl_D: torch.Tensor) -> torch.Tensor:
        parts = _all_to_all(list(x_B_S_Hl_D.chunk(self.cp_size, dim=1)), self.group)  # cp x (B, S/cp, H/cp, D)
        return torch.cat(parts, dim=2)  # (B, S/cp, H, D)

    def forward(self, q_B_S_H_D: torch.Tensor, k_B_S_H_D: torch.Tensor, v_B_S_H_D: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._seq_to_head(t) for t in (q_B_S_H_D, k_B_S_H_D, v_B_S_H_D))
        return self._head_to_seq(self.inner(q, k, v))


class UlyssesFrameSharding:
    """The :class:`~cosmos_predict2.models.frame_sharding.FrameSharding` plan of one context-parallel group:
    contiguous shares per rank, all-gather at the exit, Ulysses self-attention."""

    def __init__(self, group, cp_size: int, cp_rank: int) -> None:
        self.group, self.cp_size, self.cp_rank = group, int(cp_size), int(cp_rank)
        self.splits = self.gathers = 0  # calls during the current forward (checked by apply_context_parallel)

    def split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        size = x.shape[dim]
        if size % self.cp_size:
            raise ValueError(
                f"context parallelism: cannot share {size} rows (dim {dim} of a {tuple(x.shape)} tensor) equally among "
                f"model_parallel.context_parallel_size={self.cp_size} ranks; the latent frames must be a multiple of "
                f"{self.cp_size}: choose num_video_frames so that 1 + (frames-1)/4 is one")
        self.splits += 1
        n = size // self.cp_size
        return x.narrow(dim, self.cp_rank * n, n)

    def gather(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        self.gathers += 1
        # the backward reduce-scatters (sums) the gradient over the group
        full = _wait(funcol.all_gather_single_autograd(x.movedim(dim, 0).contiguous(), 0, self.group))
        return full.movedim(0, dim)

    def wrap_self_attention(self, op: nn.Module) -> nn.Module:
        return UlyssesAttention(op, self.group, self.cp_size)


def _reset_counts(plan: UlyssesFrameSharding):
    def hook(module: nn.Module, args: tuple) -> None:
        plan.splits = plan.gathers = 0
    return hook


def _check_sharded(plan: UlyssesFrameSharding):
    def hook(module: nn.Module, args: tuple, output) -> None:
        if not (plan.splits and plan.gathers):
            raise RuntimeError(
                f"context parallelism: {type(module).__name__}.forward ran without splitting its frames and gathering "
                f"its output through net.frame_sharding (splits {plan.splits}, gathers {plan.gathers}); its forward must "
                "use the seam of models/frame_sharding.py")
    return hook


def apply_context_parallel(net: nn.Module, group, cp_size: int, cp_rank: Optional[int] = None) -> nn.Module:
    """Install Ulysses context parallelism on ``net`` in place (no-op for ``cp_size == 1``)."""
    if cp_size <= 1:
        return net
    if not isinstance(net, FrameShardedNet):
        raise TypeError(f"context parallelism: {type(net).__name__} has no frame-sharding seam (it is not a "
                        "models.frame_sharding.FrameShardedNet) and would run unsharded; use a DiT of models/ or set "
                        "model_parallel.context_parallel_size=1")
    if net.frame_sharding is not None:
        raise RuntimeError(f"context parallelism is already installed on this {type(net).__name__}")
    cp_rank = dist.get_rank(group) if cp_rank is None else cp_rank
    plan = UlyssesFrameSharding(group, cp_size, cp_rank)
    net.shard_frames(plan)
    net.register_forward_pre_hook(_reset_counts(plan))
    net.register_forward_hook(_check_sharded(plan))
    return net
