"""Every registered experiment resolves and validates; seed settings are as documented upstream."""

import math

import pytest

from cosmos_predict2.configs.base.config import make_config
from cosmos_predict2.configs.compose import apply_overrides
from cosmos_predict2.configs.registry import registered_options
from cosmos_predict2.configs.validate import validate_config

make_config()
SEED_EXPERIMENTS = [
    "action_conditional_predict2_video2world_2b_training",
    "action_conditioned_predict2_video2world_2b_training",
    "ac_reason_embeddings_rectified_flow_2b_256_320",
    "video2world_action_bridge_2frames",
    "predict2_video2world_training_2b_agibot_head_center_fisheye_color",
    "predict2_video2world_training_14b_agibot_head_center_fisheye_color",
    "predict2_video2world_training_2b_groot_gr1_480",
    "predict2_video2world_training_14b_groot_gr1_480",
    "tiny_action_conditioned_bridge",
    "tiny_video2world_text",
]


def compose(*overrides):
    return apply_overrides(make_config(), list(overrides))


def test_seed_experiments_are_registered():
    names = registered_options("experiment")
    for name in SEED_EXPERIMENTS:
        assert name in names


@pytest.mark.parametrize("name", sorted(set(registered_options("experiment"))))
def test_every_experiment_resolves_and_validates(name):
    cfg = compose(f"experiment={name}")
    validate_config(cfg, world_size=None)
    assert cfg.model.config.net._target_.startswith("cosmos_predict2.models.")
    # every data config exposes its root under dataset.dataset_dir
    assert cfg.dataloader_train.dataset.dataset_dir
    assert cfg.dataloader_val.dataset.dataset_dir
    assert cfg.checkpoint.type._target_.startswith("cosmos_predict2.checkpoint.")


def test_agibot_settings():
    c2 = compose("experiment=predict2_video2world_training_2b_agibot_head_center_fisheye_color")
    assert math.isclose(c2.optimizer.lr, 2 ** -15.5) and c2.optimizer.weight_decay == 0.1
    assert c2.model_parallel.context_parallel_size == 2 and c2.model.config.fsdp_shard_size == 8
    assert c2.model.config.net.rope_h_extrapolation_ratio == 2.0 and c2.model.config.max_num_conditional_frames == 1
    assert c2.dataloader_train.dataset.video_size == [704, 1280] and c2.dataloader_train.dataset.num_frames == 93
    assert c2.model.config.state_t == 24 and c2.checkpoint.save_iter == 500 and c2.trainer.max_iter == 100_000
    assert c2.job.path == "posttraining/video2world/2b_agibot_head_center_fisheye_color"
    c14 = compose("experiment=predict2_video2world_training_14b_agibot_head_center_fisheye_color")
    assert c14.model.config.fsdp_shard_size == 32 and c14.model_parallel.context_parallel_size == 8
    assert c14.optimizer.weight_decay == 0.2 and c14.scheduler.cycle_lengths == [50_000] and c14.scheduler.f_max == [0.2]
    assert c14.model.config.net.num_heads == 40 and c14.model.config.net.model_channels == 5120
    assert validate_config(c14, world_size=32)


def test_groot_settings():
    c = compose("experiment=predict2_video2world_training_2b_groot_gr1_480")
    assert math.isclose(c.optimizer.lr, 2 ** -14.5)
    assert c.dataloader_train.dataset.video_size == [432, 768] and c.dataloader_train.num_workers == 8
    assert c.model.config.ema.enabled is False and c.checkpoint.save_iter == 200
    assert c.job.name == "2b_groot_gr1_480"
    c14 = compose("experiment=predict2_video2world_training_14b_groot_gr1_480")
    assert c14.model_parallel.context_parallel_size == 4 and c14.model.config.fsdp_shard_size == 32


def test_action_experiment_settings():
    p2 = compose("experiment=action_conditional_predict2_video2world_2b_training")
    assert p2.job.project == "posttraining" and p2.job.group == "video2world"
    assert p2.job.name.startswith("action_conditional_predict2_video2world_2b_training_20")
    assert p2.model.config.net._target_.endswith("ActionConditionedMinimalV1LVGDiT")
    assert p2.model.config.net.action_dim * p2.model.config.net.num_action_per_chunk == 84 and p2.model.config.num_video_frames == 13
    assert p2.checkpoint.type._target_.endswith("StandardCheckpointer") and p2.model.config.ema.enabled is False
    assert p2.optimizer.betas == [0.9, 0.99] and p2.optimizer.lr == 1e-4
    p25 = compose("experiment=ac_reason_embeddings_rectified_flow_2b_256_320")
    assert p25.job.path == "cosmos_predict2_action_conditioned/cosmos_predict_v2p5/2b_bridge_action_conditioned"
    assert math.isclose(p25.optimizer.lr, 2 ** -14.5) and p25.optimizer.betas == [0.9, 0.999]
    assert p25.dataloader_train.dataset.video_size == [256, 320] and p25.model.config.state_t == 4
    assert p25.checkpoint.type._target_.endswith("DistributedCheckpointer") and p25.checkpoint.save_iter == 2000
    assert p25.trainer.callbacks.grad_clip.clip_norm == 0.1 and p25.model.config.ema.enabled
    assert p25.model.config.objective._target_.endswith("RectifiedFlowObjective")
    p1 = compose("experiment=video2world_action_bridge_2frames")
    assert p1.job.path == "posttraining/diffusion_video2world_action/video2world_action_bridge_2frames"
    assert p1.optimizer.lr == 4e-4 and p1.optimizer.eps == 1e-10 and p1.dataloader_train.batch_size == 8
    assert p1.dataloader_train.dataset.num_frames == 2 and p1.model.config.net.model_channels == 4096
    assert p1.model.config.objective._target_.endswith("EDMObjective") and p1.trainer.max_iter == 2000


def test_experiments_inherit():
    child = compose("experiment=predict2_video2world_training_2b_agibot_head_center_fisheye_color_480p_10fps")
    assert child.dataloader_train.dataset.num_frames == 61 and child.model.config.state_t == 16
    assert child.model_parallel.context_parallel_size == 1 and math.isclose(child.optimizer.lr, 2 ** -15.5)
    chunk = compose("experiment=cosmos_predict2p5_2B_reason_embeddings_action_conditioned_rectified_flow_bridge_13frame_256x320")
    assert chunk.model.config.net._target_.endswith("ActionChunkConditionedMinimalV1LVGDiT")
    assert chunk.optimizer.lr == 32e-5 and chunk.dataloader_train.batch_size == 8
