"""The seed training commands as written, on a machine without weights or data: every missing file in one
message with its download command, exit 2, nothing built (the rollout-eval callback's validation split
included). Then random released-layout weights (scripts/make_random_weights.py) and ``--build-only`` on 2
ranks for a seed experiment shrunk by overrides."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_fixtures import bridge_dir, copy_of  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = "--config=cosmos_predict2/configs/base/config.py"
P25 = "--config=cosmos_predict2/_src/predict2/action/configs/action_conditioned/config.py"
P1 = "--config=cosmos_predict1/diffusion/training/config/config.py"
SEEDS = {
    "bridge_2b": ([BASE, "--", "experiment=action_conditional_predict2_video2world_2b_training"],
                  ["hf download nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned model-480p-4fps.pt --local-dir "
                   "checkpoints/nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned",
                   "hf download nvidia/Cosmos-Predict2-2B-Video2World tokenizer/tokenizer.pth",
                   "opensource_IRASim_v1/bridge_train_data.tar.gz"]),
    "bridge_p25": ([P25, "--", "experiment=ac_reason_embeddings_rectified_flow_2b_256_320", "~dataloader_train.dataloaders"],
                   ["hf download nvidia/Cosmos-Predict2.5-2B base/pre-trained/d20b7120-df3e-4911-919d-db6e08bad31c_ema_bf16.pt",
                    "hf download nvidia/Cosmos-Predict2.5-2B tokenizer.pth --local-dir checkpoints/nvidia/Cosmos-Predict2.5-2B",
                    "bridge_train_data.tar.gz"]),
    "bridge_p1": ([P1, "--", "experiment=video2world_action_bridge_2frames"],
                  ["model.config.model_manager_config.dit_path: checkpoints/nvidia/Cosmos-Predict1-7B-Video2World/"
                   "model.pt",
                   "hf download nvidia/Cosmos-Predict1-7B-Video2World model.pt --local-dir "
                   "checkpoints/nvidia/Cosmos-Predict1-7B-Video2World",
                   "model.config.tokenizer.tokenizer_dir: checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p",
                   "hf download nvidia/Cosmos-Tokenize1-CV8x8x8-720p --local-dir "
                   "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p",
                   "dataloader_train.dataset.dataset_dir: datasets/bridge",
                   "opensource_IRASim_v1/bridge_train_data.tar.gz"]),
    "agibot_2b": ([BASE, "--", "experiment=predict2_video2world_training_2b_agibot_head_center_fisheye_color"],
                  ["model.config.model_manager_config.dit_path: checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/"
                   "model-720p-16fps.pt",
                   "hf download nvidia/Cosmos-Predict2-2B-Video2World model-720p-16fps.pt --local-dir "
                   "checkpoints/nvidia/Cosmos-Predict2-2B-Video2World",
                   "model.config.tokenizer.vae_pth: checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/tokenizer/"
                   "tokenizer.pth",
                   "hf download nvidia/Cosmos-Predict2-2B-Video2World tokenizer/tokenizer.pth --local-dir "
                   "checkpoints/nvidia/Cosmos-Predict2-2B-Video2World",
                   "dataloader_train.dataset.dataset_dir: datasets/agibot_head_center_fisheye_color/train",
                   "python scripts/prepare_agibot_fisheye_data.py && python scripts/prepare_agibot_fisheye_data.py "
                   "--split-only --val_episode_ids 685393 && python scripts/get_t5_embeddings.py --dataset_path "
                   "datasets/agibot_head_center_fisheye_color/train"]),
    "gr1_14b": ([BASE, "--", "experiment=predict2_video2world_training_14b_groot_gr1_480",
                 "model.config.model_manager_config.dit_path=checkpoints/nvidia/Cosmos-Predict2-14B-Video2World-Sample-"
                 "GR00T-Dreams-GR1/model-480p-16fps.pt"],
                ["hf download nvidia/Cosmos-Predict2-14B-Sample-GR00T-Dreams-GR1 model-480p-16fps.pt --local-dir "
                 "checkpoints/nvidia/Cosmos-Predict2-14B-Video2World-Sample-GR00T-Dreams-GR1",
                 "hf download nvidia/Cosmos-Predict2-14B-Video2World tokenizer/tokenizer.pth",
                 "hf download nvidia/GR1-100 --repo-type dataset"]),
    "tiny": (["--", "experiment=tiny_action_conditioned_bridge",
              "model.config.model_manager_config.dit_path=checkpoints/my_base.pt"],
             ["model.config.model_manager_config.dit_path: checkpoints/my_base.pt: does not exist",
              "python -m scripts.prepare_synthetic_data --layout bridge --out datasets/synthetic_bridge"]),
}
# the module each guide launches (``torchrun -m MODULE``); scripts.train unless named here
ENTRY_MODULES = {"bridge_p1": "cosmos_predict1.diffusion.training.train"}


@pytest.fixture(scope="module")
def empty_workdir(tmp_path_factory):
    """A fresh directory laid out like a clone without checkpoints/ and datasets/."""
    work = tmp_path_factory.mktemp("clone")
    for name in ("cosmos_predict2", "cosmos_predict1", "scripts"):
        os.symlink(os.path.join(REPO, name), work / name)
    return work


def _run(cmd, cwd, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO, IMAGINAIRE_OUTPUT_ROOT=str(cwd / "out"), **(env_extra or {}))
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_missing_files_all_listed_before_anything_is_built(seed, empty_workdir, monkeypatch, capsys):
    main = importlib.import_module(ENTRY_MODULES.get(seed, "scripts.train")).main
    monkeypatch.chdir(empty_workdir)
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(empty_workdir / "out"))
    args, expected = SEEDS[seed]
    assert main(args) == 2
    out = capsys.readouterr()
    assert out.err.count("error: preflight:") == 1 and "Traceback" not in out.err
    for text in expected:
        assert text in out.err, (text, out.err)
    assert "memory plan" not in out.out and "parallelised" not in out.out  # no process group, no model
    import torch.distributed as dist

    assert not dist.is_initialized()


def test_rollout_eval_val_split_is_checked():
    """The rollout-eval callback reads the validation split even with validation off: a missing split is
    reported under the callback's key, naming the dataset folder."""
    from cosmos_predict2.configs.base.config import make_config
    from cosmos_predict2.configs.compose import apply_overrides
    from cosmos_predict2.configs.preflight import preflight_findings

    data = copy_of(bridge_dir(), "bridge_without_val")
    overrides = ["experiment=tiny_action_conditioned_bridge", f"dataloader_train.dataset.dataset_dir={data}",
                 f"dataloader_val.dataset.dataset_dir={data}", "trainer.run_validation=False"]
    assert preflight_findings(apply_overrides(make_config(), overrides)) == []
    shutil.rmtree(os.path.join(data, "annotation", "val"))
    findings = preflight_findings(apply_overrides(make_config(), overrides))
    assert [(f.key, f.path) for f in findings] == [("trainer.callbacks.rollout_eval (val split)", data)]
    assert "no annotation/val/ folder" in findings[0].problem


