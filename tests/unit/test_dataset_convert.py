"""The LeRobot v3.0 writer (read back by our reader; files shaped as the official ``lerobot`` writer's fixture) and
``scripts.convert_dataset`` (Bridge -> LeRobot -> Bridge and LeRobot -> Bridge -> LeRobot round trips, one-line
errors)."""

import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from cosmos_predict2.data.actions import states_from_rot6d_actions
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.lerobot_episode import LeRobotSettings, read_lerobot_episode, read_lerobot_frames
from cosmos_predict2.data.lerobot_meta import LeRobotMeta
from cosmos_predict2.data.lerobot_writer import LeRobotWriter
from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset
from cosmos_predict2.data.video_io import read_frames, write_video
from scripts.convert_dataset import main
from tests.fixture_paths import LEROBOT_V3_OFFICIAL

FIXTURE = LEROBOT_V3_OFFICIAL
FPS = 5
LENGTHS = (12, 17, 10)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-12))


def _frames(meta: LeRobotMeta, camera: str, episode: int) -> np.ndarray:
    st = LeRobotSettings(camera=camera, video_size=None)
    ep = read_lerobot_episode(meta, episode, st)
    return read_lerobot_frames(meta, ep, range(ep["length"]), st).permute(1, 2, 3, 0).numpy()


# -- the writer ------------------------------------------------------------------------------------------------
def _episode(rng: np.random.Generator, n: int) -> tuple[dict, dict]:
    """A front camera with a bright square moving right on a gradient, a uniform wrist camera of grey 7 t."""
    y, x = np.mgrid[:48, :64]
    front = np.repeat(np.stack([x * 3, y * 4, 255 - x * 3], -1)[None].astype(np.uint8), n, 0)
    for t in range(n):
        front[t, 10:26, 2 + 2 * t:18 + 2 * t] = 255
    wrist = np.repeat(((7 * np.arange(n)) % 255).astype(np.uint8)[:, None, None, None], 48, 1)
    wrist = np.repeat(np.repeat(wrist, 64, 2), 3, 3)
    cols = {"observation.state": rng.normal(size=(n, 8)).astype(np.float32),
            "action": rng.normal(size=(n, 10)).astype(np.float32)}
    return {"observation.images.front": front, "observation.images.wrist": wrist}, cols


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A dataset written with the fixture's features: 3 episodes, two tasks, splits train / val."""
    info = json.load(open(os.path.join(FIXTURE, "meta", "info.json"))) if os.path.isdir(FIXTURE) else None
    features = {"observation.images.front": {"dtype": "video", "shape": [48, 64, 3]},
                "observation.images.wrist": {"dtype": "video", "shape": [48, 64, 3]},
                "observation.state": {"dtype": "float32", "shape": [8], "names": [f"s{i}" for i in range(8)]},
                "action": {"dtype": "float32", "shape": [10], "names": [f"a{i}" for i in range(10)]}}
    if info:
        assert {k: v["shape"] for k, v in features.items()} == {k: info["features"][k]["shape"] for k in features}
    root = str(tmp_path_factory.mktemp("writer") / "ds")
    rng = np.random.default_rng(0)
    episodes = [_episode(rng, n) for n in LENGTHS]
    w = LeRobotWriter(root, FPS, features)
    for i, (frames, cols) in enumerate(episodes):
        assert w.add_episode(frames, cols, task=["push", "pull"][i % 2]) == i
    assert not os.path.exists(root) and os.path.isdir(root + ".tmp")
    assert w.finalize({"train": "0:2", "val": "2:3"}) == root
    assert not os.path.exists(root + ".tmp")
    return root, episodes


def test_writer_output_reads_back_as_written(written):
    root, episodes = written
    meta = LeRobotMeta(root)
    assert meta.version == "v3.0" and meta.fps == FPS and meta.info["splits"] == {"train": "0:2", "val": "2:3"}
    assert [e.length for e in meta.episodes] == list(LENGTHS) and meta.task(0) == "push" and meta.task(1) == "pull"
    for e, (frames, cols) in enumerate(episodes):
        ep = meta.episode(e)
        assert ep.tasks == (("push", "pull")[e % 2],)
        for cam in frames:
            assert ep.videos[cam][1] == pytest.approx(sum(LENGTHS[:e]) / FPS)  # one mp4, episodes one after another
        table = meta.read_table(ep, ["observation.state", "action"])
        for key, want in cols.items():
            np.testing.assert_array_equal(table[key], want.astype(np.float64))
        np.testing.assert_array_equal(table["timestamp"], (np.arange(len(want)) / FPS).astype(np.float32))
        for cam, want in frames.items():
            got = _frames(meta, cam, e)
            assert got.shape == want.shape and _psnr(got, want) > 40, (cam, e, _psnr(got, want))
        grey = _frames(meta, "wrist", e).reshape(LENGTHS[e], -1).mean(1)
        np.testing.assert_allclose(grey, (7 * np.arange(LENGTHS[e])) % 255, atol=2)


