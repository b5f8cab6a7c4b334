"""``ckpt_type=dcp``: torch.distributed.checkpoint folders, resharding on load.

Layout (as Predict2.5)::

    <job>/checkpoints/iter_000001000/model/{.metadata,__<rank>_0.distcp}   net.* + net_ema.* (DCP)
                                    /optim/{.metadata,__<rank>_0.distcp}   optimizer state (DCP)
                                    /scheduler/state.pt                    LR scheduler state_dict
                                    /trainer/state.pt                      iteration, data position, RNG of every rank
    <job>/checkpoints/latest_checkpoint.txt                               "iter_000001000"

Every rank writes its shards into ``iter_%09d.tmp``; once all ranks are done rank 0 renames the folder
and then rewrites ``latest_checkpoint.txt``. With ``checkpoint.dcp_async_mode_enabled`` the model and
optimizer shards are staged to CPU and written by a background thread over a dedicated gloo group, and
published (renamed + pointed to) at the next save or at
the end of training. Loading reads any world size's checkpoint (DCP reshards).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp

from cosmos_predict2.checkpoint import state as ckstate
from cosmos_predict2.checkpoint.base import Checkpointer, iter_name, remove_path
from cosmos_predict2.checkpoint.weights import CheckpointError, is_dcp_dir
from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)


def _save_part(state: dict, path: str, process_group=None) -> None:
    """Write one DCP part (``model`` / ``optim``)."""
    dcp.save(state, checkpoint_id=path, process_group=process_group)


def _stage(state: dict) -> dict:
    """A CPU copy of a (sharded) state dict, so training can go on while it is written."""
    from torch.distributed._state_dict_utils import _copy_state_dict, _create_cpu_state_dict

    return _copy_state_dict(state, _create_cpu_state_dict(state))


class DistributedCheckpointer(Checkpointer):
    suffix = ""

    def __init__(self, config_checkpoint: Any = None, config_job: Any = None, checkpoint_dir: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(config_checkpoint, config_job, checkpoint_dir, **kwargs)
        self.async_mode = bool(getattr(config_checkpoint, "dcp_async_mode_enabled", False))
        self._pending: Optional[tuple[list, str, str, int]] = None
        self._pool = None
        self._group = None
        if self.async_mode and dist.is_initialized():
            # background writes use their own gloo group: collectives never interleave with training ones
            self._group = dist.new_group(backend="gloo")
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcp_async")

    def exists(self, path: str) -> bool:
        return is_dcp_dir(os.path.join(path, "model")) and os.path.isfile(os.path.join(path, "trainer", "state.pt"))

    # ------------------------------------------------------------------ save
    def save(self, model, optimizer, scheduler, trainer_state: dict, iteration: int) -> None:
        self.finalize()
        t0 = time.perf_counter()
        name = iter_name(iteration)
        final = os.path.join(self.checkpoint_dir, name)
        tmp = final + ".tmp"
        if du.is_rank0():
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            remove_path(tmp)
            for sub in ("scheduler", "trainer"):
                os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        du.barrier()
        model_sd = ckstate.model_state_dict(model)
        optim_sd = ckstate.optimizer_state_dict(model, optimizer) if optimizer is not None else None
        rng_all = ckstate.gather_to_rank0(ckstate.rng_state())
        parts = [(model_sd, os.path.join(tmp, "model"))]
        if optim_sd is not None:
            parts.append((optim_sd, os.path.join(tmp, "optim")))
        futures = []
        if self._pool is not None:
            staged = [(_stage(sd), path) for sd, path in parts]
            group = self._group
            futures.append(self._pool.submit(lambda: [_save_part(sd, path, group) for sd, path in staged]))
        else:
            for sd, path in parts:
                _save_part(sd, path)
        if du.is_rank0():
            sched = scheduler.state_dict() if scheduler is not None else {}
            torch.save(sched, os.path.join(tmp, "scheduler", "state.pt"))
            torch.save(dict(trainer_state, rng=rng_all, world_size=du.get_world_size()),
                       os.path.join(tmp, "trainer", "state.pt"))
        self._pending = (futures, tmp, final, iteration)
        if self._pool is None:
            self.finalize()
            if du.is_rank0():
                log.info("saved checkpoint %s in %.2fs", final, time.perf_counter() - t0)

    def finalize(self) -> None:
        if self._pending is None:
            return
        futures, tmp, final, iteration = self._pending
        self._pending = None
        for fut in futures:
            fut.result()
        du.barrier()  # every rank's shards are on disk
        if du.is_rank0():
            if os.path.exists(final):  # re-saving an iteration: keep the old copy until the new one is in place
                os.replace(final, final + ".old")
            os.replace(tmp, final)
            self.publish(os.path.basename(final))
            for entry in self._entries():  # leftovers of saves that crashed half-way
                if entry.startswith("iter_") and entry.endswith((".tmp", ".old")):
                    remove_path(os.path.join(self.checkpoint_dir, entry))
        du.barrier()

    # ------------------------------------------------------------------ load
    def model_path(self, path: str) -> str:
        model_dir = os.path.join(path, "model")
        if not is_dcp_dir(model_dir):
            raise CheckpointError(f"{path} is not a DCP checkpoint folder (no model/.metadata); expected "
                                  f"<job>/checkpoints/iter_XXXXXXXXX with model/, optim/, scheduler/, trainer/")
        return model_dir

    def load_training_state(self, path: str, model, optimizer=None, scheduler=None) -> Optional[dict]:
        t0 = time.perf_counter()
        if optimizer is not None:
            optim_dir = os.path.join(path, "optim")
            if not is_dcp_dir(optim_dir):
                raise CheckpointError(f"{path} has no optimizer state (optim/); set checkpoint.load_training_state"
                                      f"=False to load the weights only")
            osd = ckstate.optimizer_state_dict(model, optimizer)
            dcp.load(osd, checkpoint_id=optim_dir)
            ckstate.set_optimizer_state(model, optimizer, osd)
        sched_file = os.path.join(path, "scheduler", "state.pt")
        if scheduler is not None and os.path.isfile(sched_file):
            scheduler.load_state_dict(torch.load(sched_file, weights_only=True))
        trainer_file = os.path.join(path, "trainer", "state.pt")
        trainer_state = torch.load(trainer_file, weights_only=True) if os.path.isfile(trainer_file) else None
        if du.is_rank0():
            log.info("loaded the training state of %s in %.2fs", path, time.perf_counter() - t0)
        return trainer_state
