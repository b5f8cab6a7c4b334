"""The LeRobot reader against the official ``lerobot`` writer's v3.0 fixture (AV1, several episodes per mp4) and a
v2.1 rewrite of it: frames checked against an independent PyAV decode, actions / state against the parquet rows
read with pyarrow, windows inside one episode, and the one-line errors for bad data."""

import glob
import json
import os
import shutil
from fractions import Fraction

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.lerobot import LeRobotActionDataset
from cosmos_predict2.data.lerobot_episode import (LeRobotSettings, lerobot_step_actions, read_lerobot_episode,
                                                  read_lerobot_frames)
from cosmos_predict2.data.lerobot_meta import LeRobotMeta
from tests.fixture_paths import LEROBOT_V3_OFFICIAL

FIXTURE = LEROBOT_V3_OFFICIAL
FPS = 5
LENGTHS = {0: 20, 1: 25, 2: 30}
CAMERAS = ("observation.images.front", "observation.images.wrist")


@pytest.fixture(autouse=True)
def _no_stats_cache(monkeypatch):
    monkeypatch.setenv("COSMOS_ACTION_STATS_CACHE", "off")


def _episode_rows() -> list[dict]:
    return pq.read_table(os.path.join(FIXTURE, "meta", "episodes", "chunk-000", "file-000.parquet")).to_pylist()


def _data_rows(root: str, episode: int) -> dict[str, np.ndarray]:
    """The episode's data rows read straight from every data parquet, sorted by frame_index."""
    files = sorted(glob.glob(os.path.join(root, "data", "*", "*.parquet")))
    table = pa.concat_tables([pq.read_table(p) for p in files])
    table = table.filter(pc.equal(table["episode_index"], episode)).sort_by("frame_index")
    return {c: np.asarray(table[c].to_pylist()) for c in table.column_names}


def _decode_by_pts(path: str) -> tuple[dict[int, np.ndarray], Fraction]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        return {f.pts: f.to_ndarray(format="rgb24") for f in container.decode(stream)}, stream.time_base


def _settings(camera: str, **kw) -> LeRobotSettings:
    return LeRobotSettings(camera=camera, video_size=None, **kw)


def _read_all(root: str, camera: str, episode: int) -> np.ndarray:
    meta = LeRobotMeta(root)
    st = _settings(camera)
    ep = read_lerobot_episode(meta, episode, st)
    return read_lerobot_frames(meta, ep, range(ep["length"]), st).permute(1, 2, 3, 0).numpy()


def test_frames_equal_an_independent_decode_of_the_whole_file():
    info = json.load(open(os.path.join(FIXTURE, "meta", "info.json")))
    rows = _episode_rows()
    assert [r["length"] for r in rows] == list(LENGTHS.values())
    for cam in CAMERAS:
        by_pts, tb = {}, None
        for r in rows:
            path = os.path.join(FIXTURE, info["video_path"].format(video_key=cam,
                                                                   chunk_index=r[f"videos/{cam}/chunk_index"],
                                                                   file_index=r[f"videos/{cam}/file_index"]))
            if not by_pts:
                by_pts, tb = _decode_by_pts(path)
            start = r[f"videos/{cam}/from_timestamp"]
            assert (start > 0) == (r["episode_index"] > 0)  # episodes 1 and 2 start mid-file
            ts = _data_rows(FIXTURE, r["episode_index"])["timestamp"]
            want = np.stack([by_pts[round((start + float(t)) / tb)] for t in ts])
            got = _read_all(FIXTURE, cam, r["episode_index"])
            assert got.dtype == np.uint8 and got.shape == (r["length"], 48, 64, 3)
            np.testing.assert_array_equal(got, want)
            if cam.endswith("wrist"):  # frame t of every episode is grey level 7 t (codec error aside)
                grey = got.reshape(len(got), -1).mean(1)
                np.testing.assert_allclose(grey, (7 * np.arange(len(got))) % 255, atol=3)


