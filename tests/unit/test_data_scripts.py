"""The data scripts run both as `python scripts/X.py` and `python -m scripts.X` on tiny inputs."""

import json
import os
import subprocess
import sys

from cosmos_predict2.data.video_text import VideoTextDataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_prepare_synthetic_both_forms_and_tiny_t5(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--episodes", "3", "--frames", "6", "--height", "32", "--width", "32", "--seed", "5"]
    out = _run(["scripts/prepare_synthetic_data.py", "--out", str(a), *common])
    assert "splits {'train': 1, 'val': 1, 'test': 1}" in out
    _run(["-m", "scripts.prepare_synthetic_data", "--out", str(b), *common])
    assert (a / "annotation/val/1.json").read_bytes() == (b / "annotation/val/1.json").read_bytes()
    assert json.loads((a / "synthetic_info.json").read_text())["config"]["height"] == 32
    from scripts.prepare_synthetic_data import main  # in-process: saves a second transformers import
    vt = tmp_path / "vt"
    assert main(["--layout", "video_text", "--out", str(vt), "--t5", "tiny", *common]) == 0
    assert "wrote 3 T5 embeddings" in capsys.readouterr().out
    assert VideoTextDataset(str(vt), 4, [32, 32], t5_embedding_dim=64)[2]["t5_text_mask"].sum() > 10
    assert main(["--out", str(tmp_path / "c"), "--height", "40"]) == 2
    assert "divisible by 16" in capsys.readouterr().err
    scene = tmp_path / "scene"
    assert main(["--out", str(scene), "--yaw-range", "3.1416", "--gripper-scale", "1", *common]) == 0
    made = json.loads((scene / "synthetic_info.json").read_text())["config"]
    assert (made["yaw_range"], made["gripper_scale"]) == (3.1416, 1.0)
    assert "gripper_scale" not in json.loads((scene / "annotation/val/1.json").read_text())["scene"]
    assert main(["--out", str(tmp_path / "d"), "--gripper-scale", "0"]) == 2
    assert "gripper_scale must be in (0, 4]" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "e"), "--yaw-range", "-1"]) == 2
    assert "yaw_range must be > 0" in capsys.readouterr().err


def test_benchmark_dataloader_runs(tmp_path):
    out = _run(["scripts/benchmark_dataloader.py", "--samples", "4", "--rounds", "1", "--num_workers", "1",
                "--height", "32", "--width", "32", "--episodes", "2", "--frames", "16", "--num_frames", "5"])
    lines = [ln for ln in out.splitlines() if ln.startswith(("bridge", "video_text"))]
    assert len(lines) == 2 and all(len(ln.split()) == 7 for ln in lines)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_t5_scripts_without_inputs_are_errors(tmp_path, capsys):
    from scripts.get_t5_embeddings import main as t5_main
    from scripts.get_t5_embeddings_from_groot_dataset import main as groot_main

    missing, empty = tmp_path / "missing", tmp_path / "empty"
    os.makedirs(empty / "videos")
    assert t5_main(["--dataset_path", str(missing)]) == 2
    std, err = capsys.readouterr()
    assert _one_line(err) == f"error: {missing}: dataset folder does not exist (fix: pass --dataset_path DIR of a " \
                             f"video-text dataset (videos/*.mp4 + metas/*.txt))" and std == ""
    assert t5_main(["--dataset_path", str(empty)]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"error: {empty}: no metas/*.txt captions to encode")
    os.makedirs(empty / "metas")
    (empty / "metas" / "a.txt").write_text("a caption")
    assert t5_main(["--dataset_path", str(empty), "--cache_dir", str(tmp_path / "no_t5")]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"error: --cache_dir {tmp_path / 'no_t5'}: ")
    assert not (empty / "t5_xxl").exists()
    assert groot_main(["--dataset_path", str(missing)]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"error: {missing}/metadata.csv: metadata csv does not exist")
    (empty / "metadata.csv").write_text("video,prompt\n")
    assert groot_main(["--dataset_path", str(empty)]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"error: {empty}/metadata.csv: has no rows after the header")
    assert not missing.exists()


def test_prepare_synthetic_zero_episodes_is_an_error(tmp_path, capsys):
    from scripts.prepare_synthetic_data import main

    assert main(["--out", str(tmp_path / "d"), "--episodes", "0"]) == 2
    std, err = capsys.readouterr()
    assert _one_line(err).startswith("error: --episodes 0: nothing to generate") and std == ""
    assert not (tmp_path / "d").exists()
