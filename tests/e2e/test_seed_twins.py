"""Each guide's command chain on its CPU twin: train the twin with the guide's launch line (experiment name
swapped for the twin), follow the guide's checkpoint steps (copy / conversion block) and run the guide's
inference line. Adaptations are named where they happen: the twin's experiment name, the synthetic data paths,
``--num_steps 2`` to keep sampling short."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from cosmos_predict2.data.video_io import video_info

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_fixtures import bridge_dir  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = sys.executable
BASE = "--config=cosmos_predict2/configs/base/config.py"
FAST = ["trainer.max_iter=2", "checkpoint.save_iter=2", "trainer.progress_bar=False"]


@pytest.fixture()
def work(tmp_path):
    """A folder laid out like a clone: the project, datasets/bridge, no checkpoints."""
    for name in ("cosmos_predict2", "cosmos_predict1", "scripts", "examples", "assets"):
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    os.makedirs(tmp_path / "datasets")
    shutil.copytree(bridge_dir(), tmp_path / "datasets" / "bridge")
    return tmp_path


def _run(cmd, cwd, env_extra=None, shell=False, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(cwd), OMP_NUM_THREADS="1", **(env_extra or {}))
    for key in ("IMAGINAIRE_OUTPUT_ROOT", "OUTPUT_ROOT"):
        if key not in (env_extra or {}):
            env.pop(key, None)
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, shell=shell,
                         executable="/bin/bash" if shell else None)
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res


def _free_port() -> int:
    """The guide's --master_port=12341, but free (test processes may run side by side)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bridge():
    return [f"dataloader_{s}.dataset.dataset_dir=datasets/bridge" for s in ("train", "val")]


def test_seed000_predict2_action_chain(work):
    """Seed 000: scripts.train (the guide launches it with torchrun on 2 GPUs) experiment=... ;
    examples/video2world_action.py --dit_path <job>/checkpoints/model/iter_N.pt."""
    _run([PY, "-m", "scripts.train", BASE, "--", "experiment=tiny_predict2_action_conditioned", *_bridge(), *FAST], work)
    ckpt = "checkpoints/posttraining/video2world/tiny_predict2_action_conditioned/checkpoints/model/iter_000000002.pt"
    assert os.path.isfile(work / ckpt)
    _run([PY, "examples/video2world_action.py", "--model_size", "2B", "--dit_path", ckpt,
          "--input_video", "datasets/bridge/videos/test/5/rgb.mp4", "--input_annotation",
          "datasets/bridge/annotation/test/5.json", "--num_conditional_frames", "1", "--save_path",
          "output/generated_video.mp4", "--guidance", "0", "--seed", "0", "--disable_guardrail",
          "--disable_prompt_refiner", "--num_steps", "2"], work)
    assert video_info(str(work / "output/generated_video.mp4"))[0] == 13  # one 12-action chunk + the first frame


