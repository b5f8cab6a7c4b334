"""Write a LeRobot v3.0 dataset (the files the ``lerobot`` package's own writer produces and reads).

    w = LeRobotWriter(root, fps=10, features={
        "observation.images.image_0": {"dtype": "video", "shape": [H, W, 3]},
        "observation.state": {"dtype": "float32", "shape": [7], "names": ["x", ...]},
        "action": {"dtype": "float32", "shape": [10]}})
    w.add_episode({"observation.images.image_0": frames_T_H_W_3}, {"observation.state": s_T_7, "action": a_T_10},
                  task="push the red block")
    w.finalize({"train": "0:40", "val": "40:45"})

Layout (``chunks_size`` 1000; every episode goes into file 0 of chunk 0):

- ``data/chunk-000/file-000.parquet``: one row per frame, one row group per episode; 1-D features of width
  D > 1 as ``fixed_size_list<D>``, width 1 as scalars, then ``timestamp`` (float32, frame_index / fps),
  ``frame_index``, ``episode_index``, ``index`` (over the dataset), ``task_index`` (int64);
- ``videos/<camera>/chunk-000/file-000.mp4``: per camera one mp4 with every episode one after another
  (``vcodec`` yuv420p; frame ``i`` of the file at exactly ``i / fps`` s, so episode ``e`` starts at
  ``from_timestamp`` = frames before it / fps);
- ``meta/episodes/chunk-000/file-000.parquet``: per episode its tasks, length, data and video file indices,
  ``dataset_from_index`` / ``dataset_to_index``, per camera ``from_timestamp`` / ``to_timestamp`` and
  ``stats/<feature>/{min,max,mean,std,count,q01,q10,q50,q90,q99}``;
- ``meta/tasks.parquet`` (``task_index`` with the task strings as the pandas index, as ``lerobot`` reads it),
  ``meta/stats.json`` (the same statistics over the whole dataset), ``meta/info.json``.

Statistics are exact (numpy's linear quantiles); video statistics are per channel over every pixel of every
frame, scaled to [0, 1] (shape (3, 1, 1)). Files are written into ``<root>.tmp`` and renamed to ``root`` by
:meth:`LeRobotWriter.finalize` (:mod:`cosmos_predict2.data.output_dir`); an existing non-empty ``root`` is
refused. Bad input is a one-line :class:`~cosmos_predict2.data.errors.DataError`.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from typing import Any, Mapping, Optional

import numpy as np

from cosmos_predict2.data.action_norm import feature_statistics
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.output_dir import begin_output, commit_output, discard_output

__all__ = ["LeRobotWriter", "CODEBASE_VERSION"]

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
NUMERIC_DTYPES = ("float32", "float64", "int64")
FRAME_FEATURES = {"timestamp": "float32", "frame_index": "int64", "episode_index": "int64", "index": "int64",
                  "task_index": "int64"}
QUANTILES = (1, 10, 50, 90, 99)
VIDEO_NAMES = ["height", "width", "channels"]


def _histogram_stats(hist_3_256: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """Per-channel statistics of uint8 pixels from their (3, 256) histograms, scaled to [0, 1], shape (3, 1, 1)."""
    h = np.asarray(hist_3_256, dtype=np.float64)
    v = np.arange(256, dtype=np.float64)
    n = h.sum(1)
    cum = np.cumsum(h, 1)
    mean = (h * v).sum(1) / n
    out = {"min": np.array([v[c.nonzero()[0][0]] for c in h]), "max": np.array([v[c.nonzero()[0][-1]] for c in h]),
           "mean": mean, "std": np.sqrt((h * (v - mean[:, None]) ** 2).sum(1) / n)}
    for q in QUANTILES:
        pos = q / 100 * (n - 1)  # numpy's linear rule on the sorted pixels
        lo = np.array([np.searchsorted(c, k, side="right") for c, k in zip(cum, np.floor(pos))], dtype=np.float64)
        hi = np.array([np.searchsorted(c, k, side="right") for c, k in zip(cum, np.ceil(pos))], dtype=np.float64)
        out[f"q{q:02d}"] = lo + (hi - lo) * (pos - np.floor(pos))
    out = {k: (x / 255.0).reshape(3, 1, 1) for k, x in out.items()}
    return {**{k: out.pop(k) for k in ("min", "max", "mean", "std")}, "count": np.array([frames]), **out}


def _pixel_histogram(frames_T_H_W_3: np.ndarray) -> np.ndarray:
    px = frames_T_H_W_3.reshape(-1, 3)
    return np.stack([np.bincount(px[:, c], minlength=256) for c in range(3)]).astype(np.int64)


def _check_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    out = {}
    for key, spec in dict(features).items():
        if key in FRAME_FEATURES:
            raise DataError(None, f"feature {key!r} is written by the LeRobot writer itself", "drop it from features")
        dtype = str(spec.get("dtype"))
        shape = [int(s) for s in (spec.get("shape") or [1])]
        if dtype == "video":
            if len(shape) != 3 or shape[2] != 3:
                raise DataError(None, f"video feature {key!r} has shape {shape}", "use [height, width, 3]")
            if shape[0] % 2 or shape[1] % 2:
                raise DataError(None, f"video feature {key!r} is {shape[0]}x{shape[1]}; yuv420p video needs an even "
                                      "height and width", "crop or resize the frames by one pixel")
            out[key] = {"dtype": "video", "shape": shape, "names": list(spec.get("names") or VIDEO_NAMES)}
        elif dtype in NUMERIC_DTYPES:
            if len(shape) != 1:
                raise DataError(None, f"feature {key!r} has shape {shape}; only 1-D numeric features are written",
                                "flatten it to [D]")
            names = spec.get("names")
            out[key] = {"dtype": dtype, "shape": shape, "names": list(names) if names is not None else None}
        else:
            raise DataError(None, f"feature {key!r} has dtype {dtype!r}",
                            f"use 'video' or one of {', '.join(NUMERIC_DTYPES)}")
    return out


class LeRobotWriter:
    """Episodes in, a LeRobot v3.0 dataset out (module doc). ``features``: feature key -> ``{"dtype": "video" |
    "float32" | "float64" | "int64", "shape": [H, W, 3] | [D], "names": optional}``; ``fps`` a whole number
    (LeRobot's rule). Video: ``vcodec`` (any encoder in ``av.codecs_available``, e.g. ``libx264`` or
    ``libsvtav1``), ``crf`` its quality, ``gop`` the keyframe interval (short: cheap random access)."""

    def __init__(self, root: str, fps: float, features: Mapping[str, Mapping[str, Any]],
                 robot_type: Optional[str] = None, vcodec: str = "libx264", crf: int = 18, gop: int = 2):
        if not float(fps) > 0 or float(fps) != int(fps):
            raise DataError(None, f"fps={fps}: a LeRobot dataset has a whole, positive number of frames per second",
                            "pass a whole number (the frames are kept; only their timestamps follow it)")
        import av

        if vcodec not in av.codecs_available:
            raise DataError(None, f"video encoder {vcodec!r} is not in this PyAV build", "use libx264")
        self.root, self.fps, self.robot_type = os.path.normpath(str(root)), int(fps), robot_type
        self.features = _check_features(features)
        self.cameras = [k for k, v in self.features.items() if v["dtype"] == "video"]
        self.columns = [k for k, v in self.features.items() if v["dtype"] != "video"]
        self.video_options = {"crf": str(int(crf)), "g": str(int(gop))}
        self.vcodec = vcodec
        self._encoders: dict[str, tuple[Any, Any]] = {}
        self._parquet = None
        self._episodes: list[dict] = []
        self._tasks: dict[str, int] = {}
        self._hist = {cam: np.zeros((3, 256), np.int64) for cam in self.cameras}
        self._frames = 0
        self.tmp: Optional[str] = begin_output(self.root)

    # -- episodes ----------------------------------------------------------------------------------------------
    def add_episode(self, frames: Mapping[str, np.ndarray], columns: Mapping[str, np.ndarray], task: str = "") -> int:
        """Append one episode: ``frames`` camera -> uint8 (T, H, W, 3), ``columns`` feature -> (T, D) (or (T,));
        returns its episode index."""
        if self.tmp is None:
            raise RuntimeError("the LeRobot writer is finalised or aborted")
        ep = len(self._episodes)
        for what, given, want in (("cameras", frames, self.cameras), ("columns", columns, self.columns)):
            if set(given) != set(want):
                raise DataError(None, f"episode {ep}: {what} {sorted(given)} given, the features are {want}",
                                "pass exactly the features the writer was made with")
        arrays = {k: np.asarray(v) for k, v in frames.items()}
        for key in self.columns:
            spec = self.features[key]
            arr = np.asarray(columns[key]).astype(spec["dtype"], copy=False)
            arrays[key] = arr.reshape(len(arr), -1) if arr.ndim else arr
        lengths = {k: len(v) if v.ndim else 0 for k, v in arrays.items()}
        length = next(iter(lengths.values()), 0)
        if length < 1 or len(set(lengths.values())) != 1:
            raise DataError(None, f"episode {ep}: frame counts differ or are 0 ({lengths})",
                            "give every camera and column the same number T >= 1 of frames")
        for key, arr in arrays.items():
            spec = self.features[key]
            want = tuple(spec["shape"]) if spec["dtype"] == "video" else (spec["shape"][0],)
            if arr.shape[1:] != want or (spec["dtype"] == "video" and arr.dtype != np.uint8):
                raise DataError(None, f"episode {ep}: {key} is {arr.dtype} {arr.shape[1:]} per frame, the feature is "
                                      f"{'uint8 ' if spec['dtype'] == 'video' else ''}{list(want)}",
                                "match the feature's shape (and uint8 frames)")
        task_index = self._tasks.setdefault(str(task), len(self._tasks))
        start = self._frames
        frame_cols = {"timestamp": (np.arange(length) / self.fps).astype(np.float32),
                      "frame_index": np.arange(length, dtype=np.int64),
                      "episode_index": np.full(length, ep, np.int64),
                      "index": np.arange(start, start + length, dtype=np.int64),
                      "task_index": np.full(length, task_index, np.int64)}
        self._write_rows({**{k: arrays[k] for k in self.columns}, **frame_cols})
        row = {"episode_index": ep, "tasks": [str(task)], "length": length, "data/chunk_index": 0,
               "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + length}
        for cam in self.cameras:
            self._encode(cam, arrays[cam], start)
            row.update({f"videos/{cam}/chunk_index": 0, f"videos/{cam}/file_index": 0,
                        f"videos/{cam}/from_timestamp": start / self.fps,
                        f"videos/{cam}/to_timestamp": (start + length) / self.fps})
        for key in list(self.features) + list(FRAME_FEATURES):
            if key in self._hist:
                hist = _pixel_histogram(arrays[key])
                self._hist[key] += hist
                stats = _histogram_stats(hist, length)
            else:
                values = arrays[key] if key in arrays else frame_cols[key]
                stats = feature_statistics(values.reshape(length, -1), QUANTILES)
            row.update({f"stats/{key}/{name}": v.tolist() for name, v in stats.items()})
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        self._episodes.append(row)
        self._frames += length
        return ep

    def _write_rows(self, cols: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays, hf = {}, {}
        for key, x in cols.items():
            dtype = self.features[key]["dtype"] if key in self.features else FRAME_FEATURES[key]
            if x.ndim == 2 and x.shape[1] > 1:
                arrays[key] = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), type=pa.from_numpy_dtype(
                    np.dtype(dtype))), x.shape[1])
                hf[key] = {"feature": {"dtype": dtype, "_type": "Value"}, "length": int(x.shape[1]), "_type": "List"}
            else:
                arrays[key] = pa.array(x.reshape(-1), type=pa.from_numpy_dtype(np.dtype(dtype)))
                hf[key] = {"dtype": dtype, "_type": "Value"}
        table = pa.table(arrays)
        if self._parquet is None:
            schema = table.schema.with_metadata({"huggingface": json.dumps({"info": {"features": hf}})})
            path = os.path.join(self.tmp, DATA_PATH.format(chunk_index=0, file_index=0))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._parquet = pq.ParquetWriter(path, schema, compression="snappy")
        self._parquet.write_table(table.replace_schema_metadata(self._parquet.schema.metadata))

    def _encode(self, cam: str, frames_T_H_W_3: np.ndarray, start: int) -> None:
        import av

        if cam not in self._encoders:
            path = os.path.join(self.tmp, VIDEO_PATH.format(video_key=cam, chunk_index=0, file_index=0))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            container = av.open(path, "w")
            stream = container.add_stream(self.vcodec, rate=self.fps, options=self.video_options)
            h, w = self.features[cam]["shape"][:2]
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.time_base = stream.codec_context.time_base = Fraction(1, self.fps)
            self._encoders[cam] = (container, stream)
        container, stream = self._encoders[cam]
        for i, img in enumerate(frames_T_H_W_3):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame = frame.reformat(format="yuv420p", interpolation="AREA")  # box-filtered chroma: the least loss
            frame.pts, frame.time_base = start + i, Fraction(1, self.fps)
            for packet in stream.encode(frame):
                container.mux(packet)

    # -- finishing ---------------------------------------------------------------------------------------------
    def _close_files(self) -> None:
        for container, stream in self._encoders.values():
            for packet in stream.encode():
                container.mux(packet)
            container.close()
        self._encoders = {}
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def abort(self) -> None:
        """Drop everything written so far (``root`` is left untouched)."""
        if self.tmp is None:
            return
        try:
            for container, _ in self._encoders.values():
                container.close()
            if self._parquet is not None:
                self._parquet.close()
        finally:
            self._encoders, self._parquet = {}, None
            discard_output(self.tmp)
            self.tmp = None

    def finalize(self, splits: Optional[Mapping[str, str]] = None) -> str:
        """Write the metadata and move the dataset to ``root``; ``splits``: name -> ``"a:b"`` episode range
        (default: all episodes are ``train``). Returns ``root``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.tmp is None:
            raise RuntimeError("the LeRobot writer is finalised or aborted")
        n = len(self._episodes)
        if not n:
            raise DataError(self.root, "no episodes were added", "add at least one episode")
        splits = dict(splits) if splits is not None else {"train": f"0:{n}"}
        for name, rng in splits.items():
            a, _, b = str(rng).partition(":")
            if not (a.isdigit() and b.isdigit() and 0 <= int(a) <= int(b) <= n):
                raise DataError(self.root, f"split {name!r} = {rng!r} is not an episode range 'a:b' inside 0:{n}")
        self._close_files()
        tmp = self.tmp
        os.makedirs(os.path.join(tmp, "meta", "episodes", "chunk-000"), exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._episodes), os.path.join(tmp, EPISODES_PATH))
        self._write_tasks(os.path.join(tmp, "meta", "tasks.parquet"))
        with open(os.path.join(tmp, "meta", "stats.json"), "w") as f:
            json.dump(self._dataset_stats(), f, indent=4)
        with open(os.path.join(tmp, "meta", "info.json"), "w") as f:
            json.dump(self._info(splits), f, indent=4)
        commit_output(tmp, self.root)
        self.tmp = None
        return self.root

    def _write_tasks(self, path: str) -> None:
        """Task strings as the pandas index (``__index_level_0__``) and ``task_index``, as pandas writes them."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tasks = sorted(self._tasks, key=self._tasks.get)
        pandas_meta = {"index_columns": ["__index_level_0__"],
                       "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                                           "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
                       "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                                    "numpy_type": "int64", "metadata": None},
                                   {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode",
                                    "numpy_type": "object", "metadata": None}],
                       "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__}}
        table = pa.table({"task_index": pa.array([self._tasks[t] for t in tasks], pa.int64()),
                          "__index_level_0__": pa.array(tasks, pa.large_string())})
        pq.write_table(table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)}), path)

    def _dataset_stats(self) -> dict[str, dict[str, list]]:
        """Statistics over every frame: numeric features read back from the data file, video from histograms."""
        import pyarrow.parquet as pq

        path = os.path.join(self.tmp, DATA_PATH.format(chunk_index=0, file_index=0))
        out = {}
        for key in list(self.features) + list(FRAME_FEATURES):
            if key in self._hist:
                stats = _histogram_stats(self._hist[key], self._frames)
            else:
                col = pq.read_table(path, columns=[key]).column(key).combine_chunks()
                values = (col.flatten() if col.type.num_fields else col).to_numpy()
                stats = feature_statistics(values.reshape(self._frames, -1), QUANTILES)
            out[key] = {name: v.tolist() for name, v in stats.items()}
        return out

    def _video_info(self, cam: str) -> dict[str, Any]:
        import av

        path = os.path.join(self.tmp, VIDEO_PATH.format(video_key=cam, chunk_index=0, file_index=0))
        with av.open(path) as container:
            s = container.streams.video[0]
            return {"video.height": s.height, "video.width": s.width, "video.codec": s.codec.canonical_name,
                    "video.pix_fmt": s.pix_fmt, "video.is_depth_map": False, "video.fps": self.fps,
                    "video.channels": 3, "has_audio": bool(container.streams.audio)}

    def _info(self, splits: dict[str, str]) -> dict[str, Any]:
        features = {}
        for key, spec in self.features.items():
            features[key] = dict(spec)
            if spec["dtype"] == "video":
                features[key]["info"] = self._video_info(key)
        for key, dtype in FRAME_FEATURES.items():
            features[key] = {"dtype": dtype, "shape": [1], "names": None}
        return {"codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
                "total_episodes": len(self._episodes), "total_frames": self._frames, "total_tasks": len(self._tasks),
                "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
                "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "fps": self.fps, "splits": splits,
                "data_path": DATA_PATH, "video_path": VIDEO_PATH if self.cameras else None, "features": features}

    def __enter__(self) -> "LeRobotWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()  # after finalize() there is nothing left to drop
