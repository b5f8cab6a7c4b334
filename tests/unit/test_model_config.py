"""The typed ``model.config`` (pipelines/model_config.py): unknown / mistyped keys fail at compose time with
the closest valid names, and its defaults are the values the world model runs with."""

import attrs
import pytest
from hydra.core.config_store import ConfigStore

from cosmos_predict2.configs.base.config import make_config
from cosmos_predict2.configs.compose import apply_overrides
from cosmos_predict2.configs.registry import _REGISTERED, register_experiment
from cosmos_predict2.lazy_config import L
from cosmos_predict2.lazy_config.errors import ConfigError
from cosmos_predict2.pipelines.model_config import (LORA_TARGET_MODULES, EMAConfig, ModelManagerConfig,
                                                    TextEncoderConfig, Video2WorldConfig)

BASE = "experiment=tiny_action_conditioned_bridge"


def compose(*overrides):
    return apply_overrides(make_config(), list(overrides))


@pytest.mark.parametrize("override,expected", [
    ("model.config.fsp_shard_size=8", r"'model.config' has no key 'fsp_shard_size'\. Did you mean: fsdp_shard_size"),
    ("+model.config.fsp_shard_size=8", r"unknown config key model.config.fsp_shard_size\. Did you mean: fsdp_shard_size"),
    ("+model.config.ema.rat=0.2", r"unknown config key model.config.ema.rat\. Did you mean: rate"),
    ("+model.config.text_encoder.embed_dims=8", r"model.config.text_encoder.embed_dims\. Did you mean: embed_dim"),
])
def test_unknown_model_config_keys_on_the_command_line(override, expected):
    with pytest.raises(ConfigError, match=expected):
        compose(BASE, override)


@pytest.fixture
def experiment():
    """Register experiments for one test (removed again afterwards)."""
    names = []

    def register(name, model_config):
        names.append(name)
        register_experiment(name, dict(defaults=[{"override /model": "tiny_action_conditioned_rectified_flow"},
                                                 "_self_"], model=dict(config=model_config)))
        return f"experiment={name}"

    yield register
    repo = ConfigStore.instance().repo["experiment"]
    for name in names:
        repo.pop(f"{name}.yaml", None)
        _REGISTERED["experiment"].remove(name)


def test_unknown_key_in_an_experiment_body(experiment):
    with pytest.raises(ConfigError, match=r"unknown config key model.config.fsdp_shard_sise\. "
                                          r"Did you mean: fsdp_shard_size"):
        compose(experiment("_test_typo_model_key", dict(fsdp_shard_sise=1)))
    with pytest.raises(ConfigError, match=r"model.config.model_manager_config.dit_pth\. Did you mean: dit_path"):
        compose(experiment("_test_typo_nested_key", dict(model_manager_config=dict(dit_pth="x.pt"))))


def test_mistyped_value_in_an_experiment_body(experiment):
    with pytest.raises(ConfigError, match=r"model.config.lora_rank must be of type int, got 'big'"):
        compose(experiment("_test_bad_type", dict(lora_rank="big")))
    cfg = compose(experiment("_test_coerced", dict(resolution=64, lora_alpha=8.0)))  # lossless: accepted
    typed = Video2WorldConfig.from_node(cfg.model.config)
    assert typed.resolution == "64" and typed.lora_alpha == 8 and isinstance(typed.lora_alpha, int)


def test_every_composed_key_is_in_the_schema():
    cfg = compose(BASE, "model.config.fsdp_shard_size=2")
    assert set(cfg.model.config) == {f.name for f in attrs.fields(Video2WorldConfig)}
    assert Video2WorldConfig.from_node(cfg.model.config).fsdp_shard_size == 2


def _tiny_model_config(**keys):
    from cosmos_predict2.models.presets import net_kwargs

    return dict(
        net=L("cosmos_predict2.models.dit.MiniTrainDIT")(**net_kwargs("tiny", num_blocks=1, model_channels=32,
                                                                       num_heads=2, adaln_lora_dim=8)),
        tokenizer=L("cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer")(),
        conditioner=L("cosmos_predict2.diffusion.conditioner.VideoConditioner")(),
        objective=L("cosmos_predict2.diffusion.objectives.RectifiedFlowEDMObjective")(),
        **keys)


