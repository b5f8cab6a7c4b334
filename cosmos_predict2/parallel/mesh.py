"""The device mesh ``(dp_replicate, dp_shard, cp)`` built from the config.

Sizes come from :func:`cosmos_predict2.parallel.layout.parallel_layout` (the same function the config
validation uses), so the mesh always agrees with what ``--dryrun --world-size N`` reported:

- FSDP shards parameters over ``dp_shard x cp`` ranks (flattened ``dp_shard_cp``); context-parallel ranks
  hold different sequence pieces of one sample, so they share the parameter shards (as in torchtitan).
- HSDP replicates those shard groups ``dp_replicate`` times (``fsdp_shard_size=N`` -> world/N replicas).
- Data-parallel rank/size (what the data loader sees) = flattened ``dp_replicate x dp_shard``; all ranks of
  a context-parallel group read the same sample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Optional

from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from cosmos_predict2.parallel.layout import parallel_layout


@dataclass
class ParallelDims:
    """Mesh sizes and the meshes / groups built from them."""

    world_size: int
    replicate: int
    shard: int
    cp: int
    mesh: Optional[DeviceMesh] = None
    flat: dict = field(default_factory=dict)  # flattened meshes: "dp_shard_cp", "dp"

    @property
    def dp(self) -> int:
        return self.replicate * self.shard

    @property
    def fsdp_mesh(self) -> DeviceMesh:
        """1-D ``dp_shard_cp`` mesh (FSDP) or 2-D ``(dp_replicate, dp_shard_cp)`` mesh (HSDP)."""
        if self.replicate > 1:
            with warnings.catch_warnings():  # 2-D slice incl. a flattened dim (the documented HSDP recipe)
                warnings.simplefilter("ignore", UserWarning)
                return self.mesh["dp_replicate", "dp_shard_cp"]
        return self.flat["dp_shard_cp"]

    @property
    def cp_group(self):
        return self.mesh["cp"].get_group() if self.cp > 1 else None

    @property
    def cp_rank(self) -> int:
        return self.mesh["cp"].get_local_rank() if self.cp > 1 else 0

    @property
    def dp_rank(self) -> int:
        return self.flat["dp"].get_local_rank() if self.dp > 1 else 0

    def describe(self) -> str:
        kind = "HSDP" if self.replicate > 1 and self.shard * self.cp > 1 else (
            "replicated" if self.replicate > 1 else "FSDP")
        return (f"world {self.world_size} = replicate {self.replicate} x shard {self.shard} x cp {self.cp} "
                f"({kind}; FSDP group {self.shard * self.cp} ranks, data-parallel size {self.dp})")


def build_parallel_dims(world_size: int, fsdp_shard_size: int, context_parallel_size: int,
                        device_type: str = "cpu") -> ParallelDims:
    """Create the device mesh (collective: every rank must call it).

    A layout the world cannot hold (``fsdp_shard_size`` that neither divides nor is a multiple of the world
    size, or is not a multiple of the context-parallel size; a world not divisible by the context-parallel size)
    raises :class:`~cosmos_predict2.lazy_config.errors.ConfigError` (a ValueError) naming the config key and the
    valid sizes, before any process group is touched; a size is never rounded to a valid one.
    """
    layout = parallel_layout(world_size, fsdp_shard_size, context_parallel_size)
    dims = ParallelDims(world_size, layout["replicate"], layout["shard"], layout["cp"])
    mesh = init_device_mesh(device_type, (dims.replicate, dims.shard, dims.cp),
                            mesh_dim_names=("dp_replicate", "dp_shard", "cp"))
    dims.flat["dp_shard_cp"] = mesh["dp_shard", "cp"]._flatten("dp_shard_cp")
    dims.flat["dp"] = mesh["dp_replicate", "dp_shard"]._flatten("dp")
    dims.mesh = mesh
    return dims
