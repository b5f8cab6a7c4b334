"""Up-front checks of a whole dataset folder (used by ``scripts/validate_dataset.py``).

Every annotation is parsed (its unread ``action`` field too), every video opened and its length compared with
what the annotation / window needs (every frame decoded with ``full_decode``, else packets counted as the
training scan does), and every embedding loaded and compared with the others. The per-file checks are those of
:mod:`cosmos_predict2.data.checks`, shared with the training scan.
"""

from __future__ import annotations

import glob
import os

import numpy as np
from dataclasses import dataclass, field
from typing import Callable

from cosmos_predict2.data.bridge import MODES, bridge_video_path
from cosmos_predict2.data.bridge_annotation import action_field_problem, parse_bridge_annotation
from cosmos_predict2.data.checks import check_caption, check_embedding, check_video
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.video_text import match_video_text_files


@dataclass
class Report:
    """What was checked and every problem found (path, message)."""

    layout: str
    checked: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def add(self, err: DataError) -> None:
        self.problems.append((err.path or "", str(err)))

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"layout: {self.layout}; checked: " + ", ".join(f"{v} {k}" for k, v in self.checked.items())]
        lines += [f"note: {n}" for n in self.notes]
        if self.ok:
            lines.append("OK: no problems found")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {msg}" for _, msg in self.problems]
        return "\n".join(lines)


def detect_layout(dataset_dir: str) -> str:
    if os.path.isfile(os.path.join(dataset_dir, "meta", "info.json")):
        return "lerobot"
    if os.path.isdir(os.path.join(dataset_dir, "annotation")) or os.path.isdir(os.path.join(dataset_dir, "annotations")):
        return "bridge"
    if os.path.isdir(os.path.join(dataset_dir, "videos")):
        return "video_text"
    raise DataError(dataset_dir, "cannot tell the layout: no meta/info.json, annotation/, annotations/ or videos/ "
                                 "folder")


def _bridge_files(dataset_dir: str) -> tuple[list[str], str]:
    files = []
    for m in MODES:
        files += sorted(glob.glob(os.path.join(dataset_dir, "annotation", m, "*.json")))
    if files:
        return files, "irasim"
    files = sorted(glob.glob(os.path.join(dataset_dir, "annotations", "*.json")))
    return files, "flat"


def validate_bridge(dataset_dir: str, num_frames: int | None = None, sequence_interval: int = 1,
                    t5_embedding_dim: int | None = None, wrap: Callable = lambda it, **kw: it,
                    full_decode: bool = True) -> Report:
    rep = Report("bridge")
    if not os.path.isdir(dataset_dir):
        rep.add(DataError(dataset_dir, "dataset folder does not exist"))
        return rep
    files, layout = _bridge_files(dataset_dir)
    rep.layout = f"bridge ({layout})"
    if not files:
        rep.add(DataError(dataset_dir, "no annotation JSON files under annotation/{train,val,test}/ or annotations/"))
        return rep
    n_videos = n_emb = 0
    emb_dims: dict[int, str] = {}
    for path in wrap(files, desc="annotations", unit="file"):
        try:
            p = parse_bridge_annotation(path)
        except DataError as e:
            rep.add(e)
            continue
        action = action_field_problem(path, p["ann"], len(p["state"]))  # unread by training, still reported
        if action is not None:
            rep.add(action)
        n = len(p["state"])
        if num_frames is not None and n < (num_frames - 1) * sequence_interval + 1:
            rep.add(DataError(path, f"episode has {n} frames, shorter than one window of {num_frames} frames"))
        for cam in range(len(p["ann"]["videos"])):
            try:
                check_video(bridge_video_path(dataset_dir, path, p["ann"], cam, layout), n, full_decode, path)
                n_videos += 1
            except DataError as e:
                rep.add(e)
        stem = os.path.splitext(path)[0]
        for cand in (stem + ".pickle", stem + ".npy"):
            if os.path.isfile(cand):
                try:
                    emb_dims.setdefault(check_embedding(cand, t5_embedding_dim, 512)[1], cand)
                    n_emb += 1
                except DataError as e:
                    rep.add(e)
    if len(emb_dims) > 1:
        rep.add(DataError(dataset_dir, f"embeddings disagree on their dim: {sorted(emb_dims.items())}"))
    rep.checked = {"annotations": len(files), "videos": n_videos, "embeddings": n_emb}
    return rep


