"""``ckpt_type=standard``: full (gathered) state dicts in ``.pt`` files written by rank 0 (Predict2 layout).

    <job>/checkpoints/model/iter_000001000.pt       {"net.*": ..., "net_ema.*": ...}  full tensors
                     /optim/iter_000001000.pt       full optimizer state dict (parameter FQNs)
                     /scheduler/iter_000001000.pt   LR scheduler state_dict
                     /trainer/iter_000001000.pt     iteration, data position, RNG of every rank
                     /latest_checkpoint.txt         "iter_000001000.pt"

Each file is written to a temporary name and renamed; the pointer is rewritten after all four exist.
Loading broadcasts rank 0's tensors into the shards of any world size.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional

import torch

from cosmos_predict2.checkpoint import state as ckstate
from cosmos_predict2.checkpoint.base import Checkpointer, CheckpointError, iter_name, remove_path
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

    def load_checkpoint(self, path: str, model, optimizer=None, scheduler=None,
                        load_training_state: bool = True) -> Optional[dict]:
        """``path`` is ``<checkpoints>/iter_%09d.pt`` (the pointer's target) or a ``model/iter_*.pt`` file."""
        name = os.path.basename(path)
        root = os.path.dirname(path)
        if os.path.basename(root) == "model":
            root = os.path.dirname(root)
        files = {p: os.path.join(root, p, name) for p in PARTS}
        if not os.path.isfile(files["model"]):
            raise CheckpointError(f"standard checkpoint {files['model']} does not exist")
        t0 = time.perf_counter()
        rank0 = du.is_rank0()
        sd = torch.load(files["model"], map_location="cpu", weights_only=True, mmap=True) if rank0 else {}
        missing, unexpected = ckstate.set_model_state(model, sd, full=True, strict=False)
        missing, unexpected = du.broadcast_object((missing, unexpected))
        if missing and self.strict_resume:
            raise CheckpointError(f"{files['model']} lacks {len(missing)} model keys, e.g. {missing[:5]}; set "
                                  f"checkpoint.strict_resume=False to load the matching keys only")
        if missing or unexpected:
            log.warning("%s: missing %s, unexpected %s", files["model"], missing[:10], unexpected[:10])
        del sd
        trainer_state = None
        if load_training_state:
            if optimizer is not None:
                osd = torch.load(files["optim"], map_location="cpu", weights_only=True) if rank0 else {}
                ckstate.set_optimizer_state(model, optimizer, osd, full=True)
            if scheduler is not None and os.path.isfile(files["scheduler"]):
                scheduler.load_state_dict(torch.load(files["scheduler"], weights_only=True))
            if os.path.isfile(files["trainer"]):
                trainer_state = torch.load(files["trainer"], weights_only=True)
        if rank0:
            log.info("loaded %s in %.2fs", files["model"], time.perf_counter() - t0)
        return trainer_state