def test_seed001_predict1_chain(work):
    """Seed 001: OUTPUT_ROOT=checkpoints training writes iter_N_{reg,ema}_model.pt; the guide's copy step; its
    inference line, stray '\\ ' included."""
    env = {"OUTPUT_ROOT": "checkpoints"}
    _run([PY, "-m", "torch.distributed.run", "--nproc_per_node=1", "--standalone", "-m",
          "cosmos_predict1.diffusion.training.train",
          "--config=cosmos_predict1/diffusion/training/config/config.py", "--",
          "experiment=tiny_video2world_action_bridge_2frames", *_bridge(), *FAST], work, env)
    ckpts = work / "checkpoints/posttraining/diffusion_video2world_action/tiny_video2world_action_bridge_2frames/checkpoints"
    assert sorted(os.listdir(ckpts)) == ["iter_000000002.pt", "iter_000000002_ema_model.pt", "iter_000000002_optim.pt",
                                         "iter_000000002_reg_model.pt", "latest_checkpoint.txt"]
    assert (ckpts / "latest_checkpoint.txt").read_text().strip() == "iter_000000002.pt"
    _run("mkdir checkpoints/Cosmos-Predict1-7B-Video2World_action_post-trained/ && "
         f"cp {ckpts.relative_to(work)}/iter_000000002_ema_model.pt "
         "checkpoints/Cosmos-Predict1-7B-Video2World_action_post-trained/model.pt", work, shell=True)
    # the guide's line (its stray "\ " glues a space onto --action_annotation_path) + the twin's experiment name
    line = ("CUDA_HOME=$CONDA_PREFIX PYTHONPATH=$(pwd) python cosmos_predict1/diffusion/inference/video2world_action.py \\\n"
         "    --checkpoint_dir checkpoints \\\n"
         "    --diffusion_transformer_dir Cosmos-Predict1-7B-Video2World_action_post-trained \\\n"
         "    --seed 0 \\\n"
         "    --input_image_or_video_path datasets/bridge/videos/test/5/rgb.mp4 \\ "
         "--action_annotation_path datasets/bridge/annotation/test/5.json \\\n"
         "    --height 256 \\\n    --width 320 \\\n    --fps 3 \\\n"
         "    --num_steps 2").replace("python", PY, 1)
    # as written, the guide's default 7B experiment does not fit the twin's weights: one line, exit 2, the fix named
    bad = subprocess.run(line, cwd=work, env=dict(os.environ, PYTHONPATH=str(work)), capture_output=True, text=True,
                         shell=True, executable="/bin/bash", timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
    assert "--experiment NAME" in bad.stderr and "vs net (" in bad.stderr
    _run(line + " --experiment tiny_video2world_action_bridge_2frames", work, shell=True)
    assert video_info(str(work / "outputs/output.mp4"))[:2] == (2, 3.0)


def test_seed002_predict25_action_chain(work):
    """Seed 002: train, the guide's conversion block verbatim (job name swapped), examples/action_conditioned.py."""
    env = {"IMAGINAIRE_OUTPUT_ROOT": str(work / "imaginaire4-output")}
    _run([PY, "-m", "torch.distributed.run", "--nproc_per_node=1", f"--master_port={_free_port()}", "-m", "scripts.train",
          "--config=cosmos_predict2/_src/predict2/action/configs/action_conditioned/config.py", "--",
          "experiment=tiny_ac_reason_embeddings_rectified_flow", "~dataloader_train.dataloaders", *_bridge(), *FAST],
         work, env)
    block = (
        "set -e\n"
        "CHECKPOINTS_DIR=${IMAGINAIRE_OUTPUT_ROOT:-/tmp/imaginaire4-output}/cosmos_predict2_action_conditioned/"
        "cosmos_predict_v2p5/tiny_ac_reason_embeddings_rectified_flow/checkpoints\n"
        "CHECKPOINT_ITER=$(cat $CHECKPOINTS_DIR/latest_checkpoint.txt)\n"
        "CHECKPOINT_DIR=$CHECKPOINTS_DIR/$CHECKPOINT_ITER\n"
        "python ./scripts/convert_distcp_to_pt.py $CHECKPOINT_DIR/model $CHECKPOINT_DIR\n"
        "python examples/action_conditioned.py \\\n"
        "-i assets/action_conditioned/basic/inference_params.json -o outputs/action_conditioned/basic \\\n"
        "--checkpoint-path $CHECKPOINT_DIR/model_ema_bf16.pt \\\n"
        "--experiment tiny_ac_reason_embeddings_rectified_flow --num-steps 2 --single-chunk true\n"
    ).replace("python ", f"{PY} ")
    _run(block, work, env, shell=True)
    out = [f for f in os.listdir(work / "outputs/action_conditioned/basic") if f.endswith(".mp4")]
    assert out and video_info(str(work / "outputs/action_conditioned/basic" / out[0]))[0] == 13


def test_seed003_004_predict2_video2world_chain(work):
    """Seeds 003/004: train a Predict2 video2world twin; examples/video2world.py with --dit_path (and the guide's
    --num_conditional_frmaes spelling)."""
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_video_text_dataset

    write_video_text_dataset(str(work / "datasets/vt"), episodes=2, seed=0, cfg=SyntheticConfig(frames=12))
    data = [f"dataloader_{s}.dataset.dataset_dir=datasets/vt" for s in ("train", "val")]
    data += [f"+dataloader_{s}.dataset.load_t5_embeddings=False" for s in ("train", "val")]
    _run([PY, "-m", "scripts.train", BASE, "--", "experiment=tiny_predict2_video2world", *data, *FAST], work)
    ckpt = "checkpoints/posttraining/video2world/tiny_predict2_video2world/checkpoints/model/iter_000000002.pt"
    _run([PY, "examples/video2world.py", "--model_size", "2B", "--dit_path", ckpt, "--prompt", "a robot arm",
          "--input_path", "datasets/vt/videos/ep_0000.mp4", "--num_conditional_frmaes", "1",
          "--save_path", "results/generated_video_2b.mp4", "--num_steps", "2", "--disable_guardrail",
          "--disable_prompt_refiner"], work)
    assert video_info(str(work / "results/generated_video_2b.mp4"))[0] == 9
