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
