"""Activation checkpointing of DiT blocks by policy name (``model.config.activation_checkpointing``).

- ``none``: nothing is recomputed.
- ``block_wise``: each block is recomputed entirely in the backward pass.
- ``mm_only``: selective; matmul outputs are saved, everything else is recomputed.
- ``predict2_2b_720`` / ``predict2_14b_720``: matmuls counted per block, the count mod 16 above 8 saved,
  every other attention output saved, the rest recomputed (upstream's selective policy).
- ``predict2_2b_720_aggressive``: only attention outputs saved.
- ``predict2_14b_720_aggressive``: only matmuls with count mod 16 above 12 saved.

Selective policies use ``torch.utils.checkpoint.create_selective_checkpoint_contexts`` inside
``checkpoint_wrapper(..., preserve_rng_state=False)``; the wrapper's ``_checkpoint_wrapped_module.``
prefix is removed from state-dict keys by ``get_model_state_dict``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointImpl, checkpoint_wrapper
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

POLICIES = ("none", "block_wise", "mm_only", "predict2_2b_720", "predict2_2b_720_aggressive", "predict2_14b_720",
            "predict2_14b_720_aggressive")

_aten = torch.ops.aten
_MM_OPS = {_aten.mm.default, _aten.addmm.default, _aten.bmm.default}
_ATTN_OPS = {
    getattr(_aten, name).default
    for name in ("_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                 "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_flash_attention_for_cpu")
    if hasattr(_aten, name)
}


def _policy_fn(mm_mod: Optional[int], mm_above: Optional[int], attn_every: Optional[int]) -> Callable:
    """Build a policy: save mm outputs whose per-block count mod ``mm_mod`` exceeds ``mm_above`` (all mms
    when ``mm_above`` is -1), and every ``attn_every``-th attention output; recompute the rest."""
    counts = {}

    def policy(ctx, op, *args, **kwargs):
        key = "recompute" if ctx.is_recompute else "forward"
        c = counts.setdefault(key, {"mm": 0, "attn": 0})
        if op in _MM_OPS and mm_mod is not None:
            c["mm"] += 1
            if mm_above < 0 or (c["mm"] % mm_mod) > mm_above:
                return CheckpointPolicy.MUST_SAVE
        if op in _ATTN_OPS and attn_every is not None:
            c["attn"] += 1
            if c["attn"] % attn_every == 0:
                return CheckpointPolicy.MUST_SAVE
        return CheckpointPolicy.PREFER_RECOMPUTE

    return policy


_SELECTIVE = {
    "mm_only": dict(mm_mod=1, mm_above=-1, attn_every=None),
    "predict2_2b_720": dict(mm_mod=16, mm_above=8, attn_every=2),
    "predict2_14b_720": dict(mm_mod=16, mm_above=8, attn_every=2),
    "predict2_2b_720_aggressive": dict(mm_mod=None, mm_above=None, attn_every=1),
    "predict2_14b_720_aggressive": dict(mm_mod=16, mm_above=12, attn_every=None),
}


def selective_context_fn(policy: str) -> Callable:
    """``context_fn`` for ``torch.utils.checkpoint``: fresh per-forward counters for the named policy."""
    spec = _SELECTIVE[policy]

    def context_fn():
        return create_selective_checkpoint_contexts(_policy_fn(**spec))

    return context_fn


def wrap_module(module: nn.Module, policy: str) -> nn.Module:
    if policy == "block_wise":
        return checkpoint_wrapper(module, checkpoint_impl=CheckpointImpl.NO_REENTRANT, preserve_rng_state=False)
    return checkpoint_wrapper(module, checkpoint_impl=CheckpointImpl.NO_REENTRANT, preserve_rng_state=False,
                              context_fn=selective_context_fn(policy))


def apply_activation_checkpointing(net: nn.Module, policy: str = "none") -> nn.Module:
    """Wrap every block of ``net.blocks`` in place according to ``policy`` (see module docstring)."""
    policy = str(policy or "none")
    if policy not in POLICIES:
        raise ValueError(f"model.config.activation_checkpointing={policy!r} is unknown; choose one of {list(POLICIES)}")
    if policy == "none":
        return net
    if not hasattr(net, "blocks"):
        raise ValueError(f"activation checkpointing needs a net with `blocks`; got {type(net).__name__}")
    for i, block in enumerate(list(net.blocks)):
        net.blocks[i] = wrap_module(block, policy)
    return net


