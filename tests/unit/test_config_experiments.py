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
    # every data config exposes its root: dataset.dataset_dir (Bridge, video-text) or dataset.root (LeRobot)
    for loader in (cfg.dataloader_train, cfg.dataloader_val):
        assert loader.dataset.get("dataset_dir") or loader.dataset.get("root")
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
    assert p1.checkpoint.type._target_.endswith("predict1.Predict1Checkpointer")  # iter_N_{reg,ema}_model.pt files
    p1_alias = compose("experiment=tiny_action_conditioned_bridge", "ckpt_klass=fsdp")  # Predict1's group name
    assert p1_alias.checkpoint.type._target_.endswith("predict1.Predict1Checkpointer")


def test_experiments_inherit():
    child = compose("experiment=predict2_video2world_training_2b_agibot_head_center_fisheye_color_480p_10fps")
    assert child.dataloader_train.dataset.num_frames == 61 and child.model.config.state_t == 16
    assert child.model_parallel.context_parallel_size == 1 and math.isclose(child.optimizer.lr, 2 ** -15.5)
    chunk = compose("experiment=cosmos_predict2p5_2B_reason_embeddings_action_conditioned_rectified_flow_bridge_13frame_256x320")
    assert chunk.model.config.net._target_.endswith("ActionChunkConditionedMinimalV1LVGDiT")
    assert chunk.optimizer.lr == 32e-5 and chunk.dataloader_train.batch_size == 8


P25_ACTION = ("ac_reason_embeddings_rectified_flow_2b_256_320",
              "cosmos_predict2p5_2B_reason_embeddings_action_conditioned_rectified_flow_bridge_13frame_256x320")


def _meta_state(cfg) -> dict:
    import torch

    from cosmos_predict2.lazy_config import instantiate

    net_cfg = dict(cfg.model.config.net)
    net_cfg["num_blocks"] = 1  # the layout of one block is the layout of all
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in instantiate(net_cfg).state_dict().items()}


@pytest.mark.parametrize("name", P25_ACTION)
def test_predict25_action_experiments_build_upstreams_net(name):
    """The experiment body's net options survive ``override /net`` (upstream sets them after the net group):
    the released Predict2.5 layout with the 100352 -> 1024 text projection, 0.001 timestep scale, fp32 strategy."""
    cfg = compose(f"experiment={name}")
    net = cfg.model.config.net
    assert net.use_crossattn_projection and net.crossattn_proj_in_channels == 100352
    assert net.timestep_scale == 0.001 and net.use_wan_fp32_strategy
    sd = _meta_state(cfg)
    assert sd["crossattn_proj.0.weight"] == (1024, 100352) and sd["blocks.0.cross_attn.k_proj.weight"] == (2048, 1024)
    per_clip = name.startswith("ac_reason")  # the guide's defaults list: one 12 x 7 action vector per clip
    assert sd["action_embedder_B_D.fc1.weight"][1] == (84 if per_clip else 28)


def test_predict2_and_predict1_nets_have_no_text_projection():
    p2 = compose("experiment=action_conditional_predict2_video2world_2b_training")
    assert "crossattn_proj.0.weight" not in _meta_state(p2) and p2.model.config.net.timestep_scale == 1.0
    p1 = compose("experiment=video2world_action_bridge_2frames")
    tok = p1.model.config.tokenizer
    assert tok._target_.endswith("Cosmos1CVTokenizer") and tok.pixel_chunk_duration == 1  # Cosmos-Tokenize1 CV8x8x8
    assert p1.model.config.net._target_.endswith("general_dit.ActionConditionalVideoExtendGeneralDIT")
    sd = _meta_state(p1)  # Predict1's module tree: blocks.blockN.blocks.K...., affline_norm, 7-d action embedders
    assert sd["blocks.block0.blocks.0.block.attn.to_q.0.weight"] == (4096, 4096) and "affline_norm.weight" in sd
    assert sd["action_embedder_B_3D.fc1.weight"] == (4 * 4096, 7) and "crossattn_proj.0.weight" not in sd


def test_choosing_a_group_option_replaces_the_node():
    """``tokenizer=X`` swaps the whole node (the model's vae_pth / dtype / chunk keys do not leak into it)."""
    cfg = compose("experiment=video2world_action_bridge_2frames", "tokenizer=tiny_tokenizer")
    assert dict(cfg.model.config.tokenizer) == {"_target_": "cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer"}
    cfg = compose("experiment=tiny_action_conditioned_bridge", "net=tiny_dit")
    assert cfg.model.config.net._target_.endswith("dit.MiniTrainDIT") and "action_dim" not in cfg.model.config.net
    # key overrides and experiment bodies still merge into the chosen node
    cfg = compose("experiment=tiny_action_conditioned_bridge", "net=tiny_dit", "model.config.net.num_blocks=3")
    assert cfg.model.config.net.num_blocks == 3


