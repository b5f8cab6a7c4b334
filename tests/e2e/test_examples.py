"""Every example runs both as ``python examples/x.py`` and as ``python -m examples.x`` (checked with --help in
fresh interpreters, from the repository root, without PYTHONPATH)."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = ["action_conditioned", "video2world", "video2world_action", "video2world_gr00t", "video2world_bestofn"]
SCRIPTS = ["cosmos_predict1/diffusion/inference/video2world_action.py", "scripts/convert_distcp_to_pt.py",
           "scripts/download_checkpoints.py"]

_DRIVER = r"""
import runpy, sys, io, contextlib
mode, target = sys.argv[1], sys.argv[2]
sys.argv = [target, "--help"]
buf = io.StringIO()
try:
    with contextlib.redirect_stdout(buf):
        (runpy.run_path if mode == "path" else runpy.run_module)(target, run_name="__main__")
except SystemExit as e:
    assert e.code in (0, None), e.code
print(buf.getvalue().splitlines()[0])
"""


def _help(mode: str, target: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", _DRIVER, mode, target], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_examples_run_as_files_and_modules():
    for name in EXAMPLES:
        assert "usage:" in _help("path", f"examples/{name}.py")
    for name in ("video2world_gr00t", "video2world_bestofn"):  # the seed docs use `python -m examples.x`
        assert "usage:" in _help("module", f"examples.{name}")
    for script in SCRIPTS:
        assert "usage:" in _help("path", script)
