"""Bridge (IRASim) action-conditioned video dataset.

Layouts (`dataset_dir` is the folder holding them):
- IRASim: ``annotation/{train,val,test}/<episode>.json`` and the videos named inside each JSON
  (``videos[cam]["video_path"]``, relative to `dataset_dir`, e.g. ``videos/train/0/rgb.mp4``).
  `mode` picks the split folder.
- Flat (as drawn in the upstream docs): ``annotations/*.json`` + ``videos/*.mp4``. There is no split
  in this layout, so **every file is used for every mode** (a warning says so). The video is the one
  named in the JSON when that file exists, otherwise ``videos/<json stem>.mp4``.

Samples are windows ``[f, f+k, ..., f+(L-1)k]`` (k = `sequence_interval`, L = `num_frames`) for every
start f with stride `start_frame_interval` (`val_start_frame_interval` outside training), sorted by
(file, first frame). Episodes, frames and actions are read by :mod:`cosmos_predict2.data.bridge_episode` (the
reader inference and evaluation use too) with the :class:`~cosmos_predict2.data.bridge_episode.EpisodeSettings`
of this dataset's arguments (``self.settings``).

A bad annotation stops the construction (``on_bad_sample="error"``) or drops the episode ("skip"); a video
that fails while training is handled by the trainer (see :class:`~cosmos_predict2.data.skipping.SkippingDataset`).
"""

from __future__ import annotations

import glob
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import torch

from cosmos_predict2.data.bad_samples import DEFAULT_MAX_BAD_SAMPLE_FRACTION
from cosmos_predict2.data.bridge_episode import (EpisodeSettings, bridge_video_path, episode_actions, read_episode,
                                                 read_video_frames, window_frame_ids)
from cosmos_predict2.data.checks import Check, Problem, parse_preflight
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.safe_pickle import load_embedding
from cosmos_predict2.data.scan import scan_error
from cosmos_predict2.data.skipping import SkippingDataset

log = logging.getLogger(__name__)

MODES = ("train", "val", "test")


