"""Seed experiments from random files in the released layouts (scripts/make_random_weights.py).

The Predict2.5 action experiments, unchanged but for width-shrinking overrides, start from files in the
released layouts (random weights written by scripts/make_random_weights.py) through every way weights come in:
``model_manager_config.dit_path`` (the base video model; the action embedders start from their
initialisation), ``checkpoint.load_path`` (a DCP folder), and inference's
``--checkpoint-path`` (the released ``robot/action-cond`` layout). Any learned key missing or unexpected, or a
shape that differs, fails the load; each run trains one step."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_fixtures import bridge_dir  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = sys.executable
P25 = "--config=cosmos_predict2/_src/predict2/action/configs/action_conditioned/config.py"
CLIP = "ac_reason_embeddings_rectified_flow_2b_256_320"
CHUNK = "cosmos_predict2p5_2B_reason_embeddings_action_conditioned_rectified_flow_bridge_13frame_256x320"
BASE_PT = "checkpoints/nvidia/Cosmos-Predict2.5-2B/base/pre-trained/d20b7120-df3e-4911-919d-db6e08bad31c_ema_bf16.pt"
ACTION_PT = "checkpoints/nvidia/Cosmos-Predict2.5-2B/robot/action-cond/38c6c645-7d41-4560-8eeb-6f4ddc0e6574_ema_bf16.pt"
SHRINK = ["model.config.net.num_blocks=1", "model.config.net.model_channels=64", "model.config.net.num_heads=2",
          "model.config.net.crossattn_emb_channels=64", "+model.config.tokenizer.base_dim=8"]
# CPU speed only: float32 compute (bf16 matmuls are ~100x slower without native bf16), small frames, one step
FAST = ["model.config.precision=float32", "model.config.tokenizer.dtype=float32",
        "dataloader_train.dataset.video_size=[64,80]", "dataloader_train.num_workers=0", "dataloader_train.batch_size=1",
        "trainer.max_iter=1", "trainer.progress_bar=False"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("p25")
    for name in ("cosmos_predict2", "cosmos_predict1", "scripts", "examples", "assets"):
        os.symlink(os.path.join(REPO, name), work / name)
    os.makedirs(work / "datasets")
    shutil.copytree(bridge_dir(), work / "datasets" / "bridge")
    return work


def _run(cmd, cwd, timeout=300, **env_extra):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", IMAGINAIRE_OUTPUT_ROOT=str(cwd / "out"), **env_extra)
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res.stdout + res.stderr


def _train(work, experiment, name, *extra):
    return _run([PY, "-m", "scripts.train", P25, "--", f"experiment={experiment}", "~dataloader_train.dataloaders",
                 *SHRINK, *FAST, f"job.name={name}", *extra], work)


def test_dit_path_base_model(work, experiment=CLIP):
    out = _run([PY, "-m", "scripts.make_random_weights", "--experiment", experiment, "--out", ".", "--", *SHRINK], work)
    assert "RANDOM weights" in out and (work / BASE_PT).is_file()
    log = _train(work, experiment, f"dit_{experiment[:8]}")
    # every learned tensor of the base file is used; only the action embedders (8 tensors) start from init
    assert f"weights from {BASE_PT} (pt)" in log and "8 new (keep their initialisation: net.action_embedder" in log
    assert "iter 1/1" in log


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_load_path_dcp_and_checkpoint_path(work):
    if not (work / BASE_PT).is_file():
        _run([PY, "-m", "scripts.make_random_weights", "--experiment", CHUNK, "--out", ".", "--", *SHRINK], work)
    # the base file as a DCP folder through load_path (upstream's base checkpoints are DCP folders; the .pt form
    # goes through the same matching as dit_path above); only the action embedders start from their init
    import torch.distributed.checkpoint as dcp

    state = {k: v for k, v in torch.load(work / BASE_PT, weights_only=True).items()}
    dcp.save(state, checkpoint_id=str(work / "base_dcp" / "model"))
    log = _train(work, CHUNK, "load_dcp", f"checkpoint.load_path={work / 'base_dcp' / 'model'}")
    assert "base_dcp" in log and "(dcp)" in log and "8 new (keep their initialisation: net.action_embedder" in log
    assert "iter 1/1" in log
    # the released action-conditioned layout (action embedders included) through --checkpoint-path
    _run([PY, "-m", "scripts.make_random_weights", "--experiment", CHUNK, "--out", ".", "--", *SHRINK,
          f"model.config.model_manager_config.dit_path={ACTION_PT}", "model.config.model_manager_config.new_modules=[]"],
         work)
    job_config = work / "out/cosmos_predict2_action_conditioned/cosmos_predict_v2p5/load_dcp/config.yaml"
    _run([PY, "examples/action_conditioned.py", "-i", "assets/action_conditioned/basic/inference_params.json",
          "-o", "outputs/ac", "--checkpoint-path", ACTION_PT, "--experiment", CHUNK, "--config-file", str(job_config),
          "--num-steps", "1", "--single-chunk", "true", "--resolution", "64,80"], work)
    assert any(f.endswith(".mp4") for f in os.listdir(work / "outputs/ac"))


def test_predict1_from_released_layout_files(work):
    """Predict1: the 7B DiT file (shrunk), the Cosmos-Tokenize1 TorchScript stand-ins and its training command;
    the checkpoint is written as Predict1 names its files."""
    shrink = ["model.config.net.num_blocks=1", "model.config.net.model_channels=64", "model.config.net.num_heads=2"]
    out = _run([PY, "-m", "scripts.make_random_weights", "--experiment", "video2world_action_bridge_2frames", "--out",
                ".", "--", *shrink], work)
    tok = work / "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
    assert all((tok / f).is_file() for f in ("encoder.jit", "decoder.jit", "mean_std.pt")), out
    log = _run([PY, "-m", "cosmos_predict1.diffusion.training.train",
                "--config=cosmos_predict1/diffusion/training/config/config.py", "--",
                "experiment=video2world_action_bridge_2frames", *shrink, "model.config.precision=float32",
                "model.config.tokenizer.dtype=float32", "dataloader_train.num_workers=0", "dataloader_train.batch_size=2",
                "trainer.max_iter=1", "trainer.progress_bar=False"], work, OUTPUT_ROOT="checkpoints")
    assert "weights from checkpoints/nvidia/Cosmos-Predict1-7B-Video2World/model.pt (pt)" in log and "iter 1/1" in log
    ckpts = work / "out/posttraining/diffusion_video2world_action/video2world_action_bridge_2frames/checkpoints"
    assert (ckpts / "iter_000000001_ema_model.pt").is_file()


def test_preflight_reports_a_file_that_does_not_fit_the_nets_options(work):
    """The net options against the weights file, in the launch's preflight (seconds, exit 2, nothing built; also
    listed by --dryrun): the released Predict2.5 base file has the text projection a net without it lacks."""
    if not (work / BASE_PT).is_file():
        _run([PY, "-m", "scripts.make_random_weights", "--experiment", CHUNK, "--out", ".", "--", *SHRINK], work)
    env = dict(os.environ, PYTHONPATH=REPO, IMAGINAIRE_OUTPUT_ROOT=str(work / "out"))
    res = subprocess.run([PY, "-m", "scripts.train", P25, "--", f"experiment={CHUNK}", *SHRINK,
                          "model.config.net.use_crossattn_projection=False", "model.config.text_encoder.embed_dim=64"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    text = res.stdout + res.stderr
    assert "does not fit the experiment's net" in text and "crossattn_proj.0.weight" in text
    assert "fix: the file projects the text embedding (crossattn_proj)" in text
