"""``ckpt_type=standard``: full (gathered) state dicts in ``.pt`` files written by rank 0 (Predict2 layout).

    <job>/checkpoints/model/iter_000001000.pt       {"net.*": ..., "net_ema.*": ...}  full tensors
                     /optim/iter_000001000.pt       full optimizer state dict (parameter FQNs)
                     /scheduler/iter_000001000.pt   LR scheduler state_dict
                     /trainer/iter_000001000.pt     iteration, data position, RNG of every rank
                     /latest_checkpoint.txt         "iter_000001000.pt"

Each file is written to a temporary name and renamed; the pointer is rewritten after all four exist.
On resume every rank reads its own shards of the model file (checkpoint/weights.py); the optimizer state is
broadcast from rank 0 into the shards of any world size.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional

import torch

from cosmos_predict2.checkpoint import state as ckstate
from cosmos_predict2.checkpoint.base import Checkpointer, iter_name, remove_path
from cosmos_predict2.checkpoint.weights import CheckpointError
from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)

PARTS = ("model", "optim", "scheduler", "trainer")


def _atomic_save(obj: Any, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


class StandardCheckpointer(Checkpointer):
    suffix = ".pt"

    def _file(self, part: str, name: str) -> str:
        return os.path.join(self.checkpoint_dir, part, name)

    def exists(self, path: str) -> bool:
        name = os.path.basename(path)
        return all(os.path.isfile(self._file(p, name)) for p in ("model", "trainer"))

    def _entries(self) -> list[str]:
        folder = os.path.join(self.checkpoint_dir, "model")
        return os.listdir(folder) if os.path.isdir(folder) else []

    def delete(self, iteration: int) -> None:
        for part in PARTS:
            remove_path(self._file(part, iter_name(iteration) + ".pt"))

    def save(self, model, optimizer, scheduler, trainer_state: dict, iteration: int) -> None:
        t0 = time.perf_counter()
        name = iter_name(iteration) + ".pt"
        model_sd = ckstate.model_state_dict(model, full=True)
        optim_sd = ckstate.optimizer_state_dict(model, optimizer, full=True) if optimizer is not None else {}
        rng_all = ckstate.gather_to_rank0(ckstate.rng_state())
        if du.is_rank0():
            for part in PARTS:
                os.makedirs(os.path.join(self.checkpoint_dir, part), exist_ok=True)
            _atomic_save(model_sd, self._file("model", name))
            _atomic_save(optim_sd, self._file("optim", name))
            _atomic_save(scheduler.state_dict() if scheduler is not None else {}, self._file("scheduler", name))
            _atomic_save(dict(trainer_state, rng=rng_all, world_size=du.get_world_size()), self._file("trainer", name))
            self.publish(name)
            log.info("saved checkpoint %s in %.2fs", self._file("model", name), time.perf_counter() - t0)
        du.barrier()

    def model_path(self, path: str) -> str:
        """``path`` is ``<checkpoints>/iter_%09d.pt`` (the pointer's target) or a ``model/iter_*.pt`` file."""
        file = self._files(path)["model"]
        if not os.path.isfile(file):
            raise CheckpointError(f"standard checkpoint {file} does not exist")
        return file

    def _files(self, path: str) -> dict[str, str]:
        name = os.path.basename(path)
        root = os.path.dirname(path)
        if os.path.basename(root) == "model":
            root = os.path.dirname(root)
        return {p: os.path.join(root, p, name) for p in PARTS}

    def load_training_state(self, path: str, model, optimizer=None, scheduler=None) -> Optional[dict]:
        files = self._files(path)
        t0 = time.perf_counter()
        if optimizer is not None:
            # rank 0 maps the full optimizer state (not read into memory) and broadcasts it tensor by tensor
            osd = torch.load(files["optim"], map_location="cpu", weights_only=True, mmap=True) if du.is_rank0() else {}
            ckstate.set_optimizer_state(model, optimizer, osd, full=True)
        if scheduler is not None and os.path.isfile(files["scheduler"]):
            scheduler.load_state_dict(torch.load(files["scheduler"], weights_only=True))
        trainer_state = torch.load(files["trainer"], weights_only=True) if os.path.isfile(files["trainer"]) else None
        if du.is_rank0():
            log.info("loaded the training state of %s in %.2fs", files["model"], time.perf_counter() - t0)
        return trainer_state
