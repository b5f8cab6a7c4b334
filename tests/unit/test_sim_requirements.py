"""The simulator check says in one line what to install (runs without the simulator)."""

from __future__ import annotations

import importlib.util

import pytest

from cosmos_predict2.data import sim_env


def test_missing_packages_name_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(sim_env.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("mujoco", "metaworld") else real(name, *a))
    with pytest.raises(sim_env.SimUnavailable) as e:
        sim_env.require_simulator()
    msg = str(e.value)
    assert "\n" not in msg and "mujoco, metaworld missing" in msg and 'pip install -e ".[sim]"' in msg


def test_missing_renderer_names_the_system_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr(sim_env.importlib.util, "find_spec",
                        lambda name, *a: object() if name in ("mujoco", "metaworld") else real(name, *a))
    monkeypatch.setattr(sim_env.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(sim_env.SimUnavailable) as e:
        sim_env.require_simulator()
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install libosmesa6" in msg and "MUJOCO_GL=egl" in msg


def test_generator_exits_2_with_the_line(monkeypatch, tmp_path, capsys):
    from scripts.prepare_sim_data import main

    def unavailable():
        raise sim_env.SimUnavailable("the simulator is not installed (mujoco missing): run pip install -e \".[sim]\"")

    monkeypatch.setattr(sim_env, "require_simulator", unavailable)
    assert main(["--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the simulator is not installed") and "\n" not in err
    assert not (tmp_path / "x").exists()
