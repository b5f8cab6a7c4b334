"""Whole Bridge episodes for evaluation, and committed episode lists.

An episode list is a text file with one episode name per line: the annotation JSON's file stem
(``annotation/<split>/<name>.json``); blank lines and ``#`` comments are ignored. Lists live in
``assets/evaluation/`` so every run scores the same episodes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from cosmos_predict2.data.bridge import find_bridge_annotations
from cosmos_predict2.data.bridge_episode import EpisodeSettings, load_bridge_episode

__all__ = ["EvalEpisode", "read_episode_list", "write_episode_list", "select_episodes", "load_bridge_episodes"]


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


def load_bridge_episodes(
    dataset_dir: str,
    split: str = "test",
    names: Optional[Sequence[str]] = None,
    max_episodes: Optional[int] = None,
    settings: Optional[EpisodeSettings] = None,
) -> list[EvalEpisode]:
    """Load whole episodes of a Bridge split, in the order of ``names`` (default: every episode of the split,
    sorted numerically), the first ``max_episodes`` of them, with the episode reader
    (:func:`cosmos_predict2.data.bridge_episode.load_bridge_episode`) and ``settings``: the experiment's
    (``cosmos_predict2.inference.experiment_info.action_settings``) so frames and actions are the ones training
    sees; default: the reader's action defaults at the decoded frame size."""
    settings = settings if settings is not None else EpisodeSettings(video_size=None)
    files, _ = find_bridge_annotations(dataset_dir, split)
    by_name = {_stem(p): p for p in files}
    if names is None:
        names = select_episodes(list(by_name), None)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"{len(missing)} listed episodes are not in {dataset_dir} split {split!r}, e.g. "
                         f"{missing[:5]}; check --split / --dataset-dir or the episode list")
    names = list(names)[: max_episodes if max_episodes else None]
    episodes = []
    for name in names:
        ep = load_bridge_episode(by_name[name], settings, dataset_dir=dataset_dir)
        episodes.append(EvalEpisode(name, ep["frames"], ep["actions"]))
    return episodes
