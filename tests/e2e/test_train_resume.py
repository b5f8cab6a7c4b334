"""The real CLI on the tiny action-conditioned experiment and synthetic Bridge data (CPU).

- ``python -m scripts.train`` trains, SIGKILL mid-run, the same command again continues from the last
  checkpoint and produces the same loss sequence as an uninterrupted run;
- ``torchrun --nproc_per_node=2`` trains the same experiment (FSDP over 2 gloo ranks);
- a missing dataset folder is a one-line error with a non-zero exit code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable


@pytest.fixture(scope="module")
def bridge_data(tmp_path_factory) -> str:
    from cosmos_predict2.data.synthetic import write_bridge_dataset

    out = str(tmp_path_factory.mktemp("synthetic_bridge"))
    write_bridge_dataset(out, episodes=6, seed=0)
    return out


def _env(out_root: str) -> dict:
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=out_root, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.pop("COSMOS_DEBUG", None)
    return env


def _overrides(data: str, name: str, max_iter: int, save_iter: int) -> list[str]:
    return ["experiment=tiny_action_conditioned_bridge", f"dataloader_train.dataset.dataset_dir={data}",
            f"dataloader_val.dataset.dataset_dir={data}",
            "dataloader_train.num_workers=0", "dataloader_train.batch_size=4", "model.config.precision=float32",
            f"trainer.max_iter={max_iter}", "trainer.logging_iter=1",
            "trainer.progress_bar=False", f"checkpoint.save_iter={save_iter}", f"job.name={name}"]


def _losses(job_dir: str) -> dict[int, float]:
    """Last logged loss per iteration (a relaunch appends after the killed run's lines)."""
    out = {}
    path = os.path.join(job_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return out
    for line in open(path):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by the kill
            continue
        if rec.get("split") == "train":
            out[rec["iteration"]] = rec["loss"]
    return out


def _job_dir(out_root: str, name: str) -> str:
    return os.path.join(out_root, "cosmos_predict2_tiny", "action_conditioned", name)


def test_sigkill_then_relaunch_continues_with_same_losses(bridge_data, tmp_path):
    out_root = str(tmp_path)
    max_iter, save_iter = 9, 3
    ref_cmd = [PY, "-m", "scripts.train", "--"] + _overrides(bridge_data, "ref", max_iter, save_iter)
    subprocess.run(ref_cmd, cwd=ROOT, env=_env(out_root), check=True, capture_output=True, timeout=300)
    reference = _losses(_job_dir(out_root, "ref"))
    assert sorted(reference) == list(range(1, max_iter + 1))

    cmd = [PY, "-m", "scripts.train", "--"] + _overrides(bridge_data, "killed", max_iter, save_iter)
    job = _job_dir(out_root, "killed")
    latest = os.path.join(job, "checkpoints", "latest_checkpoint.txt")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(out_root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not os.path.exists(latest) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    before = _losses(job)
    assert max(before) < max_iter, "the run finished before it could be killed"
    pointed = open(latest).read().strip()
    assert pointed.startswith("iter_")

    subprocess.run(cmd, cwd=ROOT, env=_env(out_root), check=True, capture_output=True, timeout=300)
    after = _losses(job)
    assert sorted(after) == list(range(1, max_iter + 1))
    for it in range(1, max_iter + 1):
        assert after[it] == pytest.approx(reference[it], rel=1e-6, abs=1e-7), (it, after[it], reference[it])
    assert open(latest).read().strip() == f"iter_{max_iter:09d}"


def test_torchrun_two_processes_trains(bridge_data, tmp_path):
    """FSDP over 2 gloo ranks with asynchronous saves: each background write is published complete."""
    cmd = [PY, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "scripts.train",
           "--config=cosmos_predict2/configs/base/config.py", "--"] + _overrides(bridge_data, "ddp2", 4, 2) + [
           "checkpoint.dcp_async_mode_enabled=True"]
    res = subprocess.run(cmd, cwd=ROOT, env=_env(str(tmp_path)), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    job = _job_dir(str(tmp_path), "ddp2")
    losses = _losses(job)
    assert sorted(losses) == [1, 2, 3, 4] and all(v == v for v in losses.values())
    for it in ("iter_000000002", "iter_000000004"):
        for part in ("model", "optim"):
            assert os.path.exists(os.path.join(job, "checkpoints", it, part, "__1_0.distcp"))
            assert os.path.exists(os.path.join(job, "checkpoints", it, part, ".metadata"))
    assert open(os.path.join(job, "checkpoints", "latest_checkpoint.txt")).read().strip() == "iter_000000004"
    assert not [e for e in os.listdir(os.path.join(job, "checkpoints")) if e.endswith((".tmp", ".old"))]
    assert os.path.exists(os.path.join(job, "config.yaml"))


def test_missing_dataset_is_one_line_error(tmp_path):
    cmd = [PY, "-m", "scripts.train", "--"] + _overrides(str(tmp_path / "nope"), "missing", 2, 2)
    res = subprocess.run(cmd, cwd=ROOT, env=_env(str(tmp_path)), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    err = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr
    assert any("nope" in line and line.startswith("error:") for line in err), res.stderr
