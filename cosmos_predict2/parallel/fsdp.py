"""FSDP2 / HSDP wrapping of a DiT: ``fully_shard`` on every block, then on the net (root).

With ``precision="bfloat16"`` the sharded master parameters stay float32; FSDP all-gathers them as bf16
for compute (``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``) and returns float32 outputs.
The last block keeps its parameters gathered after forward (it is the first one the backward needs).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}


def mixed_precision_policy(precision: str, root: bool = False) -> Optional[MixedPrecisionPolicy]:
    """bf16 compute, fp32 gradient reduction; the root also returns fp32 outputs (for the loss)."""
    if precision not in DTYPES:
        raise ValueError(f"model.config.precision={precision!r} is unknown; use 'bfloat16' or 'float32'")
    if precision == "float32":
        return None
    return MixedPrecisionPolicy(param_dtype=DTYPES[precision], reduce_dtype=torch.float32,
                                output_dtype=torch.float32 if root else None)


def apply_fsdp(net: nn.Module, mesh: DeviceMesh, precision: str = "float32") -> nn.Module:
    """Shard ``net`` in place over ``mesh`` (1-D FSDP or 2-D HSDP) and return it."""
    def kwargs(root: bool) -> dict:
        mp = mixed_precision_policy(precision, root)
        return dict(mesh=mesh, mp_policy=mp) if mp is not None else dict(mesh=mesh)

    blocks = list(getattr(net, "blocks", []))
    for i, block in enumerate(blocks):
        fully_shard(block, reshard_after_forward=i < len(blocks) - 1, **kwargs(False))
    fully_shard(net, **kwargs(True))
    return net


def set_gradient_sync(module: nn.Module, enabled: bool) -> None:
    """Toggle FSDP gradient reduce-scatter (off on the micro-batches of a gradient-accumulation step)."""
    for m in module.modules():
        if isinstance(m, FSDPModule):
            m.set_requires_gradient_sync(enabled, recurse=False)
