"""Counterfactual actions fed through the same rollout (is the model following its actions?).

Modes (``--action-mode`` of the inference scripts; the evaluation's ``shuffled_actions`` / ``zero_actions``):

- ``gt``: each episode's own actions;
- ``zero``: all-zero actions of the same length;
- ``shuffled``: ANOTHER EPISODE's actions: a seeded derangement of the episodes (no episode keeps its own),
  truncated or cyclically repeated to the episode's length (:func:`shuffled_actions`); needs >= 2 episodes;
- ``permuted``: the episode's own actions in a seeded random time order;
- ``reversed``: the episode's own actions in reverse time order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["ACTION_MODES", "SINGLE_EPISODE_MODES", "counterfactual_actions", "derangement", "fit_length",
           "shuffled_actions", "zero_actions"]

ACTION_MODES = ("gt", "zero", "shuffled", "permuted", "reversed")
SINGLE_EPISODE_MODES = tuple(m for m in ACTION_MODES if m != "shuffled")  # "shuffled" needs other episodes


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


def counterfactual_actions(actions: Sequence[np.ndarray], mode: str = "gt", seed: int = 0) -> list[np.ndarray]:
    """float32 actions of every episode under ``mode`` (module doc), in the order of ``actions``."""
    eps = [np.asarray(a, dtype=np.float32) for a in actions]
    if mode == "gt":
        return [a.copy() for a in eps]
    if mode == "zero":
        return [zero_actions(a) for a in eps]
    if mode == "shuffled":
        if len(eps) < 2:
            raise ValueError(f"action mode 'shuffled' gives each episode another episode's actions: it needs at "
                             f"least 2 episodes, got {len(eps)} (one episode: use 'permuted' or 'reversed')")
        return shuffled_actions(eps, seed)
    if mode == "permuted":
        return [a[np.random.default_rng(seed).permutation(len(a))] for a in eps]
    if mode == "reversed":
        return [a[::-1].copy() for a in eps]
    raise ValueError(f"action mode {mode!r}: use one of {ACTION_MODES}")
