"""End to end: train the tiny action-conditioned world model for 2 iterations with the rollout-eval callback,
then run scripts/evaluate_action_conditioned.py on its DCP checkpoint (2 synthetic test episodes, 2 steps).
Numbers are not asserted (the model is untrained); files and their structure are."""

import csv
import json
import os
import subprocess
import sys

import pytest
from omegaconf import open_dict

from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bridge"))
    # 6 episodes of 17 frames: 2 train, 2 val, 2 test (16 actions -> long protocol chunks of 12 + 4)
    write_bridge_dataset(out, episodes=6, seed=0, cfg=SyntheticConfig(frames=17), split_ratio=(1 / 3, 1 / 3, 1 / 3))
    return out


def _train_with_callback(dataset, out_root, monkeypatch):
    from cosmos_predict2.configs.base.config import make_config
    from cosmos_predict2.configs.compose import apply_overrides
    from cosmos_predict2.lazy_config import L
    from cosmos_predict2.trainer.launch import build

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", out_root)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = apply_overrides(make_config(), [
        "experiment=tiny_action_conditioned_bridge", "job.name=eval_e2e", "trainer.max_iter=2",
        "checkpoint.save_iter=2", "trainer.run_validation=false", f"dataloader_train.dataset.dataset_dir={dataset}",
        f"dataloader_val.dataset.dataset_dir={dataset}", "dataloader_train.batch_size=1",
        "dataloader_train.num_workers=0"])
    with open_dict(cfg.trainer.callbacks):
        cfg.trainer.callbacks["rollout_eval"] = L("cosmos_predict2.trainer.eval_callback.RolloutEvalCallback")(
            every_n=2, num_episodes=2, split="val", num_steps=2, max_frames=9)
    from cosmos_predict2.utils import distributed as du

    try:
        trainer = build(cfg)  # single process: a private 1-rank gloo group
        trainer.train()
    finally:
        du.destroy_distributed()  # leave no process group behind for later tests
    return trainer


def test_train_with_rollout_eval_then_evaluate_script(dataset, tmp_path, monkeypatch):
    trainer = _train_with_callback(dataset, str(tmp_path / "jobs"), monkeypatch)
    cb = next(c for c in trainer.callbacks if type(c).__name__ == "RolloutEvalCallback")
    assert [h["iteration"] for h in cb.history] == [2]  # every_n=2, and not repeated at train end
    flat = cb.history[0]
    assert {"rollout_eval/long/model/psnr", "rollout_eval/long/shuffled_actions/psnr",
            "rollout_eval/long/copy_last_frame/ssim", "rollout_eval/long/model/action_sensitivity"} <= set(flat)
    ev_dir = os.path.join(trainer.job_dir, "rollout_eval")
    with open(os.path.join(ev_dir, "metrics.jsonl")) as f:
        assert json.loads(f.readline())["iteration"] == 2
    it_dir = os.path.join(ev_dir, "iter_000000002")
    assert json.load(open(os.path.join(it_dir, "summary.json")))["settings"]["weights"] == "ema"
    previews = [n for n in os.listdir(it_dir) if n.startswith("preview_") and n.endswith(".mp4")]
    assert len(previews) == 2 and all(os.path.getsize(os.path.join(it_dir, n)) > 0 for n in previews)

    ckpt = os.path.join(trainer.job_dir, "checkpoints", "iter_000000002")
    out = tmp_path / "report"
    episodes_file = tmp_path / "episodes.txt"
    test_names = sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(dataset, "annotation", "test")))
    episodes_file.write_text("# the two test episodes\n" + "\n".join(test_names) + "\n")
    cmd = [sys.executable, "scripts/evaluate_action_conditioned.py", "--checkpoint-path", ckpt, "--load-ema",
           "--experiment", "tiny_action_conditioned_bridge", "--dataset-dir", dataset, "--split", "test",
           "--episodes-file", str(episodes_file), "--protocol", "both", "--num-steps", "2", "--output-dir", str(out),
           "--no-progress"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "protocol: long" in proc.stdout and "action sensitivity" in proc.stdout
    assert "LPIPS skipped" in proc.stdout and "FVD skipped" in proc.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == test_names
    for protocol in ("short", "long"):
        methods = summary["protocols"][protocol]
        assert set(methods) >= {"model", "shuffled_actions", "zero_actions", "copy_last_frame"}
        assert methods["model"]["num_frames"] == 2 * (12 if protocol == "short" else 16)
        assert "action_sensitivity" in methods["model"]
    assert [c["frames"] for c in summary["protocols"]["long"]["model"]["per_chunk"]] == [[1, 12], [13, 16]]
    for name in test_names:
        with open(out / "episodes" / "long" / f"{name}.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 16 * 4 and {r["method"] for r in rows} == set(summary["settings"]["methods"])
    plots = sorted(os.listdir(out / "plots"))
    assert "long_metrics_vs_frame.png" in plots and "short_metrics_vs_frame.png" in plots
    assert sum(p.startswith("long_grid_") for p in plots) == 2


def test_script_reports_bad_input_in_one_line(dataset, tmp_path):
    cmd = [sys.executable, "scripts/evaluate_action_conditioned.py", "--random-init", "--dataset-dir", dataset,
           "--episodes-file", str(tmp_path / "missing.txt")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
