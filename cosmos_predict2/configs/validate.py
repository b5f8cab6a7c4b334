"""Pure validation of a composed config against a world size (no process group needed).

Checks the things that otherwise fail deep inside a multi-GPU job: the FSDP / HSDP / context-parallel
layout, heads and latent frames divisible by the context-parallel size, frame counts the 4x temporal
tokenizer can compress, pixel sizes the 8x VAE + 2x2 patching can tile, the text-embedding width against
the net's cross-attention input, and the rectified-flow timestep scale.
"""

from __future__ import annotations

from typing import Optional

from cosmos_predict2.checkpoint.base import resume_keys
from cosmos_predict2.lazy_config.errors import ConfigError
from cosmos_predict2.lazy_config.nodes import node_get
from cosmos_predict2.configs.schema import Config
from cosmos_predict2.parallel.layout import check_shard_size, parallel_layout
from cosmos_predict2.pipelines.model_config import Video2WorldConfig, model_config

TEMPORAL_COMPRESSION = 4
SPATIAL_FACTOR = 16  # 8x VAE downsampling x 2x2 patches
NO_EXPERIMENT = ("no experiment chosen (the config has no model to train): add `-- experiment=NAME` to the command "
                 "line; list the experiments with `python -m scripts.train --list experiment`")


def _latent_frames(tokenizer, frames: int) -> int:
    """Latent frames the tokenizer node makes of ``frames`` pixel frames; ConfigError when it cannot."""
    target = str(node_get(tokenizer, "_target_", default=""))
    if target.endswith(".Cosmos1CVTokenizer"):  # Predict1: chunks of pixel_chunk_duration frames, 8x in time
        chunk = int(node_get(tokenizer, "pixel_chunk_duration", default=121))
        factor = int(node_get(tokenizer, "temporal_compression", default=8))
        if frames == 1:
            return 1
        if frames < 1 or frames % chunk:
            raise ConfigError(
                f"model.config.num_video_frames={frames} cannot be split into chunks of "
                f"model.config.tokenizer.pixel_chunk_duration={chunk} frames; use a multiple of {chunk} (or 1)")
        return frames // chunk * (1 + (chunk - 1) // factor)
    if bool(node_get(tokenizer, "encode_frames_independently", default=False)):
        if frames < 1:
            raise ConfigError(f"model.config.num_video_frames must be >= 1, got {frames}")
        return frames
    if frames < 1 or (frames - 1) % TEMPORAL_COMPRESSION != 0:
        lo = max(1, (frames - 1) // TEMPORAL_COMPRESSION * TEMPORAL_COMPRESSION + 1)
        raise ConfigError(
            f"model.config.num_video_frames={frames} cannot be compressed by the 4x temporal tokenizer: "
            f"it needs 1 + 4k frames (e.g. {lo} or {lo + TEMPORAL_COMPRESSION})")
    return 1 + (frames - 1) // TEMPORAL_COMPRESSION


def _check_text_width(mcfg: Video2WorldConfig, config=None) -> None:
    """The text embedding the encoder / data provides must be the width the net's cross-attention takes in."""
    provided, kind, net = mcfg.text_encoder.embed_dim, mcfg.text_encoder.kind, mcfg.net
    if net is None:
        return
    online = mcfg.text_encoder.compute_online and kind != "none"
    for split in ("dataloader_train", "dataloader_val"):  # embeddings the data carries (unless encoded online)
        data_dim = node_get(getattr(config, split, None), "dataset", "t5_embedding_dim") if config else None
        if data_dim is not None and not online and int(data_dim) != int(provided):
            raise ConfigError(
                f"{split}.dataset.t5_embedding_dim={data_dim} but model.config.text_encoder.embed_dim={provided}: the "
                f"data's text embeddings must have the width the model takes; set both to the same value")
    if node_get(net, "use_crossattn_projection", default=False):
        key, takes = "crossattn_proj_in_channels", node_get(net, "crossattn_proj_in_channels", default=1024)
    else:
        key, takes = "crossattn_emb_channels", node_get(net, "crossattn_emb_channels", default=1024)
    if int(provided) != int(takes):
        fix = (f"set model.config.net.use_crossattn_projection=True and model.config.net.crossattn_proj_in_channels="
               f"{provided}" if int(provided) != int(node_get(net, "crossattn_emb_channels", default=1024))
               else "set model.config.net.use_crossattn_projection=False")
        raise ConfigError(
            f"the text embeddings are {provided}-wide (model.config.text_encoder: kind {kind!r}, embed_dim {provided}) "
            f"but the net's cross-attention takes {takes} (model.config.net.{key}); {fix}")


def _check_timestep_scale(mcfg: Video2WorldConfig) -> None:
    """Rectified flow hands the net ``num_train_timesteps * t``; the net must scale it back to t."""
    target = str(node_get(mcfg.objective, "_target_", default=""))
    if not target.endswith(".RectifiedFlowObjective"):
        return
    steps = float(node_get(mcfg.objective, "num_train_timesteps", default=1000))
    scale = float(node_get(mcfg.net, "timestep_scale", default=1.0))
    if abs(scale * steps - 1.0) > 1e-6:
        raise ConfigError(
            f"model.config.net.timestep_scale={scale:g} with the rectified-flow objective: the net gets "
            f"{steps:g} t and must scale it back to t (Predict2.5 nets use 0.001); set "
            f"model.config.net.timestep_scale={1.0 / steps:g}")


# keys kept for upstream compatibility whose features this trainer does not have: (section, key, default, what to use)
UNSUPPORTED_KEYS = (
    ("trainer", "memory_format", "preserve_format", "tensors keep their layout"),
    ("checkpoint", "dcp_allow_mismatched_size", False, "a shape mismatch is always an error naming the keys"),
    ("checkpoint", "broadcast_via_filesystem", False, "every rank reads its own shards from the checkpoint"),
    ("checkpoint", "verbose", True, "loading always logs one summary line"),
    ("model_parallel", "tensor_model_parallel_size", 1, "shard with model.config.fsdp_shard_size and "
                                                         "model_parallel.context_parallel_size"),
    ("model_parallel", "pipeline_model_parallel_size", 1, "shard with model.config.fsdp_shard_size and "
                                                           "model_parallel.context_parallel_size"),
    ("model_parallel", "sequence_parallel", False, "split the frames with model_parallel.context_parallel_size"),
)


def _check_unsupported_keys(config: Config) -> None:
    """Keys accepted for upstream compatibility must keep their default: a set value would silently do nothing."""
    for section, key, default, instead in UNSUPPORTED_KEYS:
        value = getattr(getattr(config, section), key)
        if value != default:
            raise ConfigError(f"{section}.{key}={value!r} is accepted for upstream compatibility but not supported "
                              f"(only {default!r}): {instead}; remove the override")
    parallelism = str(config.trainer.distributed_parallelism).lower()
    if parallelism != "fsdp":
        raise ConfigError(f"trainer.distributed_parallelism={config.trainer.distributed_parallelism!r} is not supported: "
                          "this trainer shards with FSDP2 ('fsdp'); for DDP-style full replicas on every rank set "
                          "model.config.fsdp_shard_size=1 (gradients are all-reduced, parameters not sharded)")
    resume_keys(config.checkpoint, resuming=True)  # names in checkpoint.keys_not_to_resume
    config.trainer.profiling.check()
    if int(config.trainer.timeout_period) < 1:
        raise ConfigError(f"trainer.timeout_period={config.trainer.timeout_period} must be >= 1 (seconds allowed for "
                          "one iteration before the run stops)")


def validate_config(config: Config, world_size: Optional[int] = None) -> list[str]:
    """Raise :class:`ConfigError` on an impossible config; return notes (warnings) otherwise.

    ``world_size=None`` checks only what does not depend on the number of processes.
    """
    notes: list[str] = []
    if config.model is None:
        raise ConfigError(NO_EXPERIMENT)
    _check_unsupported_keys(config)
    mcfg = model_config(config)
    cp = int(config.model_parallel.context_parallel_size)
    if cp < 1:
        raise ConfigError(f"model_parallel.context_parallel_size must be >= 1, got {cp}")
    num_heads = node_get(mcfg.net, "num_heads")
    if num_heads is not None and num_heads % cp != 0:
        raise ConfigError(
            f"model.config.net.num_heads={num_heads} is not divisible by model_parallel.context_parallel_size={cp} "
            f"(Ulysses context parallelism splits heads across ranks); use a context-parallel size that divides {num_heads}")
    _check_text_width(mcfg, config)
    _check_timestep_scale(mcfg)
    frames = mcfg.num_video_frames
    latent_ch = node_get(mcfg.tokenizer, "latent_ch")
    if latent_ch is not None:
        for key, value in (("state_ch", mcfg.state_ch), ("net.in_channels", node_get(mcfg.net, "in_channels")),
                           ("net.out_channels", node_get(mcfg.net, "out_channels"))):
            if value is not None and value != latent_ch:
                raise ConfigError(
                    f"model.config.{key}={value} does not match the tokenizer's latent_ch={latent_ch}; "
                    f"set model.config.{key}={latent_ch}")
    state_t = _latent_frames(mcfg.tokenizer or {}, frames)
    declared = mcfg.state_t
    if declared is not None and declared != state_t:
        raise ConfigError(
            f"model.config.state_t={declared} does not match num_video_frames={frames} "
            f"({state_t} latent frames with this tokenizer); set model.config.state_t={state_t}")
    if state_t % cp != 0:
        raise ConfigError(
            f"{state_t} latent frames (num_video_frames={frames}) are not divisible by "
            f"model_parallel.context_parallel_size={cp}; choose frames whose latent frame count is a multiple of {cp}")
    for split in ("dataloader_train", "dataloader_val"):
        loader = getattr(config, split)
        size = node_get(loader, "dataset", "video_size")
        if size is not None:
            h, w = int(size[0]), int(size[1])
            if h % SPATIAL_FACTOR or w % SPATIAL_FACTOR:
                raise ConfigError(
                    f"{split}.dataset.video_size={[h, w]} must be divisible by {SPATIAL_FACTOR} "
                    f"(8x VAE downsampling x 2x2 patches); e.g. {[h // 16 * 16, w // 16 * 16]}")
        data_frames = node_get(loader, "dataset", "num_frames")
        if data_frames is not None and data_frames != frames:
            raise ConfigError(
                f"{split}.dataset.num_frames={data_frames} differs from model.config.num_video_frames={frames}; "
                f"set both to the same value")
    shard = check_shard_size(mcfg.fsdp_shard_size, cp)
    if world_size is not None:
        layout = parallel_layout(int(world_size), shard, cp)
        if shard > int(world_size):
            notes.append(f"model.config.fsdp_shard_size={shard} is larger than the world size {world_size}: "
                         f"parameters are sharded over all {world_size} ranks")
        notes.append(f"layout for world size {world_size}: replicate {layout['replicate']} x data shard "
                     f"{layout['shard']} x context parallel {layout['cp']} (FSDP group {layout['shard'] * layout['cp']} ranks)")
    return notes
