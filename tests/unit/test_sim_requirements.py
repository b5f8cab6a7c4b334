"""The simulator check and the episode settings fail in one line that says what to do (no simulator needed)."""

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


def test_episode_longer_than_metaworld_allows_is_one_line():
    from cosmos_predict2.data.sim_episode import MAX_EPISODE_STEPS, SimConfig

    SimConfig(frames=121, steps_per_frame=4, pre_roll_frames=4).check()  # (120 + 4) * 4 = 496 steps: fits
    with pytest.raises(ValueError) as e:
        SimConfig(frames=123, steps_per_frame=4, pre_roll_frames=4).check()  # (122 + 4) * 4 = 504 steps
    msg = str(e.value)
    assert "\n" not in msg and "--frames 123" in msg and str(MAX_EPISODE_STEPS) in msg and "504" in msg
