"""scripts/train.py command line: seed command lines, aliases, strict errors, layout validation."""

import os
import subprocess
import sys

import pytest

from cosmos_predict2.configs.base.config import make_config
from cosmos_predict2.configs.compose import apply_overrides
from cosmos_predict2.lazy_config.errors import ConfigError
from cosmos_predict2.configs.schema import JobConfig
from cosmos_predict2.configs.validate import validate_config
from cosmos_predict2.parallel.layout import parallel_layout
from scripts.train import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _output_root(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.delenv("OUTPUT_ROOT", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def compose(*overrides):
    return apply_overrides(make_config(), list(overrides))


# The seed documents' command lines (what follows `-m scripts.train`), verbatim after shell quoting.
SEED_COMMANDS = [
    ["--config=cosmos_predict2/configs/base/config.py", "--", "experiment=action_conditional_predict2_video2world_2b_training"],
    ["--config=cosmos_predict2/_src/predict2/action/configs/action_conditioned/config.py", "--",
     "experiment=ac_reason_embeddings_rectified_flow_2b_256_320", "~dataloader_train.dataloaders"],
    ["--config=cosmos_predict1/diffusion/training/config/config.py", "--", "experiment=video2world_action_bridge_2frames"],
    ["--config=cosmos_predict2/configs/base/config.py", "--",
     "experiment=predict2_video2world_training_2b_agibot_head_center_fisheye_color"],
    ["--config=cosmos_predict2/configs/base/config.py", "--",
     "experiment=predict2_video2world_training_14b_agibot_head_center_fisheye_color", "model.config.train_architecture=lora"],
    ["--config=cosmos_predict2/configs/base/config.py", "--",
     "experiment=predict2_video2world_training_14b_agibot_head_center_fisheye_color",
     "model.config.pipe_config.net.atten_backend=transformer_engine"],
    ["--config=cosmos_predict2/configs/base/config.py", "--", "experiment=predict2_video2world_training_2b_groot_gr1_480"],
    ["--config=cosmos_predict2/configs/base/config.py", "--", "experiment=predict2_video2world_training_14b_groot_gr1_480",
     "model.config.model_manager_config.dit_path=checkpoints/nvidia/Cosmos-Predict2-14B-Video2World-Sample-GR00T-Dreams-GR1/model-480p-16fps.pt"],
    ["--", "experiment=action_conditional_predict2_video2world_2b_training", "model.config.fsdp_shard_size=8",
     "model.config.num_video_frames=13", "model.config.resolution=720"],
]


@pytest.mark.parametrize("argv", SEED_COMMANDS, ids=range(len(SEED_COMMANDS)))
def test_seed_command_lines_dryrun(argv, capsys):
    assert main(["--dryrun", *argv]) == 0
    out = capsys.readouterr().out
    assert "config resolved and validated" in out
    written = out.strip().splitlines()[-1].split("written to ")[-1]
    assert os.path.isfile(written) and written.endswith("config.yaml")


def test_overrides_land_where_documented():
    c = compose("experiment=predict2_video2world_training_14b_agibot_head_center_fisheye_color",
                "model.config.train_architecture=lora", "model.config.pipe_config.net.atten_backend=transformer_engine",
                "model.config.model_manager_config.dit_path=x.pt", "model.config.resolution=720")
    assert c.model.config.train_architecture == "lora"
    assert c.model.config.net.atten_backend == "transformer_engine"
    assert c.model.config.model_manager_config.dit_path == "x.pt"
    assert c.model.config.resolution == "720"  # stays a string after the shell strips the quotes


def test_group_aliases_and_dataset_dir_override():
    c = compose("experiment=tiny_action_conditioned_bridge", "dataloader_train=bridge_train",
                "dataloader_train.dataset.dataset_dir=/my/bridge")
    assert c.dataloader_train.dataset.dataset_dir == "/my/bridge"
    assert c.dataloader_train.dataset.video_size == [480, 640]


def test_missing_deletion_is_ignored_but_real_deletion_works(capsys):
    c = compose("experiment=tiny_action_conditioned_bridge", "~dataloader_train.dataloaders",
                "~dataloader_train.num_workers")
    assert "ignoring ~dataloader_train.dataloaders" in capsys.readouterr().err
    assert "num_workers" not in c.dataloader_train and "batch_size" in c.dataloader_train


@pytest.mark.parametrize("override,expected", [
    ("experiment=does_not_exist", "unknown experiment 'does_not_exist'. Did you mean"),
    ("experiment=tiny_action_conditioned_brige", "Did you mean: tiny_action_conditioned_bridge"),
    ("trainer.max_iterr=5", "Did you mean: max_iter"),
    ("model.config.net.num_headz=3", "Did you mean: num_heads"),
    ("trainer.max_iter=abc", "expected a value of type int"),
    ("trainer.run_validation=3", "expected a value of type bool"),
    ("data_train=bridge_trian", "Did you mean: bridge_train"),
])
def test_bad_overrides_fail_with_closest_names(override, expected):
    overrides = ["experiment=tiny_action_conditioned_bridge", override]
    if override.startswith("experiment="):
        overrides = [override]
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        compose(*overrides)


def test_cli_exits_nonzero_within_seconds():
    for extra in (["experiment=does_not_exist"], ["experiment=tiny_action_conditioned_bridge", "trainer.max_iterr=5"]):
        proc = subprocess.run([sys.executable, "-m", "scripts.train", "--dryrun", "--", *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0
        assert "Did you mean" in proc.stderr


def test_overrides_with_or_without_the_double_dash(capsys):
    # torchrun swallows a bare `--`, so both spellings must resolve to the same config
    assert main(["--dryrun", "--", "experiment=tiny_action_conditioned_bridge", "trainer.max_iter=7"]) == 0
    with_dash = capsys.readouterr().out
    assert main(["--dryrun", "experiment=tiny_action_conditioned_bridge", "trainer.max_iter=7"]) == 0
    assert capsys.readouterr().out == with_dash and "max_iter: 7" in with_dash


def test_parallel_layouts():
    assert parallel_layout(8, 8, 2) == dict(replicate=1, shard=4, cp=2, dp=4)
    assert parallel_layout(32, 32, 8) == dict(replicate=1, shard=4, cp=8, dp=4)
    assert parallel_layout(16, 8, 1) == dict(replicate=2, shard=8, cp=1, dp=16)
    assert parallel_layout(2, 8, 1)["shard"] == 2  # a multiple of the world size: shard over the whole world
    assert parallel_layout(4, -1, 1) == dict(replicate=1, shard=4, cp=1, dp=4)
    assert parallel_layout(4, None, 2) == dict(replicate=1, shard=2, cp=2, dp=2)
    assert parallel_layout(8, 0, 2) == dict(replicate=4, shard=1, cp=2, dp=4)
    with pytest.raises(ConfigError, match="not divisible by model_parallel.context_parallel_size=8"):
        parallel_layout(12, 32, 8)
    with pytest.raises(ConfigError, match="valid shard sizes here"):
        parallel_layout(12, 8, 1)


@pytest.mark.parametrize("world,shard,cp,expected", [
    (2, 3, 1, r"fsdp_shard_size=3 cannot split world size 2 .* valid shard sizes here: \[1, 2\] or -1"),
    (6, 4, 1, r"fsdp_shard_size=4 cannot split world size 6 .* valid shard sizes here: \[1, 2, 3, 6\] or -1"),
    (8, 3, 2, r"fsdp_shard_size=3 is not a multiple of model_parallel.context_parallel_size=2"),
    (8, 6, 2, r"fsdp_shard_size=6 cannot split world size 8 .* valid shard sizes here: \[2, 4, 8\] or -1"),
    (4, -2, 1, r"fsdp_shard_size must be -1 \(whole world\), 0 \(off\) or > 0, got -2"),
    (0, -1, 1, r"world size .* must be >= 1, got 0"),
])
def test_shard_sizes_the_world_cannot_hold_are_errors_not_rounded(world, shard, cp, expected):
    with pytest.raises(ConfigError, match=expected):
        parallel_layout(world, shard, cp)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_dryrun_refuses_a_shard_size_that_does_not_divide_the_world(tmp_path, capsys):
    base = ["--dryrun", "--world-size", "2", "--", "experiment=tiny_action_conditioned_bridge"]
    assert main([*base, "model.config.fsdp_shard_size=3"]) == 2
    out, err = capsys.readouterr()
    line = _one_line(err)
    assert line.startswith("config error: model.config.fsdp_shard_size=3 cannot split world size 2")
    assert "valid shard sizes here: [1, 2] or -1" in line
    assert out == "" and not (tmp_path / "out").exists()  # nothing printed, no config.yaml / memory plan written
    # without --world-size the dry run plans the experiment's own group, and a size that is no multiple of the
    # context-parallel size fails for every world size
    assert main(["--dryrun", "--", "experiment=tiny_action_conditioned_bridge", "model_parallel.context_parallel_size=2",
                 "model.config.fsdp_shard_size=3"]) == 2
    assert "fsdp_shard_size=3 is not a multiple of model_parallel.context_parallel_size=2" in _one_line(
        capsys.readouterr().err)
    # a multiple of the world size shards over the whole world, and the dry run says so
    assert main([*base, "model.config.fsdp_shard_size=8"]) == 0
    assert "[dryrun] model.config.fsdp_shard_size=8 is larger than the world size 2: parameters are sharded " \
           "over all 2 ranks" in capsys.readouterr().out


def test_launch_refuses_the_layout_before_building(monkeypatch, capsys):
    import cosmos_predict2.trainer.launch as launch_module

    monkeypatch.setattr(launch_module, "launch", lambda *a, **k: pytest.fail("launch() reached"))
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun --nproc_per_node=2 sets
    assert main(["--", "experiment=tiny_action_conditioned_bridge", "model.config.fsdp_shard_size=3"]) == 2
    assert "model.config.fsdp_shard_size=3 cannot split world size 2" in _one_line(capsys.readouterr().err)
    cfg = compose("experiment=tiny_action_conditioned_bridge", "model.config.fsdp_shard_size=3")
    with pytest.raises(ConfigError, match="valid shard sizes here: \\[1, 2\\]"):
        validate_config(cfg, 2)  # what launch.build() runs on every rank before the mesh


@pytest.mark.parametrize("argv", [[], ["--dryrun"], ["--dryrun", "--world-size", "2"], ["--", "trainer.max_iter=5"]],
                         ids=["train", "dryrun", "dryrun-world", "overrides-only"])
def test_no_experiment_is_an_error(argv, tmp_path, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    line = _one_line(err)
    assert line.startswith("config error: no experiment chosen") and "-- experiment=NAME" in line
    assert "--list experiment" in line
    assert out == "" and not (tmp_path / "out").exists()


def test_list_of_an_unknown_group_names_the_known_groups(capsys):
    assert main(["--list", "foo"]) == 2
    out, err = capsys.readouterr()
    line = _one_line(err)
    assert line.startswith("config error: unknown config group 'foo' for --list.") and out == ""
    assert "Known groups: data_train, data_val, optimizer" in line and "experiment" in line
    assert main(["--list", "experimnt"]) == 2
    assert "Did you mean: experiment?" in capsys.readouterr().err
    assert main(["--list", "dataloader_train"]) == 0  # aliases still list
    assert "bridge_train" in capsys.readouterr().out.split()


@pytest.mark.parametrize("overrides,world,expected", [
    (["model_parallel.context_parallel_size=3"], None, "num_heads=4 is not divisible"),
    (["model.config.num_video_frames=12"], None, "needs 1 \\+ 4k frames"),
    (["model_parallel.context_parallel_size=4", "model.config.num_video_frames=9", "model.config.state_t=3",
      "dataloader_train.dataset.num_frames=9", "dataloader_val.dataset.num_frames=9"], None,
     "3 latent frames .* not divisible"),
    (["dataloader_train.dataset.video_size=[60,80]"], None, "must be divisible by 16"),
    (["dataloader_train.dataset.num_frames=9"], None, "differs from model.config.num_video_frames=13"),
    (["dataloader_val.dataset.num_frames=9"], None, "differs from model.config.num_video_frames=13"),
    (["model.config.state_t=5"], None, "state_t=5 does not match"),
    (["model.config.fsdp_shard_size=4"], 6, "valid shard sizes here"),
])
def test_invalid_layouts_fail_before_building(overrides, world, expected):
    cfg = compose("experiment=tiny_action_conditioned_bridge", *overrides)
    with pytest.raises(ConfigError, match=expected):
        validate_config(cfg, world_size=world)


def test_data_frames_must_match_the_model():
    cfg = compose("experiment=tiny_action_conditioned_bridge", "dataloader_train.dataset.num_frames=25")
    with pytest.raises(ConfigError, match="num_frames=25 differs from model.config.num_video_frames=13"):
        validate_config(cfg)


def test_output_root_environment(monkeypatch):
    job = JobConfig(project="p", group="g", name="n")
    monkeypatch.delenv("IMAGINAIRE_OUTPUT_ROOT")
    assert job.checkpoint_dir == os.path.join("checkpoints", "p/g/n", "checkpoints")
    monkeypatch.setenv("OUTPUT_ROOT", "/o1")
    assert job.path_local == "/o1/p/g/n"
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", "/o2")
    assert job.path_local == "/o2/p/g/n"


def test_tokenizer_width_must_match_the_net():
    cfg = compose("experiment=tiny_action_conditioned_bridge", "model.config.tokenizer.latent_ch=16")
    with pytest.raises(ConfigError, match="does not match the tokenizer's latent_ch=16"):
        validate_config(cfg)


@pytest.mark.parametrize("override", [
    "trainer.memory_format=channels_last", "checkpoint.dcp_allow_mismatched_size=True",
    "checkpoint.broadcast_via_filesystem=True", "checkpoint.verbose=False",
    "model_parallel.tensor_model_parallel_size=2", "model_parallel.pipeline_model_parallel_size=2",
    "model_parallel.sequence_parallel=True",
])
def test_upstream_keys_without_a_feature_are_errors_when_set(override, tmp_path, capsys):
    key = override.split("=")[0]
    assert main(["--dryrun", "--", "experiment=tiny_action_conditioned_bridge", override]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"config error: {key}=") and "not supported" in err
    validate_config(compose("experiment=tiny_action_conditioned_bridge"))  # the defaults themselves pass


def test_resume_and_profiling_keys_are_checked(capsys):
    cfg = compose("experiment=tiny_action_conditioned_bridge", "checkpoint.keys_not_to_resume=[optim,scheduler]",
                  "checkpoint.only_load_scheduler_state=True", "trainer.profiling.enable_profiling=True",
                  "trainer.profiling.profile_freq=5", "trainer.profiling.first_n_rank=1")
    validate_config(cfg)
    assert cfg.checkpoint.keys_not_to_resume == ["optim", "scheduler"] and cfg.checkpoint.only_load_scheduler_state
    assert cfg.trainer.profiling.enable_profiling and cfg.trainer.profiling.profile_freq == 5
    assert cfg.trainer.profiling.first_n_rank == 1 and cfg.trainer.profiling.record_shape  # upstream defaults kept
    assert main(["--dryrun", "--", "experiment=tiny_action_conditioned_bridge", "checkpoint.keys_not_to_resume=[optimizer]"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "checkpoint.keys_not_to_resume: unknown part 'optimizer'" in err and "Did you mean: optim" in err
    with pytest.raises(ConfigError, match="profile_freq=2 with enable_profiling.*profile_freq >= 4"):
        validate_config(compose("experiment=tiny_action_conditioned_bridge", "trainer.profiling.enable_profiling=True",
                                "trainer.profiling.profile_freq=2"))
    with pytest.raises(ConfigError, match="unknown config key trainer.profiling.profile_frequency. Did you mean: "
                                          "profile_freq"):
        compose("experiment=tiny_action_conditioned_bridge", "+trainer.profiling.profile_frequency=4")
    with pytest.raises(ConfigError, match="trainer.profiling=True: expected a value of type a config node"):
        compose("experiment=tiny_action_conditioned_bridge", "trainer.profiling=True")


def test_ddp_and_a_zero_timeout_are_errors_naming_the_fix(capsys):
    assert main(["--dryrun", "--", "experiment=tiny_action_conditioned_bridge", "trainer.distributed_parallelism=ddp"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "trainer.distributed_parallelism='ddp' is not supported" in err and "model.config.fsdp_shard_size=1" in err
    with pytest.raises(ConfigError, match="trainer.timeout_period=0 must be >= 1"):
        validate_config(compose("experiment=tiny_action_conditioned_bridge", "trainer.timeout_period=0"))
