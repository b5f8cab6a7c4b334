"""Memory plan of a training run, per rank, from the config alone (the net is counted on the meta device).

Parts (bytes per rank; FSDP shards every parameter over the ``dp_shard x cp`` ranks of its group, rank 0
holding the largest chunk, which is what is counted):

- ``params``: the net's parameters, float32 masters (bf16 compute comes from FSDP mixed precision);
- ``grads``: float32 gradients of the trainable parameters (LoRA: the adapters only, DoRA magnitudes included);
- ``optimizer``: AdamW's two float32 moments per trainable parameter;
- ``ema``: the float32 EMA net (when ``model.config.ema.enabled``);
- ``fsdp_buffers``: all-gathered compute-precision copies of two blocks (the one running and the prefetched one);
- ``tokenizer``: the frozen VAE in its dtype;
- ``activation_estimate``: tensors saved for the backward pass for the configured batch, resolution, frames,
  context-parallel split and activation-checkpointing mode. Per token and block the DiT block saves about
  :data:`SAVED_PER_TOKEN` ``[mode]`` vectors of ``model_channels`` values in the compute precision (counted
  from the block's ops: LayerNorm inputs and outputs, modulated inputs, fp32 q/k norms, q/k/v, attention
  and projection outputs, the 4x-wide MLP activations); checkpointed modes keep fewer and recompute one
  block at a time in the backward pass; cross-attention keys/values over the text tokens and the layers
  outside the blocks are added. It is an estimate: ``tests/unit/test_memory_plan.py`` compares the
  ``none`` mode with the tensors autograd really saves, BENCHMARKS.md has measured peaks.

``host_build`` is the host memory one rank needs while building (its shards when the device is the CPU,
the largest unit initialised at full size, the tokenizer, the interpreter): the launcher refuses to build
when it exceeds the memory available on the host, and says which knobs would make the run fit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Optional

import torch

from cosmos_predict2.lazy_config.errors import ConfigError
from cosmos_predict2.lazy_config.nodes import node_get
from cosmos_predict2.parallel.layout import parallel_layout
from cosmos_predict2.pipelines.model_config import Video2WorldConfig, model_config
from cosmos_predict2.utils.files import atomic_write_text

__all__ = ["MemoryPlan", "MemoryPlanError", "build_memory_plan", "check_memory_plan", "SAVED_PER_TOKEN"]

GIB = 2**30
# Saved activations per token per DiT block, in model_channels-sized vectors at the compute precision (bf16;
# "none" includes the float32 copies the q/k norms and RoPE keep; in float32 compute it is about 32).
SAVED_PER_TOKEN = {"none": 38, "block_wise": 1, "mm_only": 12, "predict2_2b_720": 10, "predict2_14b_720": 10,
                   "predict2_2b_720_aggressive": 3, "predict2_14b_720_aggressive": 6}
OUTSIDE_BLOCKS_PER_TOKEN = 8  # patch embedding, final layer, loss
INTERPRETER_BYTES = int(0.6 * GIB)  # python + torch + process group, measured on CPU (BENCHMARKS.md)
_DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2}


class MemoryPlanError(ConfigError):
    """The run does not fit in memory; the message names the knobs that would make it fit."""


@dataclasses.dataclass
class MemoryPlan:
    world_size: int
    replicate: int
    shard_group: int
    context_parallel: int
    precision: str
    activation_checkpointing: str
    batch_size: int
    tokens_per_sample: int
    num_params: int
    trainable_params: int
    largest_unit_params: int
    params_bytes_per_rank: int
    grads_bytes_per_rank: int
    optimizer_bytes_per_rank: int
    ema_bytes_per_rank: int
    fsdp_buffers_bytes_per_rank: int
    tokenizer_bytes: int
    activation_bytes_per_rank_estimate: int

    @property
    def state_bytes_per_rank(self) -> int:
        """Parameters, gradients, optimizer and EMA: exact, independent of the data."""
        return (self.params_bytes_per_rank + self.grads_bytes_per_rank + self.optimizer_bytes_per_rank
                + self.ema_bytes_per_rank)

    @property
    def total_bytes_per_rank(self) -> int:
        return (self.state_bytes_per_rank + self.fsdp_buffers_bytes_per_rank + self.tokenizer_bytes
                + self.activation_bytes_per_rank_estimate)

    def host_build_bytes(self, device_type: str) -> int:
        """Host memory one rank needs while building (see the module doc)."""
        if device_type != "cpu":  # shards and init units live on the accelerator
            return self.tokenizer_bytes + INTERPRETER_BYTES
        return (self.params_bytes_per_rank + self.ema_bytes_per_rank + 4 * self.largest_unit_params
                + self.tokenizer_bytes + INTERPRETER_BYTES)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["state_bytes_per_rank"] = self.state_bytes_per_rank
        out["total_bytes_per_rank"] = self.total_bytes_per_rank
        return out

    def write(self, path: str) -> str:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))
        return path

    def lines(self) -> list[str]:
        g = lambda b: f"{b / GIB:8.2f} GiB"  # noqa: E731
        return [
            f"memory plan per rank: world {self.world_size} = replicate {self.replicate} x FSDP group "
            f"{self.shard_group} (context parallel {self.context_parallel}); {self.num_params / 1e9:.3f} B "
            f"parameters ({self.trainable_params / 1e9:.3f} B trainable); precision {self.precision}; "
            f"batch {self.batch_size} x {self.tokens_per_sample} tokens; activation checkpointing "
            f"{self.activation_checkpointing}",
            f"  parameters (fp32)      {g(self.params_bytes_per_rank)}",
            f"  gradients (fp32)       {g(self.grads_bytes_per_rank)}",
            f"  optimizer (AdamW)      {g(self.optimizer_bytes_per_rank)}",
            f"  EMA (fp32)             {g(self.ema_bytes_per_rank)}",
            f"  FSDP gather buffers    {g(self.fsdp_buffers_bytes_per_rank)}",
            f"  tokenizer              {g(self.tokenizer_bytes)}",
            f"  activations (estimate) {g(self.activation_bytes_per_rank_estimate)}",
            f"  total                  {g(self.total_bytes_per_rank)}",
        ]


def _meta_net(mcfg: Video2WorldConfig) -> torch.nn.Module:
    """The net as the trainer builds it (LoRA adapters included), on the meta device."""
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.models.lora import LORA_CONFIG_KEYS, inject_lora

    with torch.device("meta"):
        net = instantiate(mcfg.net)
        if mcfg.train_architecture == "lora":
            try:
                inject_lora(net, **{arg: getattr(mcfg, key) for arg, key in LORA_CONFIG_KEYS.items()})
            except ValueError as err:  # e.g. target names this net does not have: a config error, before the build
                raise ConfigError(f"model.config.lora_target_modules: {err}") from err
    return net


def _shard_bytes(params: list[torch.Tensor], group: int, bytes_per: int) -> int:
    """Bytes of rank 0's chunk of every parameter sharded on dim 0 over ``group`` ranks."""
    total = 0
    for p in params:
        if p.ndim == 0:
            total += bytes_per
            continue
        rows = math.ceil(p.shape[0] / group)
        total += rows * (p.numel() // max(1, p.shape[0])) * bytes_per
    return total


def _tokenizer_bytes(node: Any) -> int:
    """Parameter bytes of the frozen VAE (counted on meta; the tiny tokenizer has none)."""
    target = str(node_get(node, "_target_", default=""))
    if target.endswith("Cosmos1CVTokenizer"):
        # TorchScript files: their size on disk stands for the weights (nothing to build on meta); 0 when absent
        # (preflight reports the missing files).
        from cosmos_predict2.tokenizers.cosmos_tokenize1 import jit_file_bytes

        return jit_file_bytes(**{k: node[k] for k in node.keys() if k != "_target_" and node[k] is not None})
    if not target.endswith("Wan2pt1VAETokenizer"):
        return 0
    from cosmos_predict2.tokenizers.wan2pt1 import wan_vae_for

    with torch.device("meta"):
        vae = wan_vae_for(node)
    return sum(p.numel() for p in vae.parameters()) * _DTYPE_BYTES.get(str(node_get(node, "dtype", default="bfloat16")), 4)


def _tokens_per_sample(config: Any, net: torch.nn.Module) -> int:
    state_t = int(model_config(config).state_t or 1)
    size = node_get(config.dataloader_train, "dataset", "video_size")
    if size is None:
        return 0
    compression = 8
    p, pt = int(getattr(net, "patch_spatial", 2)), int(getattr(net, "patch_temporal", 1))
    return (state_t // pt) * (int(size[0]) // compression // p) * (int(size[1]) // compression // p)


def build_memory_plan(config: Any, world_size: int) -> MemoryPlan:
    """The plan for ``config`` on ``world_size`` ranks (see the module doc). Pure: no process group."""
    from cosmos_predict2.models.init import iter_init_units

    mcfg = model_config(config)
    cp = int(config.model_parallel.context_parallel_size)
    layout = parallel_layout(int(world_size), mcfg.fsdp_shard_size, cp)
    group = layout["shard"] * layout["cp"]
    net = _meta_net(mcfg)
    params = list(net.parameters())
    trainable = [p for p in params if p.requires_grad]
    precision = mcfg.precision
    compute = _DTYPE_BYTES.get(precision, 4)
    ema = mcfg.ema.enabled
    policy = mcfg.activation_checkpointing
    blocks = list(getattr(net, "blocks", []))
    block_params = max((sum(p.numel() for p in b.parameters()) for b in blocks), default=0)
    largest_unit = max((sum(u.module.get_parameter(n).numel() for n in u.param_names)
                        for u in iter_init_units(net)), default=0)
    dim = int(getattr(net, "model_channels", 0) or 0)
    batch = int(node_get(config.dataloader_train, "batch_size", default=1))
    tokens = _tokens_per_sample(config, net)
    local_tokens = tokens // cp
    text_tokens = 1 if mcfg.text_encoder.kind == "none" else 512
    saved = SAVED_PER_TOKEN.get(policy, SAVED_PER_TOKEN["none"])
    recompute = SAVED_PER_TOKEN["none"] if policy != "none" else 0
    per_token = len(blocks) * saved + recompute + OUTSIDE_BLOCKS_PER_TOKEN
    activations = batch * dim * compute * (local_tokens * per_token + text_tokens * 2 * len(blocks))
    gather = 2 * block_params * compute if (group > 1 or compute < 4) else 0
    return MemoryPlan(
        world_size=int(world_size), replicate=layout["replicate"], shard_group=group, context_parallel=cp,
        precision=precision, activation_checkpointing=policy, batch_size=batch, tokens_per_sample=tokens,
        num_params=sum(p.numel() for p in params), trainable_params=sum(p.numel() for p in trainable),
        largest_unit_params=largest_unit,
        params_bytes_per_rank=_shard_bytes(params, group, 4),
        grads_bytes_per_rank=_shard_bytes(trainable, group, 4),
        optimizer_bytes_per_rank=_shard_bytes(trainable, group, 8),
        ema_bytes_per_rank=_shard_bytes(params, group, 4) if ema else 0,
        fsdp_buffers_bytes_per_rank=gather,
        tokenizer_bytes=_tokenizer_bytes(mcfg.tokenizer),
        activation_bytes_per_rank_estimate=activations,
    )


def _knobs(plan: MemoryPlan, config: Any, state_only: bool) -> str:
    knobs = []
    if plan.shard_group < plan.world_size:
        knobs.append("shard over more ranks (model.config.fsdp_shard_size=-1)")
    knobs.append("more ranks / nodes (FSDP divides parameters, gradients, optimizer and EMA by the group size)")
    if model_config(config).train_architecture != "lora":
        knobs.append("LoRA (model.config.train_architecture=lora: gradients and optimizer state for the adapters only)")
    if plan.ema_bytes_per_rank:
        knobs.append("no EMA copy (model.config.ema.enabled=False)")
    if not state_only:
        if SAVED_PER_TOKEN.get(plan.activation_checkpointing, 32) > 1:
            knobs.append("activation checkpointing (model.config.activation_checkpointing=block_wise)")
        knobs.append("context parallelism (model_parallel.context_parallel_size=N: splits the tokens of a sample)")
        if plan.batch_size > 1:
            knobs.append("a smaller batch (dataloader_train.batch_size=1, with trainer.grad_accum_iter)")
    return "; ".join(knobs)


def _host_available() -> Optional[int]:
    """MemAvailable of this host divided among the ranks on it (None where /proc/meminfo is missing)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    return avail // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except OSError:
        return None
    return None


def check_memory_plan(plan: MemoryPlan, config: Any, device: torch.device, build_only: bool = False) -> list[str]:
    """Raise :class:`MemoryPlanError` when the build (or, unless ``build_only``, the parameters, gradients,
    optimizer and EMA) cannot fit; return warnings when only the activation estimate does not."""
    warnings: list[str] = []
    gib = lambda b: f"{b / GIB:.1f} GiB"  # noqa: E731
    host = _host_available()
    build = plan.host_build_bytes(device.type)
    if host is not None and build > host:
        raise MemoryPlanError(
            f"the build needs about {gib(build)} of host memory per rank but {gib(host)} is available per rank "
            f"on this host; to fit: {_knobs(plan, config, True)}")
    if build_only:
        return warnings
    if device.type == "cuda":
        budget, where = torch.cuda.get_device_properties(device).total_memory, f"the {torch.cuda.get_device_name(device)}"
    else:
        budget, where = host, "this host (per rank)"
    if budget is None:
        return warnings
    if plan.state_bytes_per_rank > budget:
        raise MemoryPlanError(
            f"parameters, gradients, optimizer state and EMA need {gib(plan.state_bytes_per_rank)} per rank but "
            f"{where} has {gib(budget)}; to fit: {_knobs(plan, config, True)}")
    if plan.total_bytes_per_rank > budget:
        warnings.append(f"the memory plan ({gib(plan.total_bytes_per_rank)} per rank, activations estimated) exceeds "
                        f"{where} ({gib(budget)}); if it runs out of memory: {_knobs(plan, config, False)}")
    return warnings
