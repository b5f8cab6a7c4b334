"""Chunk bookkeeping and the reference predictors / guard inputs of the evaluation.

- :func:`chunk_spans`: which predicted frames each autoregressive chunk produces.
- :func:`copy_last_frame`: the trivial predictor that repeats the conditioning frame.
- :func:`derangement` / :func:`shuffled_actions`: every episode gets another episode's actions
  (action-sensitivity guard: a model that ignores actions scores the same with them).
- :func:`zero_actions`: all-zero actions of the same length.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

__all__ = ["ChunkSpan", "chunk_spans", "copy_last_frame", "derangement", "fit_length", "shuffled_actions",
           "zero_actions"]


@dataclasses.dataclass(frozen=True)
class ChunkSpan:
    """Chunk ``index`` consumes actions ``[first_action, end_action)`` and predicts frames
    ``first_frame .. last_frame`` (inclusive; frame k+1 follows action k)."""

    index: int
    first_action: int
    end_action: int

    @property
    def first_frame(self) -> int:
        return self.first_action + 1

    @property
    def last_frame(self) -> int:
        return self.end_action

    @property
    def frames(self) -> range:
        return range(self.first_frame, self.last_frame + 1)


def chunk_spans(num_actions: int, chunk_size: int = 12) -> list[ChunkSpan]:
    """Chunks of ``chunk_size`` actions covering ``num_actions`` (the last one may be shorter):
    25 actions with chunk 12 -> actions [0,12) [12,24) [24,25) -> frames 1-12, 13-24, 25."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [ChunkSpan(i, s, min(s + chunk_size, num_actions))
            for i, s in enumerate(range(0, max(num_actions, 0), chunk_size))]


def copy_last_frame(frames_T_H_W_3: np.ndarray, num_actions: int) -> np.ndarray:
    """Prediction (1+N, H, W, 3) that repeats the conditioning frame 0 for every step."""
    f0 = np.asarray(frames_T_H_W_3)[0]
    return np.repeat(f0[None], num_actions + 1, axis=0)


def derangement(n: int, seed: int = 0) -> list[int]:
    """Deterministic permutation with no fixed point: donor[i] != i for every i (needs n >= 2).

    A seeded random order o is shifted cyclically: donor[o[k]] = o[(k+1) % n].
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 episodes, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    donor = [0] * n
    for k in range(n):
        donor[int(order[k])] = int(order[(k + 1) % n])
    return donor


def fit_length(actions_N_D: np.ndarray, n: int) -> np.ndarray:
    """Truncate to ``n`` rows, or pad by repeating the sequence from its start (keeps real action values)."""
    a = np.asarray(actions_N_D)
    if len(a) == 0:
        raise ValueError("cannot fit an empty action sequence")
    reps = -(-n // len(a))
    return np.concatenate([a] * reps, axis=0)[:n]


def shuffled_actions(actions: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """For episode i, the actions of episode ``derangement(n, seed)[i]``, fitted to episode i's length."""
    donor = derangement(len(actions), seed)
    return [fit_length(actions[donor[i]], len(actions[i])).astype(np.float32) for i in range(len(actions))]


def zero_actions(actions_N_D: np.ndarray) -> np.ndarray:
    return np.zeros_like(np.asarray(actions_N_D, dtype=np.float32))
