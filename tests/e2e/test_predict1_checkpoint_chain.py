"""The Predict1 guide's chain on the tiny experiment (CPU): train with ``ckpt_type=fsdp`` -> the upstream file names
-> ``cp iter_N_ema_model.pt .../model.pt`` -> the guide's inference line (stray ``\\ `` included) with the job's
``config.yaml`` -> a video."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
BRIDGE = os.path.join(ROOT, "assets", "action_conditioned", "basic", "bridge")


@pytest.fixture(scope="module")
def bridge_data(tmp_path_factory) -> str:
    from cosmos_predict2.data.synthetic import write_bridge_dataset

    out = str(tmp_path_factory.mktemp("synthetic_bridge"))
    write_bridge_dataset(out, episodes=4, seed=0)
    return out


def test_train_fsdp_copy_ema_and_run_the_guide_inference_line(bridge_data, tmp_path):
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=str(tmp_path / "out"), OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.pop("COSMOS_DEBUG", None)
    train = [PY, "-m", "scripts.train", "--", "experiment=tiny_action_conditioned_bridge", "ckpt_type=fsdp",
             f"dataloader_train.dataset.dataset_dir={bridge_data}", f"dataloader_val.dataset.dataset_dir={bridge_data}",
             "dataloader_train.num_workers=0", "dataloader_train.batch_size=2", "model.config.precision=float32",
             "trainer.max_iter=2", "trainer.logging_iter=1", "trainer.progress_bar=False", "trainer.run_validation=False",
             "checkpoint.save_iter=2", "job.name=p1chain"]
    done = subprocess.run(train, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    job = tmp_path / "out" / "cosmos_predict2_tiny" / "action_conditioned" / "p1chain"
    ck = job / "checkpoints"
    assert sorted(os.listdir(ck)) == ["iter_000000002.pt", "iter_000000002_ema_model.pt", "iter_000000002_optim.pt",
                                      "iter_000000002_reg_model.pt", "latest_checkpoint.txt"]
    assert (ck / "latest_checkpoint.txt").read_text().strip() == "iter_000000002.pt"
    assert "iter_000000002_ema_model.pt" in done.stdout  # the end-of-run line names the file to copy

    # the guide's copy step
    dest = tmp_path / "checkpoints" / "Cosmos-Predict1-7B-Video2World_action_post-trained"
    dest.mkdir(parents=True)
    shutil.copy(ck / "iter_000000002_ema_model.pt", dest / "model.pt")
    infer = [PY, "cosmos_predict1/diffusion/inference/video2world_action.py", "--checkpoint_dir",
             str(tmp_path / "checkpoints"), "--diffusion_transformer_dir",
             "Cosmos-Predict1-7B-Video2World_action_post-trained", "--seed", "0", "--input_image_or_video_path",
             os.path.join(BRIDGE, "videos", "test", "0", "rgb.mp4"), " --action_annotation_path",
             os.path.join(BRIDGE, "annotation", "test", "0.json"), "--height", "64", "--width", "80", "--fps", "3",
             "--config_file", str(job / "config.yaml"), "--num_input_frames", "13", "--num_of_loops", "1",
             "--num_steps", "1", "--video_save_folder", str(tmp_path / "video")]
    run = subprocess.run(infer, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    from cosmos_predict2.data.video_io import video_info

    assert video_info(str(tmp_path / "video" / "output.mp4"))[:2] == (13, 3.0)
    # without --config_file the default experiment (7B) does not fit: one line, exit 2, the fix named
    bad = subprocess.run(infer[: infer.index("--config_file")] + ["--video_save_folder", str(tmp_path / "v2")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
    assert "--config_file <job>/config.yaml" in bad.stderr and "vs net (" in bad.stderr
