"""LeRobot (v2.1 / v3.0) action-conditioned video dataset: windows of one camera with normalised actions.

Episodes: ``episodes`` (``"a:b"``, ``"3,5"`` or a list), else the ``split`` named in ``info.json`` (default: the
``mode``). Samples are windows ``[f, f+k, ..., f+(L-1)k]`` inside one episode (k = the stride, L = ``num_frames``)
for every start f with stride ``start_frame_interval`` (``val_start_frame_interval`` outside training); an episode
shorter than one window is skipped and counted (``num_short_episodes``, logged). Frames and actions are read by
:mod:`cosmos_predict2.data.lerobot_episode` with ``self.settings``.

Normalisation: ``action_normalization`` (a record of :class:`~cosmos_predict2.data.action_norm.ActionNormalization`)
when given (the launcher fills it from the training episodes' statistics and writes it into the job's
``config.yaml``), else computed here from this selection (cached) with ``normalization`` = mean_std | quantile |
min_max | none.

Sample keys (as the Bridge dataset's): video uint8 (C,T,H,W); action float32 (T-1, D); t5_text_embeddings (zeros,
512 x ``t5_embedding_dim``); t5_text_mask; fps (dataset fps / stride); image_size; num_frames; padding_mask;
annotation_file (the data parquet); __key__ (``episode_<index>``); ai_caption (the episode's task).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence

import torch

from cosmos_predict2.data.action_norm import ActionNormalization
from cosmos_predict2.data.bad_samples import DEFAULT_MAX_BAD_SAMPLE_FRACTION
from cosmos_predict2.data.checks import Check, parse_preflight
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.lerobot_episode import (LeRobotSettings, lerobot_window_actions, read_lerobot_episode,
                                                  read_lerobot_frames)
from cosmos_predict2.data.lerobot_meta import LeRobotMeta, parse_episode_selection
from cosmos_predict2.data.skipping import SkippingDataset

log = logging.getLogger(__name__)

__all__ = ["LeRobotActionDataset", "select_episodes", "resolve_normalization"]


def select_episodes(meta: LeRobotMeta, episodes: Any = None, split: Optional[str] = None, mode: str = "train"
                    ) -> list[int]:
    """Episode indices: ``episodes`` when given, else the ``split`` (default ``mode``) range of info.json."""
    if episodes is not None and episodes != "":
        return parse_episode_selection(episodes, meta.by_index, meta.info_path)
    return parse_episode_selection(meta.split_episodes(split or mode), meta.by_index, meta.info_path)


def resolve_normalization(meta: LeRobotMeta, settings: LeRobotSettings, episodes: Sequence[int], kind: str,
                          record: Optional[Mapping[str, Any]] = None, progress: bool = True) -> ActionNormalization:
    """The given record (checked against the data's action width), else statistics of ``episodes`` (cached)."""
    dim = settings.action_dim(meta)
    if record is not None:
        norm = ActionNormalization.from_dict(record, "action_normalization")
        if norm.dim != dim:
            raise DataError(meta.root, f"action_normalization is for {norm.dim}-d actions but the dataset's "
                                       f"actions ({settings.action_source}) are {dim}-d",
                            "drop action_normalization to recompute it, or read the actions it was made for")
        return norm
    from cosmos_predict2.data.action_stats import lerobot_action_stats

    if kind == "none":
        return ActionNormalization.identity(dim, settings.source_record(meta))
    stats = lerobot_action_stats(meta, settings, episodes, progress=progress)
    return ActionNormalization.from_stats(kind, stats, {**settings.source_record(meta), "root": meta.root,
                                                        "episodes": len(episodes)})


class LeRobotActionDataset(SkippingDataset):
    """Windows of LeRobot episodes with normalised actions (module doc)."""

    def __init__(
        self,
        root: str,
        mode: str = "train",
        episodes: Any = None,
        split: Optional[str] = None,
        camera: Optional[str] = None,
        state_key: str = "observation.state",
        action_key: str = "action",
        action_source: str = "recorded",
        action_dims: Optional[Sequence[int]] = None,
        action_offset: int = 0,
        pose_rotation: str = "euler",
        gripper_index: int = 6,
        num_frames: int = 13,
        sequence_interval: int = 1,
        target_fps: Optional[float] = None,
        start_frame_interval: int = 1,
        val_start_frame_interval: int = 1,
        video_size: Sequence[int] = (480, 640),
        tolerance_s: float = 1e-4,
        normalization: str = "mean_std",
        action_normalization: Optional[Mapping[str, Any]] = None,
        t5_embedding_dim: int = 1024,
        max_text_tokens: int = 512,
        on_bad_sample: str = "error",
        max_bad_sample_fraction: float = DEFAULT_MAX_BAD_SAMPLE_FRACTION,
        preflight: str | bool = "on",
        progress: bool = True,
        gripper_rescale_factor: float = 1.0,
    ):
        super().__init__()
        if float(gripper_rescale_factor) != 1.0:  # the Predict2.5 experiments set the Bridge key (to 1.0)
            raise ValueError(f"gripper_rescale_factor={gripper_rescale_factor} scales Bridge actions; LeRobot actions "
                             "are scaled by their normalisation (dataset key normalization): leave it at 1.0")
        self._init_skip(on_bad_sample, max_bad_sample_fraction)
        self.meta = LeRobotMeta(root)
        self.root, self.mode = self.meta.root, mode
        self.dataset_dir = self.root  # the folder the dataset scan reports on
        self.settings = LeRobotSettings.from_dataset_args(dict(
            camera=camera, state_key=state_key, action_key=action_key, action_source=action_source,
            action_dims=action_dims, action_offset=action_offset, pose_rotation=pose_rotation,
            gripper_index=gripper_index, num_frames=num_frames, sequence_interval=sequence_interval,
            target_fps=target_fps, video_size=video_size, tolerance_s=tolerance_s))
        st = self.settings
        self.camera = st.camera_key(self.meta)
        self.stride = st.stride(self.meta)
        self.action_dim = st.action_dim(self.meta)
        self.num_frames = st.num_frames
        self.video_size = list(st.video_size)
        self.fps = self.meta.fps / self.stride
        self.t5_embedding_dim, self.max_text_tokens = int(t5_embedding_dim), int(max_text_tokens)
        self.preflight = parse_preflight(preflight)
        self.start_interval = int(start_frame_interval if mode == "train" else val_start_frame_interval)
        self.episode_ids = select_episodes(self.meta, episodes, split, mode)
        self.normalization = resolve_normalization(self.meta, st, self.episode_ids, normalization,
                                                   action_normalization, progress)
        self.episodes: list[dict] = []
        self.samples: list[tuple[int, int]] = []  # (position in self.episodes, first frame)
        span = (self.num_frames - 1) * self.stride
        self.num_short_episodes = 0
        for idx in self.episode_ids:
            ep = self.meta.episode(idx)
            starts = list(range(0, ep.length - span, self.start_interval))
            if not starts:
                self.num_short_episodes += 1
                continue
            self.samples.extend((len(self.episodes), f) for f in starts)
            self.episodes.append({"index": idx, "length": ep.length})
        if self.num_short_episodes:
            log.warning("%s (%s): %d of %d episodes are shorter than one %d-frame window at stride %d and are "
                        "skipped", self.root, mode, self.num_short_episodes, len(self.episode_ids), self.num_frames,
                        self.stride)
        if not self.samples:
            raise DataError(self.root, f"no {self.num_frames}-frame windows at stride {self.stride} in mode={mode} "
                                       f"({len(self.episode_ids)} episodes, all shorter)", "lower num_frames or the "
                                                                                            "stride")
        self._cache: dict[int, dict] = {}

    def describe(self) -> str:
        """One line for the start of training: windows, episodes, skipped short episodes, camera, actions."""
        short = f", {self.num_short_episodes} shorter than one window skipped" if self.num_short_episodes else ""
        return (f"{len(self)} windows of {self.num_frames} frames from {len(self.episodes)} of "
                f"{len(self.episode_ids)} episodes{short} ({self.root}, {self.camera}, stride {self.stride}, "
                f"{self.action_dim}-d {self.settings.action_source} actions, {self.normalization.describe()})")

    @staticmethod
    def check_files(root: str, camera: Optional[str] = None, **kwargs) -> None:
        """Preflight in milliseconds: a LeRobot dataset is there, with this camera and these features."""
        meta = LeRobotMeta(root)
        settings = LeRobotSettings.from_dataset_args({**kwargs, "camera": camera})
        settings.camera_key(meta)
        settings.action_dim(meta)

    @staticmethod
    def action_width(root: str, **kwargs) -> int:
        """Width of the actions a dataset with these arguments yields (reads info.json only)."""
        return LeRobotSettings.from_dataset_args(kwargs).action_dim(LeRobotMeta(root))

    def scan_checks(self) -> list[Check]:
        """Each data parquet's presence and each video file of the camera with the frames its episodes need."""
        need = self.meta.video_frames_needed([self.meta.episode(e["index"]) for e in self.episodes], [self.camera])
        return [Check.make("video", p, self.meta.info_path, min_frames=n, full_decode=self.preflight == "full")
                for p, n in sorted(need.items())]

    def __len__(self) -> int:
        return len(self.samples)

    def sample_key(self, index: int) -> str:
        return f"episode_{self.episodes[self.samples[index][0]]['index']:06d}"

    def _episode(self, pos: int) -> dict:
        if pos not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[pos] = read_lerobot_episode(self.meta, self.episodes[pos]["index"], self.settings)
        return self._cache[pos]

    def _load(self, index: int) -> dict:
        pos, start = self.samples[index]
        ep = self._episode(pos)
        frame_ids = [start + i * self.stride for i in range(self.num_frames)]
        video_C_T_H_W = read_lerobot_frames(self.meta, ep, frame_ids, self.settings)
        h, w = self.video_size
        return {
            "video": video_C_T_H_W,
            "action": torch.from_numpy(lerobot_window_actions(ep, frame_ids, self.settings, self.normalization)),
            "t5_text_embeddings": torch.zeros(self.max_text_tokens, self.t5_embedding_dim, dtype=torch.float32),
            "t5_text_mask": torch.ones(self.max_text_tokens, dtype=torch.int64),
            "fps": self.fps,
            "image_size": torch.tensor([h, w, h, w], dtype=torch.float32),
            "num_frames": self.num_frames,
            "padding_mask": torch.zeros(1, h, w, dtype=torch.float32),
            "annotation_file": ep["episode"].data_file,
            "__key__": ep["key"],
            "ai_caption": ep["tasks"][0] if ep["tasks"] else "",
        }

