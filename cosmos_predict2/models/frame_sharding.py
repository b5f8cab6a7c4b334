"""The context-parallel seam of the DiTs: split the token sequence at the net's entry, gather it at the exit.

The nets are single-device code. A :class:`FrameSharding` plan set from outside (``net.shard_frames(plan)``;
parallel/context_parallel.py builds one per context-parallel group) makes their forward

- keep only this rank's contiguous share of the latent frames right after the embeddings: the hidden states
  (B, T, L, D), the RoPE tables (T*L, 1, d) and the per-frame AdaLN inputs / positional embeddings (inputs
  broadcast over frames, size 1 there, stay whole);
- run the blocks on that share; self-attention, the only op that mixes frames, runs through the plan's wrapper
  of the attention op (:meth:`FrameSharding.wrap_self_attention`); cross-attention and the MLPs are per token;
- gather the final layer's output back to all T frames before un-patchifying, so every rank returns the full
  output.
"""

from __future__ import annotations

from typing import Optional, Protocol

import torch
from torch import nn


class FrameSharding(Protocol):
    """How a net's token sequence is shared among the ranks of a context-parallel group."""

    def split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """This rank's contiguous share of ``x`` along ``dim`` (the size there must divide evenly)."""

    def gather(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Every rank's share concatenated along ``dim`` (the inverse of :meth:`split`; autograd-aware)."""

    def wrap_self_attention(self, op: nn.Module) -> nn.Module:
        """A drop-in for the (B, S, H, D) attention ``op`` whose q/k/v and output are this rank's share of S."""


class FrameShardedNet:
    """Mixin of the DiTs: the optional ``frame_sharding`` plan their forward applies (None: one device).

    A net names the class of its attention layers in ``attention_layer_cls``; those with ``is_selfattn`` get
    their ``attn_op`` wrapped by the plan."""

    frame_sharding: Optional[FrameSharding] = None
    attention_layer_cls: type = nn.Module

    def shard_frames(self, plan: FrameSharding) -> None:
        """Install ``plan`` (see the module doc); the net's forward then splits and gathers through it."""
        layers = [m for m in self.modules() if isinstance(m, self.attention_layer_cls) and m.is_selfattn]
        if not layers:
            raise ValueError(f"{type(self).__name__} has no self-attention layer to shard frames over")
        for layer in layers:
            layer.attn_op = plan.wrap_self_attention(layer.attn_op)
        self.frame_sharding = plan

    def _local_frames(self, x: Optional[torch.Tensor], dim: int) -> Optional[torch.Tensor]:
        """This rank's frames of a per-frame input; None and inputs broadcast over frames (size 1) stay whole."""
        if self.frame_sharding is None or x is None or x.shape[dim] == 1:
            return x
        return self.frame_sharding.split(x, dim)