def find_bridge_annotations(dataset_dir: str, mode: str) -> tuple[list[str], str]:
    """Sorted annotation JSON paths for `mode` and the layout name ("irasim" or "flat")."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not os.path.isdir(dataset_dir):
        raise DataError(dataset_dir, "dataset folder does not exist",
                        "generate one with `python -m scripts.prepare_synthetic_data --layout bridge --out DIR`")
    split_dir = os.path.join(dataset_dir, "annotation", mode)
    flat_dir = os.path.join(dataset_dir, "annotations")
    if os.path.isdir(split_dir):
        files, layout, where = sorted(glob.glob(os.path.join(split_dir, "*.json"))), "irasim", split_dir
    elif os.path.isdir(flat_dir):
        files, layout, where = sorted(glob.glob(os.path.join(flat_dir, "*.json"))), "flat", flat_dir
        log.warning("%s uses the flat annotations/ layout: all %d files are used for mode=%s",
                    dataset_dir, len(files), mode)
    else:
        raise DataError(dataset_dir, f"no annotation/{mode}/ folder (IRASim layout) and no annotations/ folder "
                                     "(flat layout)", "point dataset_dir at the folder that holds them")
    if not files:
        raise DataError(where, "annotation folder holds no *.json files")
    return files, layout


def window_starts(num_states: int, num_frames: int, sequence_interval: int, start_interval: int) -> list[int]:
    """Start frames f of all windows [f, f+k, ..., f+(L-1)k] that fit in `num_states` frames."""
    span = (num_frames - 1) * sequence_interval
    return list(range(0, num_states - span, start_interval))


def _annotation_files(dataset_dir: str, mode: str, ann_dir: str | None) -> tuple[list[str], str]:
    """The annotation JSONs of ``mode``: from an explicit annotation folder (upstream config style) or found
    under ``dataset_dir`` (:func:`find_bridge_annotations`)."""
    if ann_dir:
        files = sorted(glob.glob(os.path.join(ann_dir, "*.json")))
        if not files:
            raise DataError(ann_dir, f"{mode}_annotation_path holds no *.json files")
        return files, "irasim"
    return find_bridge_annotations(dataset_dir, mode)


class BridgeActionDataset(SkippingDataset):
    """Windows of Bridge episodes with 7-d actions computed from the end-effector states.

    Sample keys: video uint8 (C,T,H,W); action float32 (T-1,7) (when `load_action`); t5_text_embeddings
    float32 (512,D); t5_text_mask (512,); fps; image_size [H,W,H,W]; num_frames; padding_mask (1,H,W);
    annotation_file; __key__ (episode_id, else the JSON stem); ai_caption ("").
    ``on_bad_sample`` / ``max_bad_sample_fraction``: see :class:`~cosmos_predict2.data.skipping.SkippingDataset`.
    """

    def __init__(
        self,
        dataset_dir: str | None = None,
        mode: str = "train",
        num_frames: int = 13,
        sequence_interval: int = 1,
        start_frame_interval: int = 1,
        val_start_frame_interval: int = 1,
        cam_ids: Sequence[int] = (0,),
        accumulate_action: bool = False,
        video_size: Sequence[int] = (480, 640),
        load_action: bool = True,
        load_t5_embeddings: bool = False,
        t5_embedding_dim: int = 1024,
        max_text_tokens: int = 512,
        action_scaler: float = 20.0,
        gripper_rescale_factor: float = 1.0,
        state_key: str = "state",
        gripper_key: str = "continuous_gripper_state",
        on_bad_sample: str = "error",
        max_bad_sample_fraction: float = DEFAULT_MAX_BAD_SAMPLE_FRACTION,
        fps: int = 4,
        num_scan_threads: int = 8,
        video_path: str | None = None,
        train_annotation_path: str | None = None,
        val_annotation_path: str | None = None,
        test_annotation_path: str | None = None,
        num_action_per_chunk: int | None = None,
        fps_downsample_ratio: int | None = None,
        preflight: str | bool = "on",
        **unused,
    ):
        super().__init__()
        self._init_skip(on_bad_sample, max_bad_sample_fraction)
        if unused:
            log.info("BridgeActionDataset ignores unknown arguments: %s", sorted(unused))
        # upstream argument names: P1/P2 video_path + <mode>_annotation_path; P2.5 num_action_per_chunk and
        # fps_downsample_ratio (read by EpisodeSettings.from_dataset_args)
        self.settings = EpisodeSettings.from_dataset_args(dict(
            num_frames=num_frames, sequence_interval=sequence_interval, cam_ids=cam_ids, video_size=video_size,
            accumulate_action=accumulate_action, action_scaler=action_scaler,
            gripper_rescale_factor=gripper_rescale_factor, state_key=state_key, gripper_key=gripper_key,
            num_action_per_chunk=num_action_per_chunk, fps_downsample_ratio=fps_downsample_ratio))
        ann_dir = {"train": train_annotation_path, "val": val_annotation_path, "test": test_annotation_path}.get(mode)
        dataset_dir = dataset_dir if dataset_dir is not None else video_path
        if dataset_dir is None:
            raise ValueError("BridgeActionDataset needs dataset_dir (or upstream's video_path)")
        st = self.settings
        self.dataset_dir = str(dataset_dir)
        self.mode = mode
        self.num_frames, self.sequence_interval = st.num_frames, st.sequence_interval
        self.start_interval = int(start_frame_interval if mode == "train" else val_start_frame_interval)
        self.cam_ids = list(st.cam_ids)
        self.accumulate_action = st.accumulate_action
        self.video_size = list(st.video_size)
        self.load_action = load_action
        self.load_t5_embeddings = load_t5_embeddings
        self.t5_embedding_dim = int(t5_embedding_dim)
        self.max_text_tokens = int(max_text_tokens)
        self.action_scaler, self.gripper_rescale_factor = st.action_scaler, st.gripper_rescale_factor
        self.state_key, self.gripper_key = st.state_key, st.gripper_key
        self.fps = fps
        self.preflight = parse_preflight(preflight)  # the up-front file scan at training start (data/scan.py)

        self.ann_files, self.layout = _annotation_files(self.dataset_dir, mode, ann_dir)
        with ThreadPoolExecutor(max(1, num_scan_threads)) as pool:
            results = list(pool.map(self._scan_one, self.ann_files))
        self.episodes: list[dict] = []
        self.samples: list[tuple[int, int]] = []  # (episode index, first frame), sorted by (file, frame)
        bad = [res for res in results if isinstance(res, DataError)]
        if bad and self.on_bad_sample == "error":  # every unusable annotation at once, not one per launch
            raise bad[0] if len(bad) == 1 else scan_error([Problem.from_error(e) for e in bad], len(self.ann_files))
        for path, res in zip(self.ann_files, results):
            if isinstance(res, DataError):
                self.record_skip(res, "annotation")
                continue
            ep_idx = len(self.episodes)
            self.episodes.append(res)
            self.samples.extend((ep_idx, f) for f in res["starts"])
        if not self.samples:
            raise DataError(self.dataset_dir, f"no usable {self.num_frames}-frame windows in mode={mode} "
                                              f"({len(self.ann_files)} annotation files, {self.num_skipped} skipped)")

    @staticmethod
    def check_files(dataset_dir: str | None = None, mode: str = "train", video_path: str | None = None,
                    train_annotation_path: str | None = None, val_annotation_path: str | None = None,
                    test_annotation_path: str | None = None, **unused) -> None:
        """Preflight, in milliseconds (no JSON parsed, no video opened): the annotations of ``mode`` exist.
        Raises :class:`DataError`."""
        ann_dir = {"train": train_annotation_path, "val": val_annotation_path, "test": test_annotation_path}.get(mode)
        _annotation_files(str(dataset_dir if dataset_dir is not None else video_path), mode, ann_dir)

    def scan_checks(self) -> list[Check]:
        """Every file this dataset reads and what it must hold (run by :mod:`cosmos_predict2.data.scan`): each
        annotation; each camera's video with the frames its windows need; each embedding when loaded."""
        span = (self.num_frames - 1) * self.sequence_interval
        full = self.preflight == "full"
        out = [Check.make("bridge_annotation", p, state_key=self.state_key, gripper_key=self.gripper_key)
               for p in self.ann_files]
        for ep in self.episodes:
            for cam in self.cam_ids:
                try:
                    video = bridge_video_path(self.dataset_dir, ep["path"], ep["ann"], int(cam), self.layout)
                except DataError as err:
                    out.append(Check.failed(err))
                    continue
                out.append(Check.make("video", video, ep["path"], min_frames=ep["starts"][-1] + span + 1,
                                      full_decode=full))
            if self.load_t5_embeddings:
                stem = os.path.splitext(ep["path"])[0]
                emb = stem + ".npy" if os.path.isfile(stem + ".npy") and not os.path.isfile(stem + ".pickle") \
                    else stem + ".pickle"
                out.append(Check.make("embedding", emb, ep["path"], dim=self.t5_embedding_dim,
                                      max_tokens=self.max_text_tokens))
        return out

    def _scan_one(self, path: str):
        """Parse + check one annotation; returns the episode record or the DataError (raised later)."""
        try:
            ep = read_episode(path, self.settings)
            n = len(ep["state"])
            starts = window_starts(n, self.num_frames, self.sequence_interval, self.start_interval)
            if not starts:
                raise DataError(path, f"episode has {n} frames, shorter than one window of {self.num_frames} "
                                      f"frames at sequence_interval={self.sequence_interval}",
                                "lower num_frames or drop the episode (on_bad_sample=skip)")
            return {**ep, "starts": starts}
        except DataError as e:
            return e

    def __len__(self) -> int:
        return len(self.samples)

    def sample_key(self, index: int) -> str:
        return self.episodes[self.samples[index][0]]["key"]

    def _embedding(self, ep: dict) -> tuple[torch.Tensor, torch.Tensor]:
        emb = torch.zeros(self.max_text_tokens, self.t5_embedding_dim, dtype=torch.float32)
        if not self.load_t5_embeddings:
            return emb, torch.ones(self.max_text_tokens, dtype=torch.int64)
        stem = os.path.splitext(ep["path"])[0]
        for cand in (stem + ".pickle", stem + ".npy"):
            if os.path.isfile(cand):
                arr = load_embedding(cand, self.t5_embedding_dim, self.max_text_tokens)
                break
        else:
            raise DataError(ep["path"], f"load_t5_embeddings=True but neither {stem}.pickle nor {stem}.npy exists")
        emb[: len(arr)] = torch.from_numpy(arr)
        mask = torch.zeros(self.max_text_tokens, dtype=torch.int64)
        mask[: len(arr)] = 1
        return emb, mask

    def _load(self, index: int) -> dict:
        ep_idx, start = self.samples[index]
        ep = self.episodes[ep_idx]
        cam = self.cam_ids[0]
        if len(self.cam_ids) > 1:  # train: global RNG (seeded per worker); val/test: fixed by the index
            k = len(self.cam_ids)
            cam = self.cam_ids[np.random.randint(k) if self.mode == "train" else np.random.default_rng(index).integers(k)]
        frame_ids = window_frame_ids(start, self.settings)
        video_path = bridge_video_path(self.dataset_dir, ep["path"], ep["ann"], int(cam), self.layout)
        video_C_T_H_W = read_video_frames(video_path, frame_ids, self.video_size)  # (C, T, H, W) uint8
        h, w = self.video_size
        emb, mask = self._embedding(ep)
        sample = {
            "video": video_C_T_H_W,
            "t5_text_embeddings": emb,
            "t5_text_mask": mask,
            "fps": self.fps,
            "image_size": torch.tensor([h, w, h, w], dtype=torch.float32),
            "num_frames": self.num_frames,
            "padding_mask": torch.zeros(1, h, w, dtype=torch.float32),
            "annotation_file": ep["path"],
            "__key__": ep["key"],
            "ai_caption": "",
        }
        if self.load_action:
            sample["action"] = torch.from_numpy(episode_actions(ep, frame_ids, self.settings))  # (T-1, 7) float32
        return sample
