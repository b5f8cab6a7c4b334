"""Sizes of the device mesh (replicate, shard, context-parallel) for a world size: pure arithmetic, no
process group, shared by the config validation, the memory plan and the mesh itself."""

from __future__ import annotations

from cosmos_predict2.lazy_config.errors import ConfigError


def valid_shard_sizes(world_size: int, context_parallel_size: int) -> list[int]:
    """``model.config.fsdp_shard_size`` values that split ``world_size`` ranks into whole FSDP shard groups:
    the divisors of the world size that are multiples of the context-parallel size (-1 = the whole world)."""
    cp = max(1, int(context_parallel_size))
    return [s for s in range(cp, int(world_size) + 1, cp) if world_size % s == 0]


def _shard_size(fsdp_shard_size) -> int:
    if fsdp_shard_size is None:
        return -1
    try:
        return int(fsdp_shard_size)
    except (TypeError, ValueError):
        raise ConfigError(f"model.config.fsdp_shard_size must be an integer (-1 = the whole world), "
                          f"got {fsdp_shard_size!r}") from None


def check_shard_size(fsdp_shard_size, context_parallel_size: int) -> int:
    """The checks of ``fsdp_shard_size`` that hold for every world size; returns it as an int (None -> -1)."""
    size, cp = _shard_size(fsdp_shard_size), int(context_parallel_size)
    if size < -1:
        raise ConfigError(f"model.config.fsdp_shard_size must be -1 (whole world), 0 (off) or > 0, got {size}")
    if size > 1 and cp >= 1 and size % cp != 0:
        sizes = [cp * k for k in range(1, 5)]
        raise ConfigError(
            f"model.config.fsdp_shard_size={size} is not a multiple of model_parallel.context_parallel_size={cp} "
            f"(context-parallel ranks share one FSDP shard group); set model.config.fsdp_shard_size to a multiple "
            f"of {cp} (e.g. {', '.join(map(str, sizes))}) or -1 for the whole world")
    return size


def parallel_layout(world_size: int, fsdp_shard_size: int, context_parallel_size: int) -> dict:
    """(replicate, shard, cp) sizes of the device mesh; raises ConfigError with the fix when impossible.

    ``fsdp_shard_size``: -1 / None = one shard group over the whole world (FSDP); 0 or 1 = no sharding beyond
    the context-parallel group; N = shard groups of N ranks, replicated world/N times (HSDP). N must divide the
    world size and be a multiple of the context-parallel size. An N that is a multiple of the world size (an
    experiment written for a bigger cluster, e.g. 8 on 2 ranks) shards over the whole world; any other N is an
    error listing the valid sizes, never rounded to one.
    """
    world_size = int(world_size)
    if world_size < 1:
        raise ConfigError(f"the world size (--world-size / number of launched processes) must be >= 1, "
                          f"got {world_size}")
    cp = int(context_parallel_size)
    if cp < 1:
        raise ConfigError(f"model_parallel.context_parallel_size must be >= 1, got {cp}")
    if world_size % cp != 0:
        raise ConfigError(
            f"world size {world_size} is not divisible by model_parallel.context_parallel_size={cp}; "
            f"launch a multiple of {cp} processes or set model_parallel.context_parallel_size to a divisor of {world_size}")
    dp = world_size // cp
    # FSDP shards parameters over ``shard`` ranks; context-parallel ranks are part of a shard group
    # (they hold different sequence pieces of the same sample), so a group is dp_shard x cp ranks.
    size = check_shard_size(fsdp_shard_size, cp)
    if size == -1:
        shard = world_size
    elif size in (0, 1):
        shard = cp
    elif size % world_size == 0:  # the whole world is (a piece of) one shard group of the experiment's layout
        shard = world_size
    elif world_size % size == 0:
        shard = size
    else:
        good = valid_shard_sizes(world_size, cp)
        raise ConfigError(
            f"model.config.fsdp_shard_size={size} cannot split world size {world_size} into FSDP shard groups "
            f"(model_parallel.context_parallel_size={cp}): a shard group must divide the world size (a multiple of "
            f"the world size shards over the whole world); valid shard sizes here: {good} or -1 (the whole world); "
            f"set model.config.fsdp_shard_size to one of them or launch a multiple of {size} processes")
    return dict(replicate=world_size // shard, shard=shard // cp, cp=cp, dp=dp)
