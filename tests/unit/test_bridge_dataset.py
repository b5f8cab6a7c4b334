"""BridgeActionDataset on tiny synthetic data: windows, splits, layouts, sample dict, bad input."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cosmos_predict2.data.bad_samples import BadSample, LoaderIndex
from cosmos_predict2.data.bridge import BridgeActionDataset
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.video_io import read_frames
from tests.data_fixtures import bridge_dir, copy_of

SIZE = [32, 48]


def _ds(root, mode="train", **kw):
    kw.setdefault("num_frames", 5)
    kw.setdefault("video_size", SIZE)
    return BridgeActionDataset(root, mode=mode, **kw)


def test_window_counts_and_order():
    root = bridge_dir()  # 4 train episodes of 16 frames
    ds = _ds(root)
    assert len(ds) == 4 * (16 - 4)
    ds2 = _ds(root, num_frames=4, sequence_interval=2, start_frame_interval=3)  # span 6 -> starts 0,3,6,9
    assert len(ds2) == 4 * 4
    assert ds2.samples[:4] == [(0, 0), (0, 3), (0, 6), (0, 9)]
    files = [ds2.episodes[e]["path"] for e, _ in ds2.samples]
    assert files == sorted(files)
    assert len(_ds(root, "val")) == 12 and len(_ds(root, "test")) == 12
    assert len(_ds(root, "val", val_start_frame_interval=4, start_frame_interval=1)) == 3


def test_splits_are_disjoint():
    root = bridge_dir()
    keys = {m: {e["key"] for e in _ds(root, m).episodes} for m in ("train", "val", "test")}
    assert keys["train"].isdisjoint(keys["val"]) and keys["val"].isdisjoint(keys["test"])
    assert sum(len(v) for v in keys.values()) == 6


def test_sample_dict_and_actions():
    root = bridge_dir()
    ds = _ds(root, num_frames=5, sequence_interval=2, video_size=[16, 24])
    i = 3
    s = ds[i]
    ep_idx, start = ds.samples[i]
    frames = [start + 2 * k for k in range(5)]
    assert s["video"].shape == (3, 5, 16, 24) and s["video"].dtype == torch.uint8
    assert s["action"].shape == (4, 7) and s["action"].dtype == torch.float32
    assert s["t5_text_embeddings"].shape == (512, 1024) and not s["t5_text_embeddings"].any()
    assert s["t5_text_mask"].shape == (512,) and s["padding_mask"].shape == (1, 16, 24)
    assert s["num_frames"] == 5 and s["fps"] == 4 and s["ai_caption"] == ""
    assert s["image_size"].tolist() == [16, 24, 16, 24]
    ann = json.load(open(s["annotation_file"]))
    assert s["__key__"] == ann["episode_id"]
    # actions: independent float64 computation from the JSON states at the window frames
    st = np.array(ann["state"])[frames]
    g = np.array(ann["continuous_gripper_state"])[frames]
    for k in range(1, 5):
        Rp = Rotation.from_euler("ZYX", st[k - 1, [5, 4, 3]])
        dxyz = Rp.as_matrix().T @ (st[k, :3] - st[k - 1, :3])
        yaw, pitch, roll = (Rp.inv() * Rotation.from_euler("ZYX", st[k, [5, 4, 3]])).as_euler("ZYX")
        np.testing.assert_allclose(s["action"][k - 1].numpy(), [*(20 * dxyz), 20 * roll, 20 * pitch, 20 * yaw, g[k]],
                                   rtol=1e-5, atol=1e-4)
    # video: the right frames, resized
    raw = read_frames(os.path.join(root, ann["videos"][0]["video_path"]), frames)
    ref = torch.nn.functional.interpolate(torch.from_numpy(raw).permute(0, 3, 1, 2).float(), size=(16, 24),
                                          mode="bilinear", antialias=True)
    assert (s["video"].permute(1, 0, 2, 3).float() - ref).abs().max() <= 1.0


def test_val_is_deterministic_and_loads_embeddings():
    root = copy_of(bridge_dir(), "emb")
    ds = _ds(root, "val", cam_ids=[0, 0])
    a, b = ds[2], ds[2]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["action"], b["action"])
    import pickle
    for p in glob.glob(f"{root}/annotation/val/*.json"):
        with open(p[:-5] + ".pickle", "wb") as f:
            pickle.dump([np.ones((7, 16), np.float16)], f)
    s = _ds(root, "val", load_t5_embeddings=True, t5_embedding_dim=16)[0]
    assert s["t5_text_embeddings"].shape == (512, 16) and s["t5_text_embeddings"][:7].eq(1).all()
    assert s["t5_text_embeddings"][7:].eq(0).all() and s["t5_text_mask"].sum() == 7
    with pytest.raises(DataError, match="embedding dim is 16"):
        _ds(root, "val", load_t5_embeddings=True, t5_embedding_dim=1024)[0]
    with pytest.raises(DataError, match="neither"):
        _ds(root, "test", load_t5_embeddings=True)[0]


def test_flat_layout():
    src = bridge_dir()
    root = os.path.join(copy_of(src, "flat_parent"), "flat")
    os.makedirs(f"{root}/annotations"), os.makedirs(f"{root}/videos")
    for p in glob.glob(f"{src}/annotation/*/*.json"):
        ann = json.load(open(p))
        shutil.copy(os.path.join(src, ann["videos"][0]["video_path"]), f"{root}/videos/{ann['episode_id']}.mp4")
        ann["videos"] = [{"video_path": "videos/train/somewhere_else.mp4"}]  # stale path -> videos/<stem>.mp4
        json.dump(ann, open(f"{root}/annotations/{ann['episode_id']}.json", "w"))
    for mode in ("train", "val"):
        ds = _ds(root, mode)
        assert ds.layout == "flat" and len(ds) == 6 * 12
    assert ds[0]["video"].shape == (3, 5, 32, 48)


def _damage_first(root, fn):
    p = sorted(glob.glob(f"{root}/annotation/train/*.json"))[0]
    ann = json.load(open(p))
    fn(ann)
    json.dump(ann, open(p, "w"))
    return p


@pytest.mark.parametrize("damage, message", [
    (lambda a: a.pop("state"), "missing key 'state'"),
    (lambda a: a.pop("continuous_gripper_state"), "missing key 'continuous_gripper_state'"),
    (lambda a: a["continuous_gripper_state"].pop(), "has 15 entries but 'state' has 16 rows"),
    (lambda a: a.update(state=a["state"][:3], continuous_gripper_state=a["continuous_gripper_state"][:3],
                        action=a["action"][:2]), "shorter than one window"),
])
def test_bad_annotations_raise_or_skip(damage, message):
    root = copy_of(bridge_dir(), "badann")
    bad = _damage_first(root, damage)
    with pytest.raises(DataError, match=message) as ei:
        _ds(root)
    assert bad in str(ei.value) and isinstance(ei.value, ValueError)
    ds = _ds(root, on_bad_sample="skip")
    assert ds.num_skipped == 1 and bad in ds.skipped[0] and len(ds) == 3 * 12


def test_invalid_json_and_missing_folders(tmp_path):
    root = copy_of(bridge_dir(), "badjson")
    bad = sorted(glob.glob(f"{root}/annotation/train/*.json"))[1]
    open(bad, "w").write("{not json")
    with pytest.raises(DataError, match="invalid JSON") as ei:
        _ds(root)
    assert bad in str(ei.value)
    first = sorted(glob.glob(f"{root}/annotation/train/*.json"))[0]
    open(first, "w").write("")
    with pytest.raises(DataError, match="2 problems") as ei:  # every unusable annotation in one list
        _ds(root)
    lines = str(ei.value).splitlines()
    assert len(lines) == 3 and bad in lines[2] and first in lines[1] and "invalid JSON" in lines[1]
    with pytest.raises(DataError, match="does not exist"):
        _ds(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="no annotation/train/ folder"):
        _ds(str(tmp_path))
    os.makedirs(tmp_path / "annotation" / "train")
    with pytest.raises(DataError, match="no \\*.json files"):
        _ds(str(tmp_path))


def test_corrupt_short_and_missing_videos():
    root = copy_of(bridge_dir(), "badvid")
    ds = _ds(root)
    paths = [os.path.join(root, e["ann"]["videos"][0]["video_path"]) for e in ds.episodes]
    data = open(paths[0], "rb").read()
    open(paths[0], "wb").write(data[: len(data) // 3])  # truncated
    os.remove(paths[1])
    # a video shorter than its annotation: the second episode's late windows fail
    from cosmos_predict2.data.video_io import write_video
    write_video(paths[2], read_frames(paths[3], list(range(6))), fps=4)
    ds = _ds(root)
    with pytest.raises(DataError, match="cannot decode video") as ei:
        ds[0]
    assert paths[0] in str(ei.value)
    with pytest.raises(DataError, match="does not exist"):
        ds[12]
    assert ds[24]["video"].shape[1] == 5  # frames 0..4 exist
    with pytest.raises(DataError, match="has 6 frames but frame 10 was requested"):
        ds[24 + 6]
    ds = _ds(root, on_bad_sample="skip")  # never another sample in its place: the caller decides
    with pytest.raises(DataError, match="cannot decode video"):
        ds[0]
    marker = ds[LoaderIndex(13)]  # what the project's loader gets instead of the exception
    assert marker == BadSample(13, ds.episodes[1]["key"], paths[1], "video file does not exist", None)
    assert marker.as_dict()["error"] == f"{paths[1]}: video file does not exist"


def test_on_bad_sample_is_validated():
    with pytest.raises(ValueError, match=r"BridgeActionDataset: on_bad_sample=True is not one of error, skip"):
        _ds(bridge_dir(), on_bad_sample=True)
    with pytest.raises(ValueError, match=r"max_bad_sample_fraction=1.5 must be a number in \[0, 1\)"):
        _ds(bridge_dir(), on_bad_sample="skip", max_bad_sample_fraction=1.5)


def test_upstream_argument_names():
    root = bridge_dir()
    ds = BridgeActionDataset(video_path=root, train_annotation_path=f"{root}/annotation/train", mode="train",
                             num_action_per_chunk=4, fps_downsample_ratio=2, video_size=SIZE,
                             dataloaders={"ignored": 1})
    assert ds.num_frames == 5 and ds.sequence_interval == 2 and len(ds) == 4 * (16 - 8)
    assert ds[0]["action"].shape == (4, 7)
