"""Ulysses (all-to-all) context parallelism for the DiT, applied from outside the net.

Latent frames are split across the ``cp`` ranks of a context-parallel group (T must be divisible by cp,
heads must be divisible by cp; :func:`cosmos_predict2.configs.validate.validate_config` checks both):

- a forward pre-hook on the net records the full latent length ``T``;
- a forward pre-hook on every block slices the per-frame tensors to this rank's contiguous frames
  ``[r*T/cp, (r+1)*T/cp)``: hidden states (B, T, L, D), per-frame AdaLN inputs (B, T, .), the RoPE tables
  (T*L, 1, d) and the extra absolute positional embedding (T, L, D). Slicing is a pure function of the
  inputs, so it is safe under activation-checkpoint recomputation;
- every block's self-attention op (``block.self_attn.attn_op``) is wrapped in :class:`UlyssesAttention`:
  q/k/v (B, S/cp, H, D) are exchanged to (B, S, H/cp, D) with an autograd all-to-all, the local op runs
  on the full sequence for H/cp heads, and a second all-to-all brings the output back to (B, S/cp, H, D).
  Cross-attention stays local (every rank holds the whole text context);
- a forward pre-hook on ``net.final_layer`` all-gathers the hidden states back to the full T (autograd
  all-gather), so the net returns the full output on every rank of the group.

Gradients: the all-gather's backward sums the gradient over the group, so each rank's parameter
gradient is ``cp x`` its share, and their average over the FSDP group (``dp_shard x cp`` ranks, see
parallel/mesh.py) is exactly the single-process gradient.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn


def _all_to_all(chunks: list[torch.Tensor], group) -> list[torch.Tensor]:
    """Send ``chunks[j]`` to rank j of ``group``; returns the chunks received from every rank, in rank order.

    Autograd-aware (the backward is the reverse exchange) and correct on sub-groups of any backend
    (``torch.distributed.nn.functional.all_to_all`` falls back to ``scatter`` with global ranks on gloo)."""
    n = len(chunks)
    stacked = torch.stack([c.contiguous() for c in chunks])  # (n, *chunk)
    received = funcol.all_to_all_single_autograd(stacked.flatten(0, 1), None, None, group)
    received = funcol.wait_tensor(received) if hasattr(funcol, "wait_tensor") else received
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


class _CPState:
    """Per-net state shared by the hooks: the group and the full latent length of the current forward."""

    def __init__(self, group, cp_size: int, cp_rank: int, patch_temporal: int) -> None:
        self.group, self.cp_size, self.cp_rank = group, cp_size, cp_rank
        self.patch_temporal = max(1, int(patch_temporal))
        self.t_full: Optional[int] = None

    def local(self, t: torch.Tensor, dim: int, unit: int = 1) -> torch.Tensor:
        """This rank's contiguous share of ``t`` along ``dim`` (``unit`` rows per frame)."""
        n = self.t_full // self.cp_size * unit
        return t.narrow(dim, self.cp_rank * n, n)


def _net_pre_hook(state: _CPState):
    def hook(module: nn.Module, args: tuple, kwargs: dict):
        x = args[0] if args else kwargs.get("x_B_C_T_H_W")
        t_full = x.shape[2] // state.patch_temporal
        if t_full % state.cp_size:
            raise ValueError(f"context parallelism: {t_full} latent frames are not divisible by "
                             f"model_parallel.context_parallel_size={state.cp_size}; choose num_video_frames so that "
                             f"1 + (frames-1)/4 is a multiple of {state.cp_size}")
        state.t_full = t_full
    return hook


def _block_pre_hook(state: _CPState):
    def split(value: Any, dim: int) -> Any:
        if isinstance(value, torch.Tensor) and value.ndim > dim and value.shape[dim] == state.t_full:
            return state.local(value, dim)
        return value

    def hook(module: nn.Module, args: tuple, kwargs: dict):
        if state.t_full is None or state.cp_size == 1:
            return None
        names = ("x_B_T_L_D", "emb_B_T_D", "crossattn_emb_B_N_Dc", "rope_cos_sin", "adaln_lora_B_T_3D",
                 "extra_pos_emb_T_L_D")
        values = dict(zip(names, args))
        values.update(kwargs)
        x = values["x_B_T_L_D"]
        tokens_per_frame = x.shape[2]
        values["x_B_T_L_D"] = split(x, 1)
        values["emb_B_T_D"] = split(values.get("emb_B_T_D"), 1)
        if values.get("adaln_lora_B_T_3D") is not None:
            values["adaln_lora_B_T_3D"] = split(values["adaln_lora_B_T_3D"], 1)
        if values.get("extra_pos_emb_T_L_D") is not None:
            values["extra_pos_emb_T_L_D"] = split(values["extra_pos_emb_T_L_D"], 0)
        rope = values.get("rope_cos_sin")
        if rope is not None and rope[0].shape[0] == state.t_full * tokens_per_frame:
            values["rope_cos_sin"] = tuple(state.local(r, 0, tokens_per_frame) for r in rope)
        return (), values
    return hook


def _final_pre_hook(state: _CPState):
    def hook(module: nn.Module, args: tuple, kwargs: dict):
        if state.t_full is None or state.cp_size == 1:
            return None
        x_local = args[0] if args else kwargs["x_B_T_L_D"]
        if x_local.shape[1] == state.t_full:  # already full (e.g. a net that gathers itself)
            return None
        # (B, T/cp, L, D) -> (B, T, L, D); the backward reduce-scatters (sums) the gradient over the group
        x_T_B_L_D = funcol.all_gather_single_autograd(x_local.transpose(0, 1).contiguous(), 0, state.group)
        x_T_B_L_D = funcol.wait_tensor(x_T_B_L_D) if hasattr(funcol, "wait_tensor") else x_T_B_L_D
        x_full = x_T_B_L_D.transpose(0, 1)
        return ((x_full,) + tuple(args[1:]), kwargs) if args else ((), dict(kwargs, x_B_T_L_D=x_full))
    return hook


def apply_context_parallel(net: nn.Module, group, cp_size: int, cp_rank: Optional[int] = None) -> nn.Module:
    """Install Ulysses context parallelism on ``net`` in place (no-op for ``cp_size == 1``)."""
    if cp_size <= 1:
        return net
    if not hasattr(net, "blocks") or not hasattr(net, "final_layer"):
        raise ValueError(f"context parallelism needs a DiT with `blocks` and `final_layer`; got {type(net).__name__}")
    cp_rank = dist.get_rank(group) if cp_rank is None else cp_rank
    state = _CPState(group, cp_size, cp_rank, getattr(net, "patch_temporal", 1))
    net.register_forward_pre_hook(_net_pre_hook(state), with_kwargs=True)
    for block in net.blocks:
        attn = block.self_attn
        if not isinstance(attn.attn_op, UlyssesAttention):
            attn.attn_op = UlyssesAttention(attn.attn_op, group, cp_size)
        block.register_forward_pre_hook(_block_pre_hook(state), with_kwargs=True)
    net.final_layer.register_forward_pre_hook(_final_pre_hook(state), with_kwargs=True)
    net._cp_state = state  # for inspection / tests
    return net
