"""Every example runs both as ``python examples/x.py`` and as ``python -m examples.x``: one fresh interpreter
(started from the repository root, without PYTHONPATH) runs each entry point with --help, first with only the
script's own folder on sys.path (as ``python examples/x.py`` has) and with the project modules unloaded."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = ["examples/action_conditioned.py", "examples/video2world.py", "examples/video2world_action.py",
         "examples/video2world_gr00t.py", "examples/video2world_bestofn.py",
         "cosmos_predict1/diffusion/inference/video2world_action.py", "scripts/convert_distcp_to_pt.py",
         "scripts/download_checkpoints.py", "scripts/download_diffusion_checkpoints.py"]
MODULES = ["examples.video2world_gr00t", "examples.video2world_bestofn", "examples.action_conditioned"]

_DRIVER = r"""
import contextlib, io, os, runpy, sys
FILES, MODULES = sys.argv[1].split(","), sys.argv[2].split(",")
base_path = [p for p in sys.path if p not in ("", os.getcwd())]
def fresh(path0):
    for name in [m for m in sys.modules if m.split(".")[0] in ("examples", "scripts", "cosmos_predict2", "cosmos_predict1")]:
        del sys.modules[name]
    sys.path[:] = [path0] + base_path
def run(fn, target):
    sys.argv = [target, "--help"]
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            fn(target, run_name="__main__")
    except SystemExit as e:
        assert e.code in (0, None), (target, e.code)
    assert "usage:" in buf.getvalue(), target
    print("ok", target)
for f in FILES:
    fresh(os.path.dirname(os.path.abspath(f)))   # python examples/x.py
    run(runpy.run_path, f)
for m in MODULES:
    fresh(os.getcwd())                            # python -m examples.x
    run(runpy.run_module, m)
"""


def test_examples_run_as_files_and_modules():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", _DRIVER, ",".join(FILES), ",".join(MODULES)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("ok ") == len(FILES) + len(MODULES)
