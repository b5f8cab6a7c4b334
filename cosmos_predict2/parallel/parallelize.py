"""Apply parallelism to a Video2World model from outside, in a fixed order (torchtitan style):

1. context parallelism through the net's frame-sharding seam (frames split at its entry, Ulysses all-to-all
   self-attention, output gathered at its exit),
2. activation checkpointing of the blocks (policy by name),
3. FSDP2 ``fully_shard`` per block then the net (bf16 compute, fp32 masters and reductions).

``net`` and ``net_ema`` get the same treatment so their parameter names and shards match one-to-one
(the EMA update is a local element-wise op on matching shards).
"""

from __future__ import annotations

import logging

from torch import nn

from cosmos_predict2.parallel.activation_checkpoint import apply_activation_checkpointing
from cosmos_predict2.parallel.context_parallel import apply_context_parallel
from cosmos_predict2.parallel.fsdp import apply_fsdp
from cosmos_predict2.parallel.mesh import ParallelDims

log = logging.getLogger(__name__)


def parallelize_net(net: nn.Module, dims: ParallelDims, precision: str = "float32",
                    activation_checkpointing: str = "none", fsdp: bool = True) -> nn.Module:
    """CP -> AC -> FSDP on one DiT, in place."""
    if dims.cp > 1:
        apply_context_parallel(net, dims.cp_group, dims.cp, dims.cp_rank)
    apply_activation_checkpointing(net, activation_checkpointing)
    if fsdp:
        apply_fsdp(net, dims.fsdp_mesh, precision)
    return net


def parallelize_model(model: nn.Module, dims: ParallelDims, precision: str = "float32",
                      activation_checkpointing: str = "none", fsdp: bool = True) -> nn.Module:
    """Parallelise ``model.net`` (and ``model.net_ema`` when present) in place; returns ``model``."""
    for name in ("net", "net_ema"):
        net = getattr(model, name, None)
        if net is None:
            continue
        # the EMA net is wrapped identically (AC is inert without grad) so parameter names match
        parallelize_net(net, dims, precision, activation_checkpointing, fsdp)
    log.info("parallelised: %s; activation checkpointing %s; precision %s", dims.describe(),
             activation_checkpointing, precision)
    return model
