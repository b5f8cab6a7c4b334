"""Every registered experiment: parallel layout valid for 8 and 32 GPUs, net builds on the meta device at its
real size (no memory allocated), activation-checkpoint policy applies, FLOP estimate is sane."""

from __future__ import annotations

import pytest
import torch

from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config, load_config_module
from cosmos_predict2.configs.registry import experiment_aliases, registered_options
from cosmos_predict2.configs.validate import validate_config
from cosmos_predict2.parallel.layout import parallel_layout
from cosmos_predict2.lazy_config import instantiate
from cosmos_predict2.parallel.activation_checkpoint import POLICIES, apply_activation_checkpointing
from cosmos_predict2.trainer.metrics import count_params, dit_shape, train_flops_per_sample

load_config_module(DEFAULT_CONFIG_FILE)()
EXPERIMENTS = sorted(n for n in registered_options("experiment") if n not in experiment_aliases())
SIZES = {"14b": (13e9, 15.5e9), "7b": (6.5e9, 8e9), "2b": (1.8e9, 2.2e9), "tiny": (1e5, 1e7)}


def _expected_size(name: str):
    lname = name.lower()
    for key, bounds in SIZES.items():
        if key in lname:
            return bounds
    return (1e5, 20e9)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_builds_on_meta_with_valid_layout(name):
    config = compose_config(DEFAULT_CONFIG_FILE, [f"experiment={name}"])
    mcfg = config.model.config
    cp = int(config.model_parallel.context_parallel_size)
    for world in (8, 32):
        validate_config(config, world)
        layout = parallel_layout(world, int(mcfg.fsdp_shard_size), cp)
        assert layout["replicate"] * layout["shard"] * layout["cp"] == world
    with torch.device("meta"):
        net = instantiate(mcfg.net)
    params = count_params(net)
    lo, hi = _expected_size(name)
    assert lo <= params <= hi, (name, params)
    assert all(p.device.type == "meta" for p in net.parameters())
    assert int(mcfg.net.num_heads) % cp == 0  # Ulysses splits heads across the context-parallel group
    policy = str(mcfg.get("activation_checkpointing", "none"))
    assert policy in POLICIES
    apply_activation_checkpointing(net, policy)
    block_params, blocks, dim, p, _ = dit_shape(net)
    assert blocks == len(net.blocks) and 0 < block_params <= params
    assert train_flops_per_sample(block_params, blocks, dim, 1000) > 6 * block_params * 1000 - 1


@pytest.mark.parametrize("world,shard,cp,key", [
    (2, 3, 1, "model.config.fsdp_shard_size=3 cannot split world size 2"),
    (4, 3, 2, "model.config.fsdp_shard_size=3 is not a multiple of model_parallel.context_parallel_size=2"),
    (3, -1, 2, "world size 3 is not divisible by model_parallel.context_parallel_size=2"),
])
def test_build_parallel_dims_refuses_instead_of_rounding(world, shard, cp, key):
    """Called directly (no config validation first), the mesh builder raises before any process group is used."""
    import torch.distributed as dist

    from cosmos_predict2.parallel.mesh import build_parallel_dims

    assert not dist.is_initialized()
    with pytest.raises(ValueError, match=key):
        build_parallel_dims(world, shard, cp)
