"""Bring your own robot, on CPU: a LeRobot v3.0 dataset (two cameras, 10-d actions) -> the tiny LeRobot experiment
trains 4 steps with the real CLI -> scripts/convert_distcp_to_pt.py -> examples/action_conditioned.py and
scripts/evaluate_action_conditioned.py on LeRobot episodes, with the normalisation the checkpoint carries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from cosmos_predict2.checkpoint.metadata import read_metadata
from cosmos_predict2.data.action_norm import ActionNormalization
from cosmos_predict2.data.video_io import video_info

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable


def _env(tmp) -> dict:
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=str(tmp / "out"), OMP_NUM_THREADS="1", PYTHONPATH=ROOT,
               COSMOS_ACTION_STATS_CACHE=str(tmp / "stats"))
    env.pop("COSMOS_DEBUG", None)
    return env


def _run(cmd: list[str], env: dict) -> str:
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def lerobot_run(tmp_path_factory):
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_lerobot_dataset

    tmp = tmp_path_factory.mktemp("lerobot_loop")
    data = str(tmp / "lerobot")
    write_lerobot_dataset(data, episodes=4, seed=0, cfg=SyntheticConfig(frames=26), split_ratio=(0.5, 0.25, 0.25))
    env = _env(tmp)
    log = _run([PY, "-m", "scripts.train", "--", "experiment=tiny_action_conditioned_lerobot", "trainer.max_iter=4",
                "checkpoint.save_iter=4", f"dataloader_train.dataset.root={data}",
                f"dataloader_val.dataset.root={data}", "dataloader_train.num_workers=0", "dataloader_train.batch_size=2",
                "trainer.progress_bar=False", "job.name=lerobot_loop"], env)
    assert "action normalisation: mean_std (10-d" in log
    job = tmp / "out" / "cosmos_predict2_tiny" / "action_conditioned" / "lerobot_loop"
    it = job / "checkpoints" / "iter_000000004"
    _run([PY, "scripts/convert_distcp_to_pt.py", str(it / "model"), str(it), "--no-progress"], env)
    return data, job, it, tmp, env


def test_job_config_and_converted_files_carry_the_normalisation(lerobot_run):
    data, job, it, _, _ = lerobot_run
    node = OmegaConf.load(job / "config.yaml").dataloader_train.dataset
    saved = ActionNormalization.from_dict(node.action_normalization)
    assert saved.kind == "mean_std" and saved.dim == 10 and saved.source["action_key"] == "action"
    for name in ("model.pt", "model_ema_fp32.pt", "model_ema_bf16.pt"):
        assert ActionNormalization.from_dict(read_metadata(str(it / name))["action_normalization"]).same_mapping(saved)


def test_action_conditioned_example_on_lerobot_episodes(lerobot_run):
    data, _, it, tmp, env = lerobot_run
    params = tmp / "params.json"
    params.write_text(json.dumps({"name": "robot", "input_root": data, "episodes": [3], "num_steps": 1,
                                  "guidance": 0.0, "save_fps": 4}))
    out = tmp / "ac"
    # a checkpoint copied out of its job folder: the normalisation comes from the file itself
    lone = tmp / "lone"
    lone.mkdir()
    os.link(it / "model_ema_bf16.pt", lone / "model_ema_bf16.pt")
    _run([PY, "examples/action_conditioned.py", "-i", str(params), "-o", str(out), "--checkpoint-path",
          str(lone / "model_ema_bf16.pt"), "--experiment", "tiny_action_conditioned_lerobot"], env)
    summary = json.load(open(out / "robot_summary.json"))
    (ep,) = summary["episodes"]
    assert ep["episode"] == "3" and ep["num_actions"] == 25 and ep["num_frames"] == 26
    assert summary["action_normalization"]["dim"] == 10
    assert video_info(str(out / "robot_3.mp4")) == (26, 4.0, 64, 80)


def test_evaluation_on_the_lerobot_test_split(lerobot_run):
    data, _, it, tmp, env = lerobot_run
    out = tmp / "eval"
    _run([PY, "scripts/evaluate_action_conditioned.py", "--checkpoint-path", str(it / "model_ema_fp32.pt"),
          "--dataset-dir", data, "--split", "test", "--protocol", "short", "--methods", "model,copy_last_frame",
          "--num-steps", "1", "--output-dir", str(out), "--no-progress"], env)
    summary = json.load(open(out / "summary.json"))
    assert summary["settings"]["action_normalization"]["dim"] == 10 and summary["episodes"] == ["3"]
    assert set(summary["protocols"]["short"]) >= {"model", "copy_last_frame"}
