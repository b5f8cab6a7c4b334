"""Chunk bookkeeping and the reference predictors / guard inputs of the evaluation.

- :func:`chunk_spans`: which predicted frames each autoregressive chunk produces.
- :func:`copy_last_frame`: the trivial predictor that repeats the conditioning frame.
- :func:`derangement` / :func:`shuffled_actions`: every episode gets another episode's actions
  (action-sensitivity guard: a model that ignores actions scores the same with them).
- :func:`zero_actions`: all-zero actions of the same length.

The counterfactual actions are the inference's (:mod:`cosmos_predict2.inference.action_modes`), so the
evaluation's ``shuffled_actions`` is ``--action-mode shuffled`` of the inference scripts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cosmos_predict2.inference.action_modes import derangement, fit_length, shuffled_actions, zero_actions

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
