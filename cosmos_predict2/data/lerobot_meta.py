"""A local LeRobot dataset's metadata and per-episode frame tables (format versions v2.1 and v3.0).

Read from the documented files with pyarrow (the ``lerobot`` package is not needed):

- ``meta/info.json``: ``codebase_version``, ``fps``, ``features`` (name -> dtype / shape), ``splits``
  (name -> ``"a:b"`` episode range), ``data_path`` / ``video_path`` templates, ``chunks_size``;
- v3.0: ``meta/episodes/chunk-*/file-*.parquet`` (one row per episode: ``length``, ``tasks``, the data file
  ``data/chunk_index`` + ``data/file_index``, per camera ``videos/<key>/chunk_index``, ``file_index``,
  ``from_timestamp``), several episodes per data parquet and per mp4;
- v2.1: ``meta/episodes.jsonl`` (``episode_index``, ``tasks``, ``length``), one parquet and one mp4 per episode in
  chunk ``episode_index // chunks_size``; frame times start at 0 in each mp4.

A frame of episode ``e`` shown by camera ``k`` is at ``from_timestamp(e, k) + timestamp`` seconds in its mp4
(``from_timestamp`` is 0 in v2.1). Every problem is a :class:`~cosmos_predict2.data.errors.DataError` naming
the file and the fix (a missing feature lists the dataset's features, a missing camera lists its cameras).
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import json
import os
from typing import Any, Optional, Sequence

import numpy as np

from cosmos_predict2.data.errors import DataError

__all__ = ["LeRobotMeta", "LeRobotEpisode", "is_lerobot_dataset", "parse_episode_selection", "SUPPORTED_VERSIONS"]

SUPPORTED_VERSIONS = ("v2.1", "v3.0")
CAMERA_PREFIX = "observation.images."


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - pyarrow is a dependency
        raise DataError(None, "reading LeRobot datasets needs pyarrow", "pip install pyarrow") from err
    return pq


def is_lerobot_dataset(root: str) -> bool:
    """Whether ``root`` holds a LeRobot dataset (``meta/info.json``)."""
    return os.path.isfile(os.path.join(str(root), "meta", "info.json"))


@dataclasses.dataclass(frozen=True)
class LeRobotEpisode:
    """One episode: its index, frame count, tasks, data file and, per camera, (mp4 path, from_timestamp)."""

    index: int
    length: int
    tasks: tuple[str, ...]
    data_file: str
    videos: dict  # camera feature key -> (mp4 path, from_timestamp seconds)


def parse_episode_selection(spec: Any, available: Sequence[int], where: str) -> list[int]:
    """Episode indices from ``None`` (all), ``"a:b"`` (range, either end open), ``"3,5,9"`` or a list of ints;
    each must exist in ``available``."""
    avail = sorted(int(i) for i in available)
    if spec is None or spec == "" or spec == "all":
        return avail
    if isinstance(spec, str) and ":" in spec:
        lo, _, hi = spec.partition(":")
        try:
            a = int(lo) if lo.strip() else avail[0]
            b = int(hi) if hi.strip() else avail[-1] + 1
        except ValueError as err:
            raise DataError(where, f"episodes={spec!r} is not a range 'a:b'", "e.g. episodes='0:40'") from err
        chosen = [i for i in avail if a <= i < b]
    else:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        try:
            chosen = [int(i) for i in items]
        except (TypeError, ValueError) as err:
            raise DataError(where, f"episodes={spec!r} is not a list of episode indices", "e.g. episodes=[0,1,2] "
                                   "or episodes='0:40'") from err
        missing = sorted(set(chosen) - set(avail))
        if missing:
            raise DataError(where, f"episodes {missing[:5]} do not exist (the dataset has episodes "
                                   f"{avail[0]}..{avail[-1]}, {len(avail)} in all)", "pick existing indices")
    if not chosen:
        raise DataError(where, f"episodes={spec!r} selects none of the {len(avail)} episodes "
                               f"({avail[0]}..{avail[-1]})", "widen the range")
    return chosen


class LeRobotMeta:
    """The metadata of the LeRobot dataset at ``root`` (see the module doc)."""

    def __init__(self, root: str):
        self.root = str(root)
        info_path = os.path.join(self.root, "meta", "info.json")
        if not os.path.isdir(self.root):
            raise DataError(self.root, "LeRobot dataset folder does not exist",
                            "point the dataset's root at the folder that holds meta/info.json")
        if not os.path.isfile(info_path):
            raise DataError(self.root, "not a LeRobot dataset (no meta/info.json)",
                            "point root at the folder that holds meta/info.json, or convert Bridge data with "
                            "`python -m scripts.convert_dataset --to lerobot SRC DST`")
        try:
            with open(info_path) as f:
                self.info = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(info_path, f"cannot read ({err})") from err
        self.info_path = info_path
        self.version = str(self.info.get("codebase_version", ""))
        if self.version not in SUPPORTED_VERSIONS:
            raise DataError(info_path, f"codebase_version {self.version!r} is not supported (supported: "
                                       f"{', '.join(SUPPORTED_VERSIONS)})",
                            "convert the dataset with lerobot's own converter to v3.0")
        self.fps = float(self.info["fps"])
        self.features: dict = dict(self.info.get("features", {}))
        self.cameras = [k for k, v in self.features.items() if v.get("dtype") == "video"]
        self.episodes = self._read_episodes()
        self.by_index = {ep.index: ep for ep in self.episodes}
        self._tasks: Optional[dict[int, str]] = None

    # -- features ---------------------------------------------------------------------------------------------
    def feature_key(self, name: str, what: str) -> str:
        """``name`` checked against the features (``what`` is the config key named in the error)."""
        if name in self.features:
            return name
        close = difflib.get_close_matches(name, list(self.features), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(self.info_path, f"{what}={name!r} is not a feature of this dataset; {hint}its features: "
                                        f"{', '.join(self.features)}", f"set {what} to one of them")

    def camera_key(self, camera: str, what: str = "camera") -> str:
        """A camera named ``front`` or ``observation.images.front``, as its feature key."""
        for cand in (camera, CAMERA_PREFIX + str(camera)):
            if cand in self.cameras:
                return cand
        raise DataError(self.info_path, f"{what}={camera!r} is not a camera of this dataset; its cameras: "
                                        f"{', '.join(self.cameras) or '(none)'}", f"set {what} to one of them")

    def feature_width(self, key: str) -> int:
        """Width of a 1-D numeric feature (``shape`` [D])."""
        shape = self.features[key].get("shape") or [1]
        return int(np.prod(shape))

    def split_episodes(self, split: str) -> str:
        """The ``"a:b"`` episode range of a split in ``info.json``."""
        splits = self.info.get("splits") or {}
        if split not in splits:
            raise DataError(self.info_path, f"split {split!r} is not in info.json splits ({', '.join(splits) or 'none'})",
                            "pick one of them or select episodes explicitly (episodes='a:b')")
        return str(splits[split])

    def task(self, task_index: int) -> str:
        if self._tasks is None:
            self._tasks = self._read_tasks()
        return self._tasks.get(int(task_index), "")

    # -- files --------------------------------------------------------------------------------------------------
    def _template(self, key: str, default: str) -> str:
        return str(self.info.get(key) or default)

    def _read_episodes(self) -> list[LeRobotEpisode]:
        return self._episodes_v3() if self.version == "v3.0" else self._episodes_v21()

    def _episodes_v3(self) -> list[LeRobotEpisode]:
        pq = _pyarrow_parquet()
        files = sorted(glob.glob(os.path.join(self.root, "meta", "episodes", "*", "*.parquet")))
        if not files:
            raise DataError(os.path.join(self.root, "meta", "episodes"), "no episode metadata parquet files",
                            "the dataset is incomplete (a v3.0 dataset is finalised by the writer)")
        data_tpl = self._template("data_path", "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet")
        video_tpl = self._template("video_path", "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
        out = []
        for path in files:
            try:
                rows = pq.read_table(path, columns=None).to_pylist()
            except Exception as err:  # noqa: BLE001 - pyarrow raises several classes
                raise DataError(path, f"cannot read episode metadata ({type(err).__name__}: {err})") from err
            for r in rows:
                try:
                    data = os.path.join(self.root, data_tpl.format(chunk_index=int(r["data/chunk_index"]),
                                                                   file_index=int(r["data/file_index"])))
                    videos = {}
                    for cam in self.cameras:
                        p = f"videos/{cam}/"
                        videos[cam] = (os.path.join(self.root, video_tpl.format(
                            video_key=cam, chunk_index=int(r[p + "chunk_index"]), file_index=int(r[p + "file_index"]))),
                            float(r[p + "from_timestamp"]))
                    out.append(LeRobotEpisode(int(r["episode_index"]), int(r["length"]), tuple(r.get("tasks") or ()),
                                              data, videos))
                except KeyError as err:
                    raise DataError(path, f"episode row lacks column {err}", "the dataset is not a complete v3.0 "
                                          "dataset") from err
        return sorted(out, key=lambda e: e.index)

    def _episodes_v21(self) -> list[LeRobotEpisode]:
        path = os.path.join(self.root, "meta", "episodes.jsonl")
        if not os.path.isfile(path):
            raise DataError(path, "episode metadata file does not exist", "the dataset is incomplete")
        chunk = int(self.info.get("chunks_size", 1000))
        data_tpl = self._template("data_path", "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet")
        video_tpl = self._template("video_path",
                                   "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4")
        out = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    idx = int(r["episode_index"])
                    length = int(r["length"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                    raise DataError(path, f"line {n} is not an episode record ({err})") from err
                kw = dict(episode_chunk=idx // chunk, episode_index=idx)
                videos = {cam: (os.path.join(self.root, video_tpl.format(video_key=cam, **kw)), 0.0)
                          for cam in self.cameras}
                out.append(LeRobotEpisode(idx, length, tuple(r.get("tasks") or ()),
                                          os.path.join(self.root, data_tpl.format(**kw)), videos))
        return sorted(out, key=lambda e: e.index)

    def _read_tasks(self) -> dict[int, str]:
        v3 = os.path.join(self.root, "meta", "tasks.parquet")
        v21 = os.path.join(self.root, "meta", "tasks.jsonl")
        if os.path.isfile(v3):
            table = _pyarrow_parquet().read_table(v3).to_pylist()
            text_col = next((k for k in ("task", "__index_level_0__") if table and k in table[0]), None)
            return {int(r["task_index"]): str(r.get(text_col, "")) for r in table} if text_col else {}
        if os.path.isfile(v21):
            with open(v21) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            return {int(r["task_index"]): str(r.get("task", "")) for r in rows}
        return {}

    def episode(self, index: int) -> LeRobotEpisode:
        if int(index) not in self.by_index:
            raise DataError(self.root, f"episode {index} does not exist", "pick an existing episode index")
        return self.by_index[int(index)]

    def video_frames_needed(self, episodes: Sequence[LeRobotEpisode], cameras: Sequence[str]) -> dict[str, int]:
        """``{mp4 path: frames it must hold}`` for ``episodes`` seen by ``cameras`` (from_timestamp x fps + length)."""
        need: dict[str, int] = {}
        for ep in episodes:
            for cam in cameras:
                path, start = ep.videos[cam]
                need[path] = max(need.get(path, 0), int(round(start * self.fps)) + ep.length)
        return need

    def read_table(self, ep: LeRobotEpisode, columns: Sequence[str]) -> dict[str, np.ndarray]:
        """The episode's rows of ``columns`` (+ ``timestamp``, ``frame_index``) sorted by frame_index, as arrays
        (vector features as (N, D) float64). The row count must equal the episode's ``length``."""
        pq = _pyarrow_parquet()
        cols = list(dict.fromkeys(list(columns) + ["timestamp", "frame_index", "episode_index"]))
        if not os.path.isfile(ep.data_file):
            raise DataError(ep.data_file, f"data file of episode {ep.index} does not exist", "the dataset is incomplete")
        try:
            table = pq.read_table(ep.data_file, columns=cols, filters=[("episode_index", "=", ep.index)])
        except Exception as err:  # noqa: BLE001 - pyarrow raises several classes
            raise DataError(ep.data_file, f"cannot read columns {cols} of episode {ep.index} "
                                          f"({type(err).__name__}: {err})") from err
        out = {}
        for c in cols:
            col = table.column(c).to_pylist()
            out[c] = np.asarray(col, dtype=np.float64 if c not in ("frame_index", "episode_index") else np.int64)
        order = np.argsort(out["frame_index"], kind="stable")
        out = {k: v[order] for k, v in out.items()}
        if len(order) != ep.length:
            raise DataError(ep.data_file, f"episode {ep.index} has {len(order)} rows but its metadata says length "
                                          f"{ep.length}", "the dataset is incomplete or inconsistent")
        return out