def test_writer_statistics_are_those_of_the_input(written):
    root, episodes = written
    rows = pq.read_table(os.path.join(root, "meta", "episodes", "chunk-000", "file-000.parquet")).to_pylist()
    for row, (frames, cols) in zip(rows, episodes):
        s = cols["observation.state"].astype(np.float64)
        np.testing.assert_allclose(row["stats/observation.state/mean"], s.mean(0), rtol=1e-12)
        np.testing.assert_allclose(row["stats/observation.state/q10"], np.quantile(s, 0.1, axis=0), rtol=1e-12)
        px = frames["observation.images.front"].reshape(-1, 3).astype(np.float64) / 255
        for name, fn in (("min", np.min), ("std", np.std), ("q50", np.median), ("q99", lambda a, axis: np.quantile(
                a, 0.99, axis=axis))):
            np.testing.assert_allclose(np.ravel(row[f"stats/observation.images.front/{name}"]), fn(px, axis=0),
                                       rtol=1e-12, atol=1e-12)
        assert row["stats/observation.images.front/count"] == [len(px) // (48 * 64)]
    stats = json.load(open(os.path.join(root, "meta", "stats.json")))
    every = np.concatenate([c["action"] for _, c in episodes]).astype(np.float64)
    np.testing.assert_allclose(stats["action"]["std"], every.std(0), rtol=1e-12)
    np.testing.assert_allclose(stats["action"]["q01"], np.quantile(every, 0.01, axis=0), rtol=1e-12)
    assert stats["index"]["max"] == [sum(LENGTHS) - 1] and stats["action"]["count"] == [sum(LENGTHS)]
    wrist = np.concatenate([f["observation.images.wrist"] for f, _ in episodes]).reshape(-1, 3) / 255
    np.testing.assert_allclose(np.ravel(stats["observation.images.wrist"]["mean"]), wrist.mean(0), rtol=1e-12)


def test_writer_files_have_the_official_writers_schema(written):
    root, _ = written
    for rel in ("data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet"):
        ours, theirs = pq.read_schema(os.path.join(root, rel)), pq.read_schema(os.path.join(FIXTURE, rel))
        assert [(f.name, str(f.type)) for f in ours] == [(f.name, str(f.type)) for f in theirs], rel
    hf = lambda p: json.loads(pq.read_schema(p).metadata[b"huggingface"])["info"]["features"]
    rel = "data/chunk-000/file-000.parquet"
    assert hf(os.path.join(root, rel)) == hf(os.path.join(FIXTURE, rel))
    pandas = lambda p: json.loads(pq.read_schema(p).metadata[b"pandas"])["index_columns"]
    assert pandas(os.path.join(root, "meta/tasks.parquet")) == pandas(os.path.join(FIXTURE, "meta/tasks.parquet"))
    assert pq.ParquetFile(os.path.join(root, rel)).metadata.num_row_groups == len(LENGTHS)  # one per episode
    ours, theirs = (json.load(open(os.path.join(d, "meta", "info.json"))) for d in (root, FIXTURE))
    assert list(ours) == list(theirs)
    assert {k: ours[k] for k in ("codebase_version", "chunks_size", "data_path", "video_path")} == \
        {k: theirs[k] for k in ("codebase_version", "chunks_size", "data_path", "video_path")}
    assert list(ours["features"]) == list(theirs["features"])
    for key, spec in theirs["features"].items():
        assert list(ours["features"][key]) == list(spec), key
        assert {k: v for k, v in ours["features"][key].items() if k != "info"} == \
            {k: v for k, v in spec.items() if k != "info"}, key
        if "info" in spec:
            assert list(ours["features"][key]["info"]) == list(spec["info"])
            assert ours["features"][key]["info"]["video.codec"] == "h264"
    ours, theirs = (json.load(open(os.path.join(d, "meta", "stats.json"))) for d in (root, FIXTURE))
    assert sorted(ours) == sorted(theirs) and all(sorted(ours[k]) == sorted(theirs[k]) for k in theirs)


def test_writer_refuses_bad_input_and_leaves_nothing_behind(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("keep")
    feats = {"observation.images.cam": {"dtype": "video", "shape": [16, 16, 3]},
             "s": {"dtype": "float32", "shape": [2]}}
    with pytest.raises(DataError, match="exists and is not empty"):
        LeRobotWriter(str(busy), FPS, feats)
    assert os.listdir(busy) == ["x"]
    root = str(tmp_path / "new")
    with pytest.raises(DataError, match="odd|even"):
        LeRobotWriter(root, FPS, {"observation.images.cam": {"dtype": "video", "shape": [15, 16, 3]}})
    with pytest.raises(DataError, match="whole"):
        LeRobotWriter(root, 7.5, feats)
    with LeRobotWriter(root, FPS, feats) as w:
        frames = {"observation.images.cam": np.zeros((4, 16, 16, 3), np.uint8)}
        with pytest.raises(DataError, match=r"episode 0: s is float32 \(3,\) per frame, the feature is \[2\]"):
            w.add_episode(frames, {"s": np.zeros((4, 3))})
        with pytest.raises(DataError, match="frame counts differ"):
            w.add_episode(frames, {"s": np.zeros((5, 2))})
        with pytest.raises(DataError, match="columns"):
            w.add_episode(frames, {"t": np.zeros((4, 2))})
    assert not os.path.exists(root) and not os.path.exists(root + ".tmp")


# -- the converter ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Bridge -> LeRobot -> Bridge -> LeRobot through scripts.convert_dataset (4 synthetic episodes, 12 frames)."""
    base = tmp_path_factory.mktemp("convert")
    paths = {k: str(base / k) for k in ("bridge", "lerobot", "bridge2", "lerobot2")}
    write_bridge_dataset(paths["bridge"], episodes=4, seed=3, cfg=SyntheticConfig(frames=12))
    assert main(["--to", "lerobot", paths["bridge"], paths["lerobot"]]) == 0
    assert main(["--to", "bridge", paths["lerobot"], paths["bridge2"]]) == 0
    assert main(["--to", "lerobot", paths["bridge2"], paths["lerobot2"]]) == 0
    return paths


def _annotations(root: str) -> dict[str, dict]:
    files = glob.glob(os.path.join(root, "annotation", "*", "*.json"))
    return {os.path.relpath(p, root): json.load(open(p)) for p in files}


def test_bridge_to_lerobot_layout_and_actions(chain):
    meta = LeRobotMeta(chain["lerobot"])
    assert meta.fps == 4 and meta.cameras == ["observation.images.image_0"]  # fps from synthetic_info.json
    assert meta.info["splits"] == {"train": "0:2", "val": "2:3", "test": "3:4"}
    assert meta.features["observation.state"]["names"] == ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
    anns = _annotations(chain["bridge"])
    for e in range(4):
        split = "train" if e < 2 else ("val", "test")[e - 2]
        ann = anns[f"annotation/{split}/{e}.json"]
        state, grip = np.asarray(ann["state"]), np.asarray(ann["continuous_gripper_state"])
        t = meta.read_table(meta.episode(e), ["observation.state", "action"])
        np.testing.assert_array_equal(t["observation.state"], np.concatenate(
            [state[:, :6], grip[:, None]], 1).astype(np.float32))
        act = t["action"]
        # integrating the stored moves from the first pose gives back every pose (float32 storage)
        poses = states_from_rot6d_actions(state[0], act[:-1])
        np.testing.assert_allclose(poses[:, :3], state[:, :3], atol=2e-6)
        np.testing.assert_allclose(np.cos(poses[:, 3:6] - state[:, 3:6]), 1, atol=1e-9)
        np.testing.assert_allclose(act[:-1, 9], grip[1:].astype(np.float32))
        np.testing.assert_array_equal(act[-1], [0, 0, 0, 1, 0, 0, 0, 1, 0, np.float32(grip[-1])])
        assert meta.episode(e).tasks == (ann["texts"][0],)


def test_bridge_round_trip_keeps_state_gripper_texts_and_frames(chain):
    before, after = _annotations(chain["bridge"]), _annotations(chain["bridge2"])
    assert sorted(before) == sorted(after) and len(before) == 4
    assert json.load(open(os.path.join(chain["bridge2"], "dataset_info.json")))["fps"] == 4
    for rel, a in before.items():
        b = after[rel]
        assert b["texts"] == a["texts"] and b["episode_id"] == a["episode_id"]
        np.testing.assert_allclose(b["state"], np.asarray(a["state"])[:, :6], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b["continuous_gripper_state"], a["continuous_gripper_state"], rtol=1e-6, atol=1e-7)
        fa = read_frames(os.path.join(chain["bridge"], a["videos"][0]["video_path"]), range(12))
        fb = read_frames(os.path.join(chain["bridge2"], b["videos"][0]["video_path"]), range(12))
        assert _psnr(fa, fb) > 35, (rel, _psnr(fa, fb))


def test_lerobot_round_trip_keeps_state_and_actions(chain):
    a, b = LeRobotMeta(chain["lerobot"]), LeRobotMeta(chain["lerobot2"])
    assert a.info["splits"] == b.info["splits"] and a.fps == b.fps
    for e in range(4):
        ta = a.read_table(a.episode(e), ["observation.state", "action"])
        tb = b.read_table(b.episode(e), ["observation.state", "action"])
        np.testing.assert_array_equal(tb["observation.state"], ta["observation.state"])
        np.testing.assert_allclose(tb["action"], ta["action"], atol=1e-6)
        assert b.episode(e).tasks == a.episode(e).tasks


def test_flat_layout_two_cameras_and_fps(tmp_path, chain):
    """annotations/*.json (one split), a second camera whose video is shorter than the states, --fps."""
    src = tmp_path / "flat"
    (src / "annotations").mkdir(parents=True)
    flipped = {}
    for e in range(2):
        ann = json.load(open(os.path.join(chain["bridge"], "annotation", "train", f"{e}.json")))
        flipped[e] = read_frames(os.path.join(chain["bridge"], ann["videos"][0]["video_path"]), range(10))[:, ::-1]
        write_video(str(src / "videos" / f"{e}_b.mp4"), np.ascontiguousarray(flipped[e]), fps=4, quality=9)
        ann["videos"] = [{"video_path": os.path.join(chain["bridge"], ann["videos"][0]["video_path"])},
                         {"video_path": f"videos/{e}_b.mp4"}]
        json.dump(ann, open(src / "annotations" / f"{e}.json", "w"))
    out = str(tmp_path / "lr")
    assert main(["--to", "lerobot", str(src), out, "--fps", "10"]) == 0
    meta = LeRobotMeta(out)
    assert meta.fps == 10 and meta.info["splits"] == {"train": "0:2"}
    assert meta.cameras == ["observation.images.image_0", "observation.images.image_1"]
    for e in range(2):
        assert meta.episode(e).length == 10  # min(12 states, 12 and 10 video frames)
        got = _frames(meta, "image_1", e)
        assert _psnr(got, flipped[e]) > 35


def test_official_dataset_to_bridge(tmp_path, capsys):
    out = str(tmp_path / "b")
    assert main(["--to", "bridge", FIXTURE, out, "--camera", "wrist"]) == 0
    assert f"next: python -m scripts.validate_dataset {out}" in capsys.readouterr().out
    ann = json.load(open(os.path.join(out, "annotation", "train", "1.json")))
    rows = pq.read_table(os.path.join(FIXTURE, "data", "chunk-000", "file-000.parquet")).to_pylist()
    state = np.asarray([r["observation.state"] for r in rows if r["episode_index"] == 1])
    np.testing.assert_array_equal(ann["state"], state[:, :6])
    assert ann["texts"] == ["move the disc"] and len(ann["continuous_gripper_state"]) == 25
    grey = read_frames(os.path.join(out, ann["videos"][0]["video_path"]), range(25)).reshape(25, -1).mean(1)
    np.testing.assert_allclose(grey, 7 * np.arange(25), atol=3)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path, chain, capsys):
    missing, busy = str(tmp_path / "missing"), tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("")
    assert main(["--to", "lerobot", missing, str(tmp_path / "o1")]) == 2
    assert "missing: Bridge dataset folder does not exist" in _one_line_error(capsys)
    assert main(["--to", "bridge", missing, str(tmp_path / "o2")]) == 2
    assert "LeRobot dataset folder does not exist" in _one_line_error(capsys)
    assert main(["--to", "lerobot", chain["bridge"], str(busy)]) == 2
    assert "busy: output folder exists and is not empty" in _one_line_error(capsys)
    assert main(["--to", "bridge", chain["lerobot"], str(busy)]) == 2
    assert "exists and is not empty" in _one_line_error(capsys)
    assert main(["--to", "bridge", chain["lerobot"], str(tmp_path / "o3"), "--gripper-index", "7"]) == 2
    assert "--state-key 'observation.state' is 7-d" in _one_line_error(capsys)
    assert main(["--to", "bridge", chain["lerobot"], str(tmp_path / "o4"), "--state-key", "observation.states"]) == 2
    assert "did you mean 'observation.state'" in _one_line_error(capsys)
    assert main(["--to", "bridge", chain["lerobot"], str(tmp_path / "o5"), "--camera", "image_9"]) == 2
    assert "observation.images.image_0" in _one_line_error(capsys)
    assert not any(p.name.startswith("o") for p in tmp_path.iterdir())
