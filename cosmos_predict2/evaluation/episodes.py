"""Whole episodes (Bridge or LeRobot) for evaluation, and committed episode lists.

An episode list is a text file with one episode name per line: the annotation JSON's file stem
(``annotation/<split>/<name>.json``) or the LeRobot episode index; blank lines and ``#`` comments are ignored. Lists live in
``assets/evaluation/`` so every run scores the same episodes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from cosmos_predict2.data.action_norm import ActionNormalization
from cosmos_predict2.data.bridge import find_bridge_annotations
from cosmos_predict2.data.bridge_episode import EpisodeSettings, load_bridge_episode
from cosmos_predict2.data.lerobot import select_episodes as select_lerobot_episodes
from cosmos_predict2.data.lerobot_episode import LeRobotSettings, load_lerobot_episode
from cosmos_predict2.data.lerobot_meta import LeRobotMeta, is_lerobot_dataset

__all__ = ["EvalEpisode", "read_episode_list", "write_episode_list", "select_episodes", "episode_names",
           "load_episodes"]


@dataclasses.dataclass
class EvalEpisode:
    """One full episode: ``frames`` uint8 (T, H, W, 3), ``actions`` float32 (T-1, 7) (action k moves frame k
    to frame k+1), ``key`` the annotation stem."""

    key: str
    frames: np.ndarray
    actions: np.ndarray

    def __post_init__(self):
        f, a = np.asarray(self.frames), np.asarray(self.actions)
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"episode {self.key}: frames must be uint8 (T,H,W,3), got {f.dtype} {f.shape}")
        if a.ndim != 2 or a.shape[0] != f.shape[0] - 1:
            raise ValueError(f"episode {self.key}: {f.shape[0]} frames need ({f.shape[0] - 1}, D) actions, got {a.shape}")
        self.frames, self.actions = f, a.astype(np.float32)


def read_episode_list(path: str) -> list[str]:
    """Episode names from a list file (see module doc)."""
    if not os.path.isfile(path):
        raise ValueError(f"episode list {path!r} does not exist; write one with "
                         "`scripts/evaluate_action_conditioned.py ... --write-episodes-file PATH`")
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    if not names:
        raise ValueError(f"episode list {path!r} names no episodes")
    if len(set(names)) != len(names):
        raise ValueError(f"episode list {path!r} names some episodes twice")
    return names


def write_episode_list(path: str, names: Sequence[str], header: str = "") -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        for line in header.splitlines():
            f.write(f"# {line}\n")
        f.writelines(f"{n}\n" for n in names)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def select_episodes(names: Sequence[str], num: Optional[int], seed: int = 0) -> list[str]:
    """``num`` names drawn without replacement by a seeded permutation of the *sorted* names, returned in
    sorted order (all of them when ``num`` is None or >= len). Deterministic for a given set of names."""
    names = sorted(names, key=lambda s: (len(s), s))
    if num is None or num >= len(names):
        return names
    idx = np.random.default_rng(seed).permutation(len(names))[:num]
    return [names[i] for i in sorted(idx)]


def episode_names(dataset_dir: str, split: str) -> dict[str, object]:
    """``{name: handle}`` of a split's episodes: Bridge annotation stems -> JSON paths; LeRobot episode indices
    (as text) of the ``info.json`` split -> the indices."""
    if is_lerobot_dataset(dataset_dir):
        meta = LeRobotMeta(dataset_dir)
        return {str(i): i for i in select_lerobot_episodes(meta, None, split, split)}
    files, _ = find_bridge_annotations(dataset_dir, split)
    return {_stem(p): p for p in files}


def load_episodes(
    dataset_dir: str,
    split: str = "test",
    names: Optional[Sequence[str]] = None,
    max_episodes: Optional[int] = None,
    settings: Optional[EpisodeSettings | LeRobotSettings] = None,
    normalization: Optional[ActionNormalization] = None,
) -> list[EvalEpisode]:
    """Load whole episodes of a split, in the order of ``names`` (default: every episode of the split, sorted
    numerically), the first ``max_episodes`` of them, with the episode readers and ``settings``: the
    experiment's (``cosmos_predict2.inference.experiment_info.action_settings``) so frames and actions are the
    ones training sees. Bridge folders (``annotation/<split>/``) go through
    :func:`~cosmos_predict2.data.bridge_episode.load_bridge_episode` (default: the reader's action defaults at the
    decoded frame size); LeRobot folders (``meta/info.json``; names are episode indices) through
    :func:`~cosmos_predict2.data.lerobot_episode.load_lerobot_episode`, with actions normalised by
    ``normalization`` (the checkpoint's)."""
    lerobot = is_lerobot_dataset(dataset_dir)
    if lerobot and not isinstance(settings, LeRobotSettings):
        raise ValueError(f"{dataset_dir} is a LeRobot dataset but the experiment reads Bridge episodes; pick the "
                         "LeRobot experiment the checkpoint was trained with, or a Bridge --dataset-dir")
    if not lerobot and isinstance(settings, LeRobotSettings):
        raise ValueError(f"{dataset_dir} is not a LeRobot dataset (no meta/info.json) but the experiment reads "
                         "LeRobot episodes; pass the LeRobot dataset folder")
    if lerobot and normalization is None:
        raise ValueError("LeRobot episodes need the checkpoint's action normalisation (none was given)")
    settings = settings if settings is not None else EpisodeSettings(video_size=None)
    by_name = episode_names(dataset_dir, split)
    if names is None:
        names = select_episodes(list(by_name), None)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"{len(missing)} listed episodes are not in {dataset_dir} split {split!r}, e.g. "
                         f"{missing[:5]}; check --split / --dataset-dir or the episode list")
    names = list(names)[: max_episodes if max_episodes else None]
    meta = LeRobotMeta(dataset_dir) if lerobot else None
    if lerobot:
        normalization.check_width(settings.action_dim(meta), f"{dataset_dir}'s actions")
    episodes = []
    for name in names:
        if lerobot:
            ep = load_lerobot_episode(meta, by_name[name], settings, normalization)
        else:
            ep = load_bridge_episode(by_name[name], settings, dataset_dir=dataset_dir)
        episodes.append(EvalEpisode(name, ep["frames"], ep["actions"]))
    return episodes