def validate_video_text(dataset_dir: str, num_frames: int | None = None, t5_embedding_dim: int | None = None,
                        wrap: Callable = lambda it, **kw: it, full_decode: bool = True) -> Report:
    rep = Report("video_text")
    try:
        need = os.path.isdir(os.path.join(dataset_dir, "t5_xxl"))
        entries, problems = match_video_text_files(dataset_dir, need_embeddings=need)
    except DataError as e:
        rep.add(e)
        return rep
    for p in problems:
        rep.add(p)
    if not need:
        rep.notes.append(f"{dataset_dir}: no t5_xxl/ folder, embeddings not checked "
                         "(compute them with scripts/get_t5_embeddings.py)")
    emb_dims: dict[int, str] = {}
    for e in wrap(entries, desc="videos", unit="video"):
        try:
            check_video(e["video"], num_frames or 1, full_decode)
        except DataError as err:
            rep.add(err)
        try:
            check_caption(e["meta"])
        except DataError as err:
            rep.add(err)
        if e["t5"]:
            try:
                emb_dims.setdefault(check_embedding(e["t5"], t5_embedding_dim, 512)[1], e["t5"])
            except DataError as err:
                rep.add(err)
    if len(emb_dims) > 1:
        rep.add(DataError(dataset_dir, f"embeddings disagree on their dim: {sorted(emb_dims.items())}"))
    rep.checked = {"videos": len(entries), "embeddings": sum(1 for e in entries if e["t5"])}
    return rep


def validate_lerobot(dataset_dir: str, num_frames: int | None = None, sequence_interval: int = 1,
                     wrap: Callable = lambda it, **kw: it, full_decode: bool = True) -> Report:
    """A LeRobot (v2.1 / v3.0) folder: metadata, every episode's rows (count = its length, timestamps at
    frame_index / fps), every camera's mp4 with the frames its episodes need and, with ``full_decode``, each
    episode's first and last frame found at their timestamps (every frame of each mp4 decoded)."""
    from cosmos_predict2.data.lerobot_meta import LeRobotMeta
    from cosmos_predict2.data.video_io import read_frames_at_times

    rep = Report("lerobot")
    try:
        meta = LeRobotMeta(dataset_dir)
    except DataError as e:
        rep.add(e)
        return rep
    rep.layout = f"lerobot ({meta.version}, {len(meta.cameras)} cameras, {meta.fps:g} fps)"
    span = (num_frames - 1) * sequence_interval + 1 if num_frames else 1
    for ep in wrap(meta.episodes, desc="episodes", unit="ep"):
        try:
            table = meta.read_table(ep, [])
        except DataError as e:
            rep.add(e)
            continue
        expected = table["frame_index"] / meta.fps
        if np.abs(table["timestamp"] - expected).max(initial=0.0) > 1e-3:
            rep.add(DataError(ep.data_file, f"episode {ep.index}: timestamps are not frame_index / fps"))
        if ep.length < span:
            rep.add(DataError(ep.data_file, f"episode {ep.index} has {ep.length} frames, shorter than one window of "
                                            f"{num_frames} frames (training skips it)"))
        for cam, (path, start) in ep.videos.items():
            if full_decode:
                try:
                    read_frames_at_times(path, [start + float(table["timestamp"][i]) for i in (0, ep.length - 1)])
                except DataError as e:
                    rep.add(DataError(e.path, f"episode {ep.index} ({cam}): {e.problem}", e.fix))
    need = meta.video_frames_needed(meta.episodes, meta.cameras)
    for path, n in sorted(need.items()):
        try:
            check_video(path, n, full_decode, meta.info_path)
        except DataError as e:
            rep.add(e)
    rep.checked = {"episodes": len(meta.episodes), "videos": len(need)}
    return rep