def test_actions_and_state_equal_the_parquet_rows():
    meta = LeRobotMeta(FIXTURE)
    recorded = _settings("front")
    state = _settings("front", action_source="state_delta", state_key="observation.state", pose_rotation="rot6d")
    for e, n in LENGTHS.items():
        rows = _data_rows(FIXTURE, e)
        ep = read_lerobot_episode(meta, e, recorded)
        np.testing.assert_array_equal(ep["rows"], rows["action"].astype(np.float64))
        np.testing.assert_array_equal(ep["timestamp"], rows["timestamp"].astype(np.float64))
        # the step from frame f to f + 1 is the action stored with frame f
        np.testing.assert_array_equal(lerobot_step_actions(ep, range(n), recorded), rows["action"][:-1])
        np.testing.assert_array_equal(lerobot_step_actions(ep, [3, 5, 7], recorded), rows["action"][[3, 5]])
        np.testing.assert_array_equal(read_lerobot_episode(meta, e, state)["rows"], rows["observation.state"])
    assert meta.task(0) == "move the disc" and meta.episode(2).tasks == ("move the disc",)


def test_windows_stay_inside_one_episode():
    ds = LeRobotActionDataset(FIXTURE, camera="wrist", num_frames=5, sequence_interval=2, video_size=(48, 64),
                              normalization="none", t5_embedding_dim=8, max_text_tokens=4, progress=False)
    span = 4 * 2
    assert len(ds) == sum(n - span for n in LENGTHS.values()) and ds.num_short_episodes == 0
    for i in range(len(ds)):
        pos, start = ds.samples[i]
        e = ds.episodes[pos]["index"]
        assert start + span < LENGTHS[e]
        sample = ds[i]
        assert sample["__key__"] == f"episode_{e:06d}" and sample["ai_caption"] == "move the disc"
        grey = sample["video"].float().mean((0, 2, 3)).numpy()
        np.testing.assert_allclose(grey, 7 * (start + 2 * np.arange(5)), atol=3)  # one episode's frames, in order
        want = _data_rows(FIXTURE, e)["action"][start:start + span:2]
        np.testing.assert_allclose(sample["action"].numpy(), want, rtol=1e-6)


# -- v2.1 ------------------------------------------------------------------------------------------------------
def _as_v21(src: str, dst: str) -> None:
    """Rewrite a v3.0 dataset in the v2.1 layout: one parquet and one mp4 (re-encoded, times from 0) per episode,
    meta/episodes.jsonl and meta/tasks.jsonl."""
    info = json.load(open(os.path.join(src, "meta", "info.json")))
    rows = pq.read_table(os.path.join(src, "meta", "episodes", "chunk-000", "file-000.parquet")).to_pylist()
    cams = [k for k, v in info["features"].items() if v["dtype"] == "video"]
    for k in ("data_files_size_in_mb", "video_files_size_in_mb"):
        info.pop(k)
    info.update(codebase_version="v2.1", total_chunks=1, total_videos=len(rows) * len(cams),
                data_path="data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
                video_path="videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4")
    os.makedirs(os.path.join(dst, "meta"))
    json.dump(info, open(os.path.join(dst, "meta", "info.json"), "w"), indent=4)
    with open(os.path.join(dst, "meta", "episodes.jsonl"), "w") as f:
        for r in rows:
            rec = {"episode_index": r["episode_index"], "tasks": r["tasks"], "length": r["length"]}
            f.write(json.dumps(rec) + "\n")
    tasks = pq.read_table(os.path.join(src, "meta", "tasks.parquet")).to_pylist()
    with open(os.path.join(dst, "meta", "tasks.jsonl"), "w") as f:
        for t in tasks:
            f.write(json.dumps({"task_index": t["task_index"], "task": t["__index_level_0__"]}) + "\n")
    data = pq.read_table(os.path.join(src, "data", "chunk-000", "file-000.parquet"))
    os.makedirs(os.path.join(dst, "data", "chunk-000"))
    for cam in cams:
        os.makedirs(os.path.join(dst, "videos", "chunk-000", cam))
    for r in rows:
        e = r["episode_index"]
        pq.write_table(data.filter(pc.equal(data["episode_index"], e)),
                       os.path.join(dst, "data", "chunk-000", f"episode_{e:06d}.parquet"))
        for cam in cams:
            frames, tb = _decode_by_pts(os.path.join(src, "videos", cam, "chunk-000", "file-000.mp4"))
            first = round(r[f"videos/{cam}/from_timestamp"] / tb)
            mine = [frames[p] for p in sorted(frames) if first <= p < first + r["length"] / info["fps"] / tb]
            assert len(mine) == r["length"]
            with av.open(os.path.join(dst, "videos", "chunk-000", cam, f"episode_{e:06d}.mp4"), "w") as out:
                stream = out.add_stream("libx264", rate=info["fps"], options={"crf": "10"})
                stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
                for i, img in enumerate(mine):
                    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                    frame.pts, frame.time_base = i, Fraction(1, info["fps"])
                    for packet in stream.encode(frame):
                        out.mux(packet)
                for packet in stream.encode():
                    out.mux(packet)


