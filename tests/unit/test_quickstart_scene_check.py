"""The main job says so when reused synthetic data was made with other scene settings."""

import json
from dataclasses import asdict

from cosmos_predict2.data.synthetic import SyntheticConfig
from scripts.quickstart import warn_if_other_scene


def _write_info(folder, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "synthetic_info.json").write_text(json.dumps({"layout": "bridge", "config": config}))


def test_warns_for_data_of_an_older_scene_and_not_for_the_default(tmp_path, capsys):
    old = {k: v for k, v in asdict(SyntheticConfig()).items() if k not in ("yaw_range", "gripper_scale")}
    _write_info(tmp_path / "old", old)
    warn_if_other_scene(str(tmp_path / "old"))
    out = capsys.readouterr().out
    assert "yaw_range=None (recipe: 0.6)" in out and "gripper_scale=None (recipe: 2.0)" in out
    assert "Delete" in out

    _write_info(tmp_path / "new", json.loads(json.dumps(asdict(SyntheticConfig()))))
    warn_if_other_scene(str(tmp_path / "new"))
    warn_if_other_scene(str(tmp_path / "missing"))  # no info file: nothing to compare
    assert capsys.readouterr().out == ""
