"""VideoTextDataset, GR1 csv parsing and the T5-embedding scripts on tiny synthetic data."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from cosmos_predict2.data.bad_samples import BadSample, LoaderIndex
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.video_io import read_frames
from cosmos_predict2.data.video_text import VideoTextDataset, read_groot_metadata_csv
from tests.data_fixtures import copy_of, video_text_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _with_pickles(name, dim=8, tokens=5):
    root = copy_of(video_text_dir(), name)
    os.makedirs(f"{root}/t5_xxl")
    for i in range(3):
        with open(f"{root}/t5_xxl/ep_{i:04d}.pickle", "wb") as f:
            pickle.dump([np.full((tokens + i, dim), i + 1, np.float16)], f)
    return root


def test_samples_windows_and_embeddings():
    root = _with_pickles("vt_ok")
    ds = VideoTextDataset(root, num_frames=6, video_size=[16, 24], t5_embedding_dim=8, mode="val")
    assert len(ds) == 3
    s = ds[1]
    assert s["video"].shape == (3, 6, 16, 24) and s["video"].dtype == torch.uint8
    assert s["t5_text_embeddings"].shape == (512, 8) and s["t5_text_mask"].sum() == 6
    assert s["t5_text_embeddings"][:6].eq(2).all() and s["t5_text_embeddings"][6:].eq(0).all()
    assert s["fps"] == 4.0 and s["video_name"] == s["__key__"] == "ep_0001" and s["num_frames"] == 6
    assert s["image_size"].tolist() == [16, 24, 16, 24] and s["padding_mask"].shape == (1, 16, 24)
    assert "gripper" in s["ai_caption"]
    assert torch.equal(ds[1]["video"], s["video"])  # non-train: same window every time
    # the window is consecutive frames of the source video
    full = torch.from_numpy(read_frames(f"{root}/videos/ep_0001.mp4", range(16))).permute(3, 0, 1, 2)
    ds_full = VideoTextDataset(root, num_frames=6, video_size=[32, 48], t5_embedding_dim=8, mode="val")
    v = ds_full[1]["video"]
    starts = [st for st in range(11) if torch.equal(full[:, st:st + 6], v)]
    assert len(starts) == 1
    train = VideoTextDataset(root, num_frames=6, video_size=[32, 48], t5_embedding_dim=8)
    np.random.seed(0)
    seen = set()
    for _ in range(12):
        v = train[1]["video"]
        seen.add(next(st for st in range(11) if torch.equal(full[:, st:st + 6], v)))
    assert len(seen) > 1  # random windows in training


def test_mismatched_and_bad_files():
    root = _with_pickles("vt_bad")
    os.remove(f"{root}/t5_xxl/ep_0002.pickle")
    with pytest.raises(DataError, match="no embedding t5_xxl/ep_0002.pickle") as ei:
        VideoTextDataset(root, 6, [16, 24], t5_embedding_dim=8)
    assert "ep_0002.mp4" in str(ei.value)
    ds = VideoTextDataset(root, 6, [16, 24], t5_embedding_dim=8, on_bad_sample="skip")
    assert len(ds) == 2 and ds.num_skipped == 1
    open(f"{root}/metas/extra.txt", "w").write("orphan")
    with pytest.raises(DataError, match="caption has no matching video"):
        VideoTextDataset(root, 6, [16, 24], t5_embedding_dim=8, load_t5_embeddings=False)
    os.remove(f"{root}/metas/extra.txt")
    os.remove(f"{root}/metas/ep_0000.txt")
    with pytest.raises(DataError, match="no caption metas/ep_0000.txt"):
        VideoTextDataset(root, 6, [16, 24], load_t5_embeddings=False)
    root = _with_pickles("vt_bad2")
    with pytest.raises(DataError, match="fewer than num_frames=20"):
        VideoTextDataset(root, 20, [16, 24], t5_embedding_dim=8)[0]
    with pytest.raises(DataError, match="embedding dim is 8"):
        VideoTextDataset(root, 6, [16, 24])[0]
    open(f"{root}/videos/ep_0001.mp4", "wb").write(b"\x00" * 1000)
    ds = VideoTextDataset(root, 6, [16, 24], t5_embedding_dim=8, on_bad_sample="skip")
    with pytest.raises(DataError, match="ep_0001.mp4: cannot decode video"):
        ds[1]  # never another sample in its place
    marker = ds[LoaderIndex(1)]  # what the project's loader gets instead of the exception
    assert isinstance(marker, BadSample) and (marker.index, marker.key) == (1, "ep_0001")
    assert marker.path == f"{root}/videos/ep_0001.mp4" and marker.problem.startswith("cannot decode video")
    assert ds.num_skipped == 0 and ds[2]["__key__"] == "ep_0002"
    with pytest.raises(DataError, match="no t5_xxl/ folder"):
        VideoTextDataset(video_text_dir(), 6, [16, 24])
    with pytest.raises(DataError, match="no videos/ folder"):
        VideoTextDataset(f"{root}/metas", 6, [16, 24])


def test_groot_csv(tmp_path):
    p = tmp_path / "metadata.csv"
    p.write_text('video_filename,prompt\n"a/b/ep1.mp4","Pick up the cup, then place it"\nep2.mp4,plain text\n\n')
    assert read_groot_metadata_csv(str(p)) == [("a/b/ep1.mp4", "Pick up the cup, then place it"),
                                               ("ep2.mp4", "plain text")]
    p.write_text("header\nno comma here\n")
    with pytest.raises(DataError, match="line 2 has no comma"):
        read_groot_metadata_csv(str(p))


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from cosmos_predict2.text_encoders.tiny_t5 import save_tiny_t5
    return save_tiny_t5(str(tmp_path_factory.mktemp("tiny_t5")))


def test_t5_scripts_write_loadable_pickles(tiny_t5, tmp_path):
    root = copy_of(video_text_dir(), "vt_t5")
    cmd = [sys.executable, "scripts/get_t5_embeddings.py", "--dataset_path", root, "--cache_dir", tiny_t5,
           "--batch_size", "2"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "3 embeddings written" in out
    ds = VideoTextDataset(root, 6, [16, 24], t5_embedding_dim=32)
    s = ds[0]
    n = int(s["t5_text_mask"].sum())
    caption = open(f"{root}/metas/ep_0000.txt").read().strip()
    assert n == len(caption.encode()) + 1  # ByT5: one token per byte + </s>
    assert s["t5_text_embeddings"][:n].abs().sum() > 0
    from scripts.get_t5_embeddings import encode_metas
    assert encode_metas(root, tiny_t5) == (0, 3)  # existing pickles are skipped
    # GR1: csv -> metas with prefix + pickles (module form)
    g = tmp_path / "gr1"
    os.makedirs(g / "videos")
    (g / "metadata.csv").write_text('video_filename,prompt\n"gr1/x1.mp4","Use the left hand, carefully"\n')
    from scripts.get_t5_embeddings_from_groot_dataset import main as groot_main  # in-process (import cost)
    assert groot_main(["--dataset_path", str(g), "--cache_dir", tiny_t5]) == 0
    assert (g / "metas/x1.txt").read_text() == "The robot arm is performing a task. Use the left hand, carefully"
    assert os.path.isfile(g / "t5_xxl/x1.pickle")
