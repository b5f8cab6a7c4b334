"""Action statistics of a LeRobot dataset selection, computed once (progress bar) and cached.

The statistics are those of the per-step actions the dataset trains on (:mod:`.lerobot_episode`: every step
between kept frames, at every start offset of the stride). Cache: one JSON per (dataset root, episode selection,
action settings, data files' size and mtime) under ``$COSMOS_ACTION_STATS_CACHE`` (``off`` disables it), else
``$XDG_CACHE_HOME/cosmos_predict2/action_stats``, else ``~/.cache/cosmos_predict2/action_stats``; a rewritten data
file misses the cache. Writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Sequence

import numpy as np

from cosmos_predict2.data.action_norm import action_statistics
from cosmos_predict2.data.lerobot_episode import LeRobotSettings, lerobot_step_actions, read_lerobot_episode
from cosmos_predict2.data.lerobot_meta import LeRobotMeta
from cosmos_predict2.utils.cache_dir import cache_dir
from cosmos_predict2.utils.files import atomic_write_text

log = logging.getLogger(__name__)

ENV = "COSMOS_ACTION_STATS_CACHE"
FORMAT = "cosmos_predict2.action_stats/1"


def _cache_key(meta: LeRobotMeta, settings: LeRobotSettings, episodes: Sequence[int]) -> str:
    files = sorted({meta.episode(i).data_file for i in episodes})
    stamps = []
    for f in files:
        st = os.stat(f)
        stamps.append([os.path.relpath(f, meta.root), st.st_size, st.st_mtime_ns])
    blob = json.dumps({"root": os.path.abspath(meta.root), "version": meta.version, "episodes": list(map(int, episodes)),
                       "actions": settings.source_record(meta), "files": stamps}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def episode_step_actions(meta: LeRobotMeta, settings: LeRobotSettings, index: int) -> np.ndarray:
    """All per-step raw actions of one episode (every start offset of the stride), (N, D) float64."""
    ep = read_lerobot_episode(meta, index, settings)
    k = settings.stride(meta)
    parts = [lerobot_step_actions(ep, list(range(o, ep["length"], k)), settings)
             for o in range(min(k, ep["length"])) if len(range(o, ep["length"], k)) >= 2]
    return np.concatenate(parts) if parts else np.zeros((0, settings.action_dim(meta)))


def lerobot_action_stats(meta: LeRobotMeta, settings: LeRobotSettings, episodes: Sequence[int],
                         progress: bool = True) -> dict[str, Any]:
    """:func:`~cosmos_predict2.data.action_norm.action_statistics` of the selection's per-step actions (cached)."""
    folder = cache_dir(ENV, "action_stats")
    path = os.path.join(folder, _cache_key(meta, settings, episodes) + ".json") if folder else None
    if path and os.path.isfile(path):
        try:
            with open(path) as f:
                data = json.load(f)
            if data.get("format") == FORMAT:
                return data["stats"]
        except (OSError, ValueError, KeyError):
            log.warning("action statistics cache %s is unreadable; computing again", path)
    from tqdm import tqdm

    chunks = [episode_step_actions(meta, settings, i)
              for i in tqdm(list(episodes), desc="action statistics", unit="ep", disable=not progress)]
    stats = action_statistics(np.concatenate(chunks))
    if path:
        try:
            os.makedirs(folder, exist_ok=True)
            atomic_write_text(path, json.dumps({"format": FORMAT, "root": os.path.abspath(meta.root),
                                                "episodes": len(episodes), "stats": stats}))
        except OSError as err:
            log.warning("action statistics not cached (%s); set %s to a writable folder", err, ENV)
    return stats