def test_v21_layout_reads_the_same_episodes(tmp_path):
    v21 = str(tmp_path / "v21")
    _as_v21(FIXTURE, v21)
    meta = LeRobotMeta(v21)
    assert meta.version == "v2.1" and meta.task(0) == "move the disc"
    st = _settings("front")
    for e, n in LENGTHS.items():
        assert meta.episode(e).videos["observation.images.front"][1] == 0.0
        ep21, ep30 = read_lerobot_episode(meta, e, st), read_lerobot_episode(LeRobotMeta(FIXTURE), e, st)
        np.testing.assert_array_equal(lerobot_step_actions(ep21, range(n), st),
                                      lerobot_step_actions(ep30, range(n), st))
        for cam in CAMERAS:
            a, b = _read_all(v21, cam, e).astype(np.float64), _read_all(FIXTURE, cam, e).astype(np.float64)
            assert 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2)) > 35
    ds = LeRobotActionDataset(v21, camera="front", num_frames=5, video_size=(48, 64), normalization="none",
                              t5_embedding_dim=8, max_text_tokens=4, progress=False)
    assert len(ds) == sum(n - 4 for n in LENGTHS.values())


# -- bad data --------------------------------------------------------------------------------------------------
def test_timestamps_off_by_half_a_frame_name_the_episode(tmp_path):
    root = str(tmp_path / "shifted")
    shutil.copytree(FIXTURE, root)
    path = os.path.join(root, "data", "chunk-000", "file-000.parquet")
    table = pq.read_table(path)
    ts = np.asarray(table["timestamp"].to_pylist(), dtype=np.float32)
    ts[np.asarray(table["episode_index"].to_pylist()) == 1] += 0.5 / FPS
    table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", pa.array(ts, pa.float32()))
    pq.write_table(table, path)
    meta, st = LeRobotMeta(root), _settings("front")
    read_lerobot_frames(meta, read_lerobot_episode(meta, 0, st), [0, 5], st)  # the other episodes still read
    with pytest.raises(DataError) as err:
        read_lerobot_frames(meta, read_lerobot_episode(meta, 1, st), [0, 1, 2], st)
    msg = str(err.value)
    assert "episode 1" in msg and "file-000.mp4" in msg and "\n" not in msg


def test_missing_feature_and_camera_list_what_the_dataset_has():
    kw = dict(num_frames=5, video_size=(48, 64), progress=False)
    with pytest.raises(DataError) as err:
        LeRobotActionDataset(FIXTURE, camera="front", action_key="actions", **kw)
    msg = str(err.value)
    assert "action_key='actions'" in msg and "did you mean 'action'" in msg and "observation.state" in msg
    with pytest.raises(DataError) as err:
        LeRobotActionDataset(FIXTURE, camera="top", **kw)
    assert "camera='top'" in str(err.value) and ", ".join(CAMERAS) in str(err.value)


def test_episodes_shorter_than_a_window_are_skipped_and_counted():
    ds = LeRobotActionDataset(FIXTURE, camera="wrist", num_frames=21, video_size=(48, 64), normalization="none",
                              t5_embedding_dim=8, max_text_tokens=4, progress=False)
    assert ds.num_short_episodes == 1 and [e["index"] for e in ds.episodes] == [1, 2]
    assert len(ds) == (25 - 20) + (30 - 20)
    assert {ds.sample_key(i) for i in range(len(ds))} == {"episode_000001", "episode_000002"}