def _adapters(net) -> dict[str, int]:
    """{adapted module name: LoRA rank} from the adapters' ``lora_A`` weights (rank, in)."""
    return {name.split(".lora_A")[0]: p.shape[0] for name, p in net.named_parameters() if ".lora_A" in name}


def test_the_world_model_runs_with_the_schema_defaults():
    from cosmos_predict2.pipelines.video2world_model import Video2WorldModel

    model = Video2WorldModel(_tiny_model_config(), init_device="meta")
    # the values written out here are the upstream defaults (Predict2 Video2WorldModelConfig / EMA / T5)
    assert (model.precision, model.state_ch, model.state_t) == ("bfloat16", 16, None)
    assert (model.min_num_conditional_frames, model.max_num_conditional_frames) == (1, 2)
    assert model.conditional_frames_probs is None and model.condition_augment is None and model.sampler is None
    assert (model.input_video_key, model.input_latent_key) == ("video", "latent")
    assert (model.text_encoder_kind, model.text_embed_dim, model.text_compute_online) == ("t5", 1024, False)
    assert model.ema is not None and (model.ema.rate, model.ema.iteration_shift) == (0.10, 0)
    assert _adapters(model.net) == {}
    assert model.config == Video2WorldConfig(**{k: getattr(model.config, k) for k in
                                               ("net", "tokenizer", "conditioner", "objective")})
    assert (model.config.fps, model.config.num_video_frames, model.config.fsdp_shard_size) == (16, 93, -1)
    assert model.config.model_manager_config == ModelManagerConfig(dit_path="", load_ema_to_reg=False, new_modules=[])
    assert model.config.text_encoder == TextEncoderConfig(kind="t5", path="checkpoints/google-t5/t5-11b",
                                                          compute_online=False, embed_dim=1024)
    assert model.config.ema == EMAConfig(enabled=True, rate=0.10, iteration_shift=0)
    assert model.config.activation_checkpointing == "block_wise"

    lora = Video2WorldModel(_tiny_model_config(train_architecture="lora"), init_device="meta")
    adapters = _adapters(lora.net)
    assert LORA_TARGET_MODULES == "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"
    assert {name.rsplit(".", 1)[-1] for name in adapters} == {"q_proj", "k_proj", "v_proj", "output_proj", "layer1",
                                                                "layer2"}
    assert set(adapters.values()) == {16}
    assert (lora.config.lora_rank, lora.config.lora_alpha, lora.config.use_dora) == (16, 16, False)


def test_the_world_model_reads_every_value_from_the_config():
    from cosmos_predict2.pipelines.video2world_model import Video2WorldModel

    model = Video2WorldModel(_tiny_model_config(precision="float32", state_ch=16, state_t=3,
                                                min_num_conditional_frames=0, max_num_conditional_frames=1,
                                                conditional_frames_probs={0: 0.5, 1: 0.5}, input_video_key="v",
                                                text_encoder=dict(kind="none", embed_dim=32), ema=dict(enabled=False)),
                             init_device="meta")
    assert (model.precision, model.state_t, model.min_num_conditional_frames, model.max_num_conditional_frames) == \
        ("float32", 3, 0, 1)
    assert model.conditional_frames_probs == {0: 0.5, 1: 0.5} and model.input_video_key == "v"
    assert (model.text_encoder_kind, model.text_embed_dim) == ("none", 32) and model.ema is None
    with pytest.raises(ConfigError, match=r"model.config.ema.rat\. Did you mean: rate"):
        Video2WorldModel(_tiny_model_config(ema=dict(rat=0.2)), init_device="meta")
    with pytest.raises(ConfigError, match=r"model.config.use_dora must be of type bool"):
        Video2WorldModel(_tiny_model_config(train_architecture="lora", use_dora="yes"), init_device="meta")


def test_a_retired_key_at_its_off_value_still_loads_and_otherwise_fails():
    """Job configs written before ``rollout_conditioning`` was removed carry it as null: they load; a value fails."""
    assert Video2WorldConfig.from_node({"rollout_conditioning": None, "fps": 4}).fps == 4
    with pytest.raises(ConfigError, match="model.config.rollout_conditioning"):
        Video2WorldConfig.from_node({"rollout_conditioning": {"prob": 0.5}})