def test_timestep_scale_override_is_upstreams_and_never_doubles():
    """``model.config.net.timestep_scale=0.001`` (upstream's override) is accepted, the net's timestep embedding
    sees the objective's flow time t (scaled once, in the net) and the loss equals that of a net without a scale
    fed t from outside; a scale that would feed the net 1000 t unscaled is refused before anything is built."""
    import torch

    from cosmos_predict2.lazy_config.errors import ConfigError
    from cosmos_predict2.lazy_config import instantiate

    def train_loss(cfg, outside_scale):
        torch.manual_seed(0)
        model = instantiate(cfg.model)
        seen = []  # what the sinusoidal timestep embedding receives, (B, T)
        model.net.t_embedder[0].register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
        x0 = torch.randn(2, 64, 3, 4, 4, generator=torch.Generator().manual_seed(1))
        net_fn = lambda x, t: model.net(x, t * outside_scale, torch.zeros(2, 1, 64), fps=None,  # noqa: E731
                                        condition_video_input_mask_B_C_T_H_W=torch.zeros(2, 1, 3, 4, 4),
                                        padding_mask=torch.zeros(2, 1, 32, 32))
        loss, info = model.objective.training_loss(net_fn, x0, generator=torch.Generator().manual_seed(2))
        t_B_T = info["t"][:, None].expand(-1, x0.shape[2])  # the flow time x_t was made with
        torch.testing.assert_close(seen[0], t_B_T)  # t in [0, 1], neither 1000 t nor 0.001 t
        return loss

    base = ["experiment=tiny_video2world_text", "model.config.net.num_blocks=1"]
    # reference: the scale applied once outside the net (a net with timestep_scale=1 fed timesteps / 1000)
    reference = train_loss(compose(*base, "model.config.net.timestep_scale=1.0"), 0.001)
    for extra in ([], ["model.config.net.timestep_scale=0.001"]):
        cfg = compose(*base, *extra)
        validate_config(cfg)
        torch.testing.assert_close(train_loss(cfg, 1.0), reference)
    with pytest.raises(ConfigError, match="timestep_scale=1 .*set model.config.net.timestep_scale=0.001"):
        validate_config(compose(*base, "model.config.net.timestep_scale=1.0"))


def test_text_width_checks_name_the_keys():
    """The text width the data / encoder provides against the net's cross-attention input, before any build."""
    from cosmos_predict2.lazy_config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dataloader_train.dataset.t5_embedding_dim=1024 but model.config.text_encoder"):
        validate_config(compose("experiment=tiny_action_conditioned_bridge", "dataloader_train.dataset.t5_embedding_dim=1024"))
    # a Predict2.5 net without its text projection cannot take the 100352-wide Reason1.1 embedding
    with pytest.raises(ConfigError, match=r"100352-wide .* takes 1024 .*use_crossattn_projection=True"):
        validate_config(compose("model=action_conditioned_video2world_fsdp_rectified_flow",
                                "net=cosmos_v1_2B_action_conditioned"))


def test_list_marks_cpu_and_gpu_experiments():
    from cosmos_predict2.configs.registry import listing

    lines = {line.split()[0]: line for line in listing("experiment")}
    assert lines["tiny_video2world_action_bridge_2frames"].split()[1] == "[cpu]"
    assert lines["video2world_action_bridge_2frames"].split()[1] == "[gpu]"
    assert "(alias of action_conditional_predict2_video2world_2b_training)" in \
        lines["action_conditioned_predict2_video2world_2b_training"]
    assert listing("net") == sorted(registered_options("net"))  # other groups: plain names


def test_output_root_and_timestamped_job_names(monkeypatch, caplog):
    """Predict2.5 experiments write under upstream's /tmp/imaginaire4-output when IMAGINAIRE_OUTPUT_ROOT is unset
    (the guide's conversion block relies on it) and say so; a ${now:...} job name is warned about at launch."""
    import logging

    from cosmos_predict2.trainer.launch import _log_job_dir_notes

    for key in ("IMAGINAIRE_OUTPUT_ROOT", "OUTPUT_ROOT"):
        monkeypatch.delenv(key, raising=False)
    p25 = compose("experiment=ac_reason_embeddings_rectified_flow_2b_256_320")
    assert p25.job.path_local == ("/tmp/imaginaire4-output/cosmos_predict2_action_conditioned/cosmos_predict_v2p5/"
                                  "2b_bridge_action_conditioned")
    p2 = compose("experiment=action_conditional_predict2_video2world_2b_training")
    assert p2.job.path_local.startswith("checkpoints/posttraining/video2world/action_conditional_predict2_video2world_")
    with caplog.at_level(logging.WARNING):
        _log_job_dir_notes(p25)
        _log_job_dir_notes(p2)
    text = caplog.text
    assert "IMAGINAIRE_OUTPUT_ROOT is not set" in text and "contains ${now:...}" in text
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", "/data/out")
    assert p25.job.path_local.startswith("/data/out/cosmos_predict2_action_conditioned/")
