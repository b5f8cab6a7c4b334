"""scripts/validate_dataset: clean synthetic data passes; planted problems are reported by file name."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np

from scripts.validate_dataset import main
from tests.data_fixtures import bridge_dir, copy_of, video_text_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_clean_data_passes(capsys):
    assert main([bridge_dir(), "--num_frames", "13"]) == 0
    assert "OK: no problems found" in capsys.readouterr().out
    assert main([video_text_dir(), "--layout", "video_text", "--num_frames", "16"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "no t5_xxl/ folder" in out


def test_planted_problems_are_named(capsys):
    root = copy_of(bridge_dir(), "validate")
    corrupt = f"{root}/videos/train/1/rgb.mp4"
    data = open(corrupt, "rb").read()
    open(corrupt, "wb").write(data[: len(data) // 2])
    ann_path = f"{root}/annotation/val/4.json"
    ann = json.load(open(ann_path))
    ann["continuous_gripper_state"] = ann["continuous_gripper_state"][:-2]
    json.dump(ann, open(ann_path, "w"))
    with open(f"{root}/annotation/test/5.pickle", "wb") as f:
        pickle.dump([np.zeros((3, 7), np.float16)], f)
    with open(f"{root}/annotation/train/0.pickle", "wb") as f:
        pickle.dump([np.zeros((3, 9), np.float16)], f)
    assert main([root, "--num_frames", "20"]) == 1
    out = capsys.readouterr().out
    assert f"{corrupt}: cannot decode video" in out
    assert f"{ann_path}: 'continuous_gripper_state' has 14 entries" in out
    assert "shorter than one window of 20 frames" in out
    assert "embeddings disagree on their dim" in out


def test_video_text_problems_cli():
    root = copy_of(video_text_dir(), "validate_vt")
    os.makedirs(f"{root}/t5_xxl")
    for i in range(2):
        with open(f"{root}/t5_xxl/ep_{i:04d}.pickle", "wb") as f:
            pickle.dump([np.zeros((3, 8), np.float16)], f)
    open(f"{root}/videos/ep_0001.mp4", "wb").write(b"junk" * 50)
    r = subprocess.run([sys.executable, "scripts/validate_dataset.py", root, "--num_frames", "8"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{root}/videos/ep_0002.mp4: no embedding t5_xxl/ep_0002.pickle" in r.stdout
    assert f"{root}/videos/ep_0001.mp4: cannot decode video" in r.stdout


def test_malformed_action_field_is_reported(capsys):
    """Training never reads 'action' (actions come from the states), yet a malformed one is named, with the fix."""
    root = copy_of(bridge_dir(), "validate_action")
    wide, short = f"{root}/annotation/train/0.json", f"{root}/annotation/train/1.json"
    for path, damage in ((wide, lambda a: [row[:6] for row in a]), (short, lambda a: a[:-1])):
        ann = json.load(open(path))
        ann["action"] = damage(ann["action"])
        json.dump(ann, open(path, "w"))
    assert main([root, "--quick"]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s):" in out
    assert (f"{wide}: 'action' row 0 has width 6, expected 7 numbers [dx,dy,dz,droll,dpitch,dyaw,gripper]; training "
            "does not read this field (actions come from 'state') but it is malformed (fix: correct the 'action' "
            "field or remove it from the JSON)") in out
    assert f"{short}: 'action' has 14 rows but there are 16 states (expected 15 = N-1); training does not" in out


def test_missing_or_unrecognised_folder_is_a_usage_error(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    std, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'missing'}: dataset folder does not exist")
    assert std == ""
    assert main([str(tmp_path), "--num_frames", "13"]) == 2  # exists, but neither annotation/ nor videos/
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot tell the layout" in lines[0] and "--layout" in lines[0]


def test_lerobot_folder_is_checked(tmp_path, capsys):
    """A LeRobot dataset is recognised; shifted timestamps and a truncated mp4 are named."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cosmos_predict2.data.synthetic import SyntheticConfig, write_lerobot_dataset

    root = str(tmp_path / "lr")
    write_lerobot_dataset(root, episodes=3, seed=0, cfg=SyntheticConfig(height=32, width=48, frames=8))
    assert main([root]) == 0
    assert "layout: lerobot (v3.0, 2 cameras, 4 fps)" in capsys.readouterr().out
    assert main([root, "--num_frames", "9"]) == 1
    assert "episode 0 has 8 frames, shorter than one window of 9 frames" in capsys.readouterr().out
    bad = str(tmp_path / "bad")
    shutil.copytree(root, bad)
    data = os.path.join(bad, "data", "chunk-000", "file-000.parquet")
    t = pq.read_table(data)
    i = t.schema.get_field_index("timestamp")
    shifted = pa.array(np.asarray(t.column("timestamp").to_pylist(), np.float32) + np.float32(0.1), pa.float32())
    pq.write_table(t.set_column(i, t.schema.field(i), shifted), data)
    assert main([bad]) == 1
    out = capsys.readouterr().out
    assert "timestamps are not frame_index / fps" in out and "episode 0 (observation.images.front): no frame" in out
