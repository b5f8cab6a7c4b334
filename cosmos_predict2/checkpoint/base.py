"""Checkpointer interface, the ``latest_checkpoint.txt`` pointer and the no-op checkpointer.

A checkpointer saves ``(model, optimizer, scheduler, trainer_state)`` at an iteration. On resume the model
weights are read by the one weight loader (``checkpoint/weights.py``) from :meth:`Checkpointer.model_path`;
the checkpointer restores the rest (:meth:`Checkpointer.load_training_state`). Every implementation keeps ``<job>/checkpoints/latest_checkpoint.txt``, written atomically
(temporary file + ``os.replace``) only once a save is complete on every rank, so a crash in the middle of
a save leaves the previous checkpoint valid and pointed to.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from typing import Any, Optional

from cosmos_predict2.checkpoint.weights import LATEST, CheckpointError
from cosmos_predict2.lazy_config.errors import ConfigError, did_you_mean
from cosmos_predict2.utils import distributed as du
from cosmos_predict2.utils.files import atomic_write_text

log = logging.getLogger(__name__)


RESUME_KEYS = ("model", "optim", "scheduler", "trainer")  # the parts of a training checkpoint (upstream's names)


def resume_keys(config_checkpoint: Any, resuming: bool) -> set[str]:
    """The parts restored at start-up (upstream's rule): every part when ``resuming`` (latest_checkpoint.txt) or
    from ``load_path`` with ``load_training_state``; else ``model`` (+ ``scheduler`` with
    ``only_load_scheduler_state``); minus ``keys_not_to_resume``. ``trainer`` is the iteration, the data position
    and the RNG. An unknown name is a ConfigError."""
    excluded = list(getattr(config_checkpoint, "keys_not_to_resume", None) or [])
    for key in excluded:
        if key not in RESUME_KEYS:
            raise ConfigError(f"checkpoint.keys_not_to_resume: unknown part {key!r}; the parts are "
                              f"{list(RESUME_KEYS)}.{did_you_mean(str(key), RESUME_KEYS)}")
    if resuming or bool(getattr(config_checkpoint, "load_training_state", False)):
        keys = set(RESUME_KEYS)
    else:
        keys = {"model"} | ({"scheduler"} if getattr(config_checkpoint, "only_load_scheduler_state", False) else set())
    return keys - set(excluded)


def iter_name(iteration: int) -> str:
    return f"iter_{int(iteration):09d}"


def parse_iteration(name: str) -> Optional[int]:
    m = re.match(r"^iter_(\d{9})(\.pt)?$", os.path.basename(name.rstrip("/")))
    return int(m.group(1)) if m else None


def read_latest(checkpoint_dir: str) -> Optional[str]:
    """Content of ``latest_checkpoint.txt`` (e.g. ``iter_000001000``) or None."""
    path = os.path.join(checkpoint_dir, LATEST)
    if not os.path.isfile(path):
        return None
    name = open(path).read().strip()
    return name or None


def write_latest(checkpoint_dir: str, name: str) -> None:
    atomic_write_text(os.path.join(checkpoint_dir, LATEST), name + "\n")


def remove_path(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


class Checkpointer:
    """Common configuration and bookkeeping. Subclasses implement ``save``, ``model_path`` and
    ``load_training_state``."""

    suffix = ""  # "" for folders (DCP), ".pt" for standard files

    def __init__(self, config_checkpoint: Any = None, config_job: Any = None, checkpoint_dir: Optional[str] = None,
                 **unused: Any) -> None:
        self.config = config_checkpoint
        if checkpoint_dir is None:
            checkpoint_dir = config_job.checkpoint_dir if config_job is not None else "checkpoints"
        self.checkpoint_dir = checkpoint_dir
        self.keep_last_k = int(getattr(config_checkpoint, "keep_last_k", 0) or 0)

    # ------------------------------------------------------------------ interface
    def save(self, model, optimizer, scheduler, trainer_state: dict, iteration: int) -> None:
        raise NotImplementedError

    def model_path(self, path: str) -> str:
        """Where the model weights of checkpoint ``path`` (this checkpointer's format) are, for the loader."""
        raise NotImplementedError

    def load_training_state(self, path: str, model, optimizer=None, scheduler=None) -> Optional[dict]:
        """Restore optimizer and scheduler state of checkpoint ``path``; returns the trainer state (or None)."""
        raise NotImplementedError

    def finalize(self) -> None:
        """Wait for pending (async) saves and publish them."""

    def recover(self) -> None:
        """Collective, at start-up before :meth:`latest_path`: settle what an interrupted save left behind."""

    # ------------------------------------------------------------------ shared
    def latest_path(self) -> Optional[str]:
        name = read_latest(self.checkpoint_dir)
        if name is None:
            return None
        path = os.path.join(self.checkpoint_dir, name)
        if not self.exists(path):
            raise CheckpointError(
                f"{os.path.join(self.checkpoint_dir, LATEST)} points to {name!r} but {path} does not exist or is "
                f"incomplete; fix the pointer (e.g. to an existing iter_* entry) or delete it to start over")
        return path

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def publish(self, name: str) -> None:
        """Rank 0: point latest at ``name`` and drop checkpoints beyond keep-last-k."""
        write_latest(self.checkpoint_dir, name)
        if self.keep_last_k > 0:
            self._prune(parse_iteration(name))

    def saved_iterations(self) -> list[int]:
        return sorted(i for i in (parse_iteration(n) for n in self._entries()) if i is not None)

    def _entries(self) -> list[str]:
        return os.listdir(self.checkpoint_dir) if os.path.isdir(self.checkpoint_dir) else []

    def _prune(self, published: Optional[int]) -> None:
        """Keep the last k checkpoints up to the ``published`` iteration; later-numbered ones (left by a run
        that restarted its iteration count, ``keys_not_to_resume=[trainer]``) are never deleted."""
        iters = [i for i in self.saved_iterations() if published is None or i <= published]
        for it in iters[: max(0, len(iters) - self.keep_last_k)]:
            self.delete(it)

    def delete(self, iteration: int) -> None:
        remove_path(os.path.join(self.checkpoint_dir, iter_name(iteration) + self.suffix))


class NoCheckpointer(Checkpointer):
    """``ckpt_type=dummy``: never writes anything, never resumes."""

    def save(self, model, optimizer, scheduler, trainer_state: dict, iteration: int) -> None:
        if du.is_rank0():
            log.info("checkpointing disabled (ckpt_type=dummy): iteration %d not saved", iteration)

    def model_path(self, path: str) -> str:
        raise CheckpointError("ckpt_type=dummy cannot load checkpoints; use ckpt_type=dcp or ckpt_type=standard")

    def load_training_state(self, path, model, optimizer=None, scheduler=None):
        raise CheckpointError("ckpt_type=dummy cannot load checkpoints; use ckpt_type=dcp or ckpt_type=standard")

    def latest_path(self) -> Optional[str]:
        return None
