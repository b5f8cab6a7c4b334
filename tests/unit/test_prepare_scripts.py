"""AgiBot window rule + split-only / delete-only on a local tree, and the batch-input JSON builder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cosmos_predict2.data.agibot import parse_window_name, split_windows, window_name
from cosmos_predict2.data.synthetic import generate_episode
from cosmos_predict2.data.video_io import read_frames, video_info, write_video
from tests.data_fixtures import TINY

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("seconds, expected", [
    (3.0, [(0, 3)]),                      # shorter than a window: one clip
    (7.5, [(0, 7.5)]),                    # remainder <= 7.5 s: one clip
    (10.0, [(0, 5), (5, 10)]),            # remainder in (7.5, 12.5]: 5 s + the rest
    (12.5, [(0, 5), (5, 12.5)]),
    (13.0, [(0, 5), (5, 10), (10, 13)]),  # 13 > 12.5: one 5 s window, then 8 s -> 5 + 3
    (17.0, [(0, 5), (5, 10), (10, 17)]),  # 17 > 12.5: 5 s, then 12 s -> 5 + 7
    (20.0, [(0, 5), (5, 10), (10, 15), (15, 20)]),
])
def test_window_rule(seconds, expected):
    fps = 30
    got = split_windows(int(seconds * fps), fps)
    assert got == [(int(s * fps), int(e * fps)) for s, e in expected]
    # windows tile the video exactly, none longer than the tail limit
    assert got[0][0] == 0 and got[-1][1] == int(seconds * fps)
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))
    assert all(e - s <= 7.5 * fps for s, e in got)


def test_window_names_roundtrip():
    n = window_name("327", "685393", 0, 0, 150)
    assert n == "task_327_episode_685393_window_0_frame_0-149.mp4"
    assert parse_window_name(n) == {"task": "327", "episode": "685393", "window": 0, "start": 0, "end": 149}


def test_split_only_and_delete_only(tmp_path):
    data = tmp_path / "agibot"
    frames = {}
    for eid, ep_seed in (("100", 1), ("200", 2)):
        ep = data / "observations" / "327" / eid
        frames[eid] = generate_episode(ep_seed, 0, TINY)["frames"][:15]  # 15 frames at 2 fps
        write_video(str(ep / "videos" / "cam.mp4"), frames[eid], fps=2)
        write_video(str(ep / "videos" / "other.mp4"), frames[eid][:2], fps=2)
        os.makedirs(ep / "depth")
        (ep / "extra.json").write_text("{}")
    jsonl = tmp_path / "caps.jsonl"
    jsonl.write_text(json.dumps({"video_clip": "task_327_episode_200_window_0_frame_0-3.mp4", "caption": "a robot",
                                 "episode_id": "200"}) + "\n")
    out = tmp_path / "out"
    base = [sys.executable, "scripts/prepare_agibot_fisheye_data.py", "--data_dir", str(data), "--camera", "cam"]
    r = subprocess.run(base + ["--delete-only"], cwd=REPO, capture_output=True, text=True, check=True)
    assert "2 episodes" in r.stdout
    assert sorted(os.listdir(data / "observations/327/100")) == ["videos"]
    assert os.listdir(data / "observations/327/100/videos") == ["cam.mp4"]
    # windows of 2 s (4 frames) with a 3 s (6 frame) tail limit over 15 frames: 0-3, 4-7, 8-11, 12-14
    r = subprocess.run(base + ["--split-only", "--output_dir", str(out), "--val_episode_ids", "200",
                               "--window-size", "2", "--min-last-window", "3", "--captions_jsonl", str(jsonl)],
                       cwd=REPO, capture_output=True, text=True, check=True)
    assert "4 train and 4 val clips" in r.stdout and "1 captions" in r.stdout
    train = sorted(os.listdir(out / "train" / "videos"))
    assert train == [f"task_327_episode_100_window_{w}_frame_{s}-{e}.mp4"
                     for w, (s, e) in enumerate([(0, 3), (4, 7), (8, 11), (12, 14)])]
    assert len(os.listdir(out / "val" / "videos")) == 4
    assert (out / "val/metas/task_327_episode_200_window_0_frame_0-3.txt").read_text() == "a robot"
    clip = str(out / "train/videos/task_327_episode_100_window_3_frame_12-14.mp4")
    assert video_info(clip)[0] == 3
    got = read_frames(clip, [0, 1, 2]).astype(float)
    src = read_frames(str(data / "observations/327/100/videos/cam.mp4"), [12, 13, 14]).astype(float)
    other = read_frames(str(data / "observations/327/100/videos/cam.mp4"), [9, 10, 11]).astype(float)
    assert np.abs(got - src).mean() < np.abs(got - other).mean() and np.abs(got - src).mean() < 4


def test_batch_input_json(tmp_path):
    import imageio.v2 as iio
    d = tmp_path / "bench"
    os.makedirs(d)
    img = np.zeros((8, 8, 3), np.uint8)
    iio.imwrite(d / "a.png", img)
    (d / "a.txt").write_text("prompt a\n")
    iio.imwrite(d / "b.jpg", img)
    (d / "b..txt").write_text("prompt b")
    iio.imwrite(d / "c.png", img)  # no prompt -> warned and skipped
    out = tmp_path / "x" / "batch.json"
    r = subprocess.run([sys.executable, "-m", "scripts.prepare_batch_input_json", "--dataset_path", str(d),
                        "--save_path", "outdir", "--output_path", str(out)], cwd=REPO, capture_output=True,
                       text=True, check=True)
    assert "2 entries" in r.stdout and "c.png" in r.stdout
    assert json.loads(out.read_text()) == [
        {"input_video": str(d / "a.png"), "prompt": "prompt a", "output_video": "outdir/a.mp4"},
        {"input_video": str(d / "b.jpg"), "prompt": "prompt b", "output_video": "outdir/b.mp4"},
    ]


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("flag", ["--split-only", "--delete-only"])
def test_agibot_without_source_data_is_an_error(flag, tmp_path, capsys):
    from scripts.prepare_agibot_fisheye_data import main

    data, out = tmp_path / "agibot", tmp_path / "out"
    assert main([flag, "--data_dir", str(data), "--output_dir", str(out)]) == 2
    std, err = capsys.readouterr()
    line = _one_line(err)
    assert line.startswith(f"error: no episode folders under {data}/observations/327/") and "--data_dir" in line
    assert std == "" and not out.exists() and not data.exists()


def test_agibot_wrong_camera_or_episode_deletes_and_cuts_nothing(tmp_path, capsys):
    from scripts.prepare_agibot_fisheye_data import main

    data, out = tmp_path / "agibot", tmp_path / "out"
    ep = data / "observations" / "327" / "100"
    write_video(str(ep / "videos" / "cam.mp4"), generate_episode(1, 0, TINY)["frames"][:4], fps=2)
    (ep / "extra.json").write_text("{}")
    assert main(["--delete-only", "--data_dir", str(data), "--camera", "head"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "none of the 1 episodes" in line and "videos/head.mp4" in line and "cameras found: cam" in line
    assert sorted(os.listdir(ep)) == ["extra.json", "videos"] and os.listdir(ep / "videos") == ["cam.mp4"]
    assert main(["--split-only", "--data_dir", str(data), "--camera", "cam", "--output_dir", str(out),
                 "--val_episode_ids", "999"]) == 2
    assert _one_line(capsys.readouterr().err).startswith("error: --val_episode_ids 999: no such episode")
    assert main(["--split-only", "--data_dir", str(data), "--camera", "cam", "--output_dir", str(out),
                 "--captions_jsonl", str(tmp_path / "nope.jsonl")]) == 2
    assert f"--captions_jsonl {tmp_path / 'nope.jsonl'} does not exist" in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_batch_input_json_without_usable_inputs_is_an_error(tmp_path, capsys):
    import imageio.v2 as iio

    from scripts.prepare_batch_input_json import main

    out = tmp_path / "batch.json"
    args = ["--save_path", "outdir", "--output_path", str(out)]
    assert main(["--dataset_path", str(tmp_path / "missing"), *args]) == 2
    std, err = capsys.readouterr()
    assert _one_line(err).startswith(f"error: --dataset_path {tmp_path / 'missing'} is not a folder") and std == ""
    empty = tmp_path / "empty"
    os.makedirs(empty)
    assert main(["--dataset_path", str(empty), *args]) == 2
    assert "has no usable inputs: it holds no *.jpg / *.png images" in _one_line(capsys.readouterr().err)
    iio.imwrite(empty / "c.png", np.zeros((8, 8, 3), np.uint8))  # an image without its prompt
    assert main(["--dataset_path", str(empty), *args]) == 2
    std, err = capsys.readouterr()
    assert "none of its 1 image(s) has a prompt <stem>.txt (e.g. c.png)" in _one_line(err) and std == ""
    assert not out.exists()
