"""A downloaded DCP checkpoint whose ``.metadata`` carries a payload is refused everywhere a DCP folder is read —
resume, ``checkpoint.load_path``, inference, conversion (tests/unit/test_safe_dcp.py) — with one line naming the
file, and the payload never runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.unit.test_safe_dcp import write_payload_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bridge_data(tmp_path_factory) -> str:
    from cosmos_predict2.data.synthetic import write_bridge_dataset

    out = str(tmp_path_factory.mktemp("synthetic_bridge"))
    write_bridge_dataset(out, episodes=4, seed=0)
    return out


def _payload_iteration(folder: str, marker: str) -> str:
    """``<folder>/iter_000000002`` laid out as a DCP training checkpoint whose model metadata is crafted."""
    it = os.path.join(folder, "iter_000000002")
    write_payload_metadata(os.path.join(it, "model"), marker)
    os.makedirs(os.path.join(it, "trainer"))
    torch.save({"iteration": 2}, os.path.join(it, "trainer", "state.pt"))
    return it


def _train(out_root: str, data: str, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=out_root, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.pop("COSMOS_DEBUG", None)
    cmd = [sys.executable, "-m", "scripts.train", "--build-only", "--", "experiment=tiny_action_conditioned_bridge",
           f"dataloader_train.dataset.dataset_dir={data}", f"dataloader_val.dataset.dataset_dir={data}",
           "dataloader_train.num_workers=0", "model.config.precision=float32", "job.name=untrusted", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _assert_refused(proc: subprocess.CompletedProcess, marker: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "refusing" in lines[0] and ".metadata" in lines[0] and "posix.system" in lines[0]
    assert "Traceback" not in proc.stderr and "build-only rank" not in proc.stdout
    assert not os.path.exists(marker)


def test_resume_from_a_crafted_checkpoint_is_refused(tmp_path, bridge_data):
    marker = str(tmp_path / "pwned")
    ckpts = tmp_path / "out" / "cosmos_predict2_tiny" / "action_conditioned" / "untrusted" / "checkpoints"
    _payload_iteration(str(ckpts), marker)
    (ckpts / "latest_checkpoint.txt").write_text("iter_000000002\n")
    _assert_refused(_train(str(tmp_path / "out"), bridge_data), marker)


def test_load_path_to_a_crafted_checkpoint_is_refused(tmp_path, bridge_data):
    marker = str(tmp_path / "pwned")
    it = _payload_iteration(str(tmp_path / "downloaded"), marker)
    _assert_refused(_train(str(tmp_path / "out"), bridge_data, f"checkpoint.load_path={it}"), marker)


def test_inference_from_a_crafted_dcp_folder_is_refused(tmp_path):
    from cosmos_predict2.checkpoint.weights import CheckpointError
    from cosmos_predict2.inference.loading import build_inference_model

    marker = str(tmp_path / "pwned")
    it = _payload_iteration(str(tmp_path / "downloaded"), marker)
    for path in (it, os.path.join(it, "model")):
        with pytest.raises(CheckpointError, match="refusing"):
            build_inference_model("tiny_action_conditioned_bridge", path, device="cpu",
                                  overrides=["model.config.precision=float32"])
    assert not os.path.exists(marker)
