"""The README's main job (scripts/quickstart.py) end to end on both data paths: MuJoCo robot-arm episodes and the
synthetic scene, each with a few episodes and 2 training iterations: data -> train -> convert -> evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable


def _run(cmd: list[str], out_root: str) -> str:
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=out_root, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def _sim_missing() -> str | None:
    from cosmos_predict2.data.sim_env import SimUnavailable, require_simulator

    try:
        require_simulator()
    except SimUnavailable as e:
        if os.environ.get("COSMOS_REQUIRE_SIM") == "1":
            raise
        return str(e)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("data", ["sim", "synthetic"])
def test_main_job_on_both_data_paths(data, tmp_path):
    if data == "sim" and _sim_missing():
        pytest.skip(f"simulator unavailable: {_sim_missing()}")
    data_dir = str(tmp_path / "data")
    if data == "sim":  # a small set made up front (the job makes 184 episodes when the folder is missing)
        _run([PY, "-m", "scripts.prepare_sim_data", "--out", data_dir, "--episodes", "3", "--val-episodes", "1",
              "--test-episodes", "2", "--frames", "25", "--tasks", "reach-v3", "--workers", "1"], str(tmp_path))
    else:
        _run([PY, "-m", "scripts.prepare_synthetic_data", "--layout", "bridge", "--out", data_dir, "--episodes", "20",
              "--frames", "25"], str(tmp_path))
    report = tmp_path / "report"
    out = _run([PY, "-m", "scripts.quickstart", "--data", data, "--data-dir", data_dir, "--max_iter", "2",
                "--eval-steps", "1", "--max-episodes", "2", "--output-dir", str(report)], str(tmp_path / "ckpt"))
    experiment = {"sim": "tiny_action_conditioned_sim", "synthetic": "tiny_action_conditioned_bridge"}[data]
    assert f"quickstart: data: {data} ({data_dir}), experiment {experiment}" in out
    assert "prepare_" not in out  # the finished data folder is used as it is
    last = out.strip().splitlines()[-1]
    assert last.startswith("quickstart: done in") and f"on the {data} data" in last and "next (rollout videos):" in last
    summary = json.loads((report / "summary.json").read_text())
    long = summary["protocols"]["long"]
    for method in ("model", "shuffled_actions", "zero_actions", "copy_last_frame"):
        assert long[method]["dynamic_psnr"] > 0 and long[method]["psnr"] > 0