def test_two_ranks_report_once(empty_workdir):
    args, _ = SEEDS["bridge_2b"]
    res = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "scripts.train", *args],
               empty_workdir)
    assert res.returncode != 0
    assert res.stderr.count("error: preflight:") == 1


def test_random_weights_then_build_only_on_two_ranks(tmp_path):
    """A seed experiment (shrunk by overrides) built exactly as on a cluster, from released-layout random files."""
    shrink = ["model.config.net.num_blocks=2", "model.config.net.model_channels=64", "model.config.net.num_heads=2",
              "+model.config.tokenizer.base_dim=8"]
    exp = "experiment=action_conditional_predict2_video2world_2b_training"
    res = _run([sys.executable, "-m", "scripts.make_random_weights", "--experiment", exp.split("=")[1],
                "--out", str(tmp_path), "--", *shrink], tmp_path)
    assert res.returncode == 0, res.stderr
    dit = tmp_path / "checkpoints/nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned/model-480p-4fps.pt"
    vae = tmp_path / "checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/tokenizer/tokenizer.pth"
    assert dit.is_file() and vae.is_file() and "RANDOM weights" in res.stdout
    again = _run([sys.executable, "-m", "scripts.make_random_weights", "--experiment", exp.split("=")[1],
                  "--out", str(tmp_path), "--", *shrink], tmp_path)
    assert again.returncode == 0 and again.stdout.count("kept") >= 2  # existing files are never replaced
    os.makedirs(tmp_path / "datasets", exist_ok=True)
    os.symlink(bridge_dir(), tmp_path / "datasets" / "bridge")
    for name in ("cosmos_predict2", "scripts"):
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    res = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "scripts.train",
                "--build-only", BASE, "--", exp, *shrink], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("build-only rank")]
    assert sorted(ln.split(":")[0] for ln in lines) == ["build-only rank 0/2", "build-only rank 1/2"]
    assert all("peak host RSS" in ln for ln in lines)
    assert "weights from checkpoints/nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned/model-480p-4fps.pt" in res.stdout
    assert "non-learned entries skipped" in res.stdout
    assert not os.path.exists(tmp_path / "out" / "posttraining" / "video2world")  or not any(
        "iter_" in n for _, _, files in os.walk(tmp_path / "out") for n in files)  # no step, no checkpoint
