"""``ckpt_type=dcp``: torch.distributed.checkpoint folders, resharding on load.

Layout (as Predict2.5)::

    <job>/checkpoints/iter_000001000/model/{.metadata,__<rank>_0.distcp}   net.* + net_ema.* (DCP)
                                    /optim/{.metadata,__<rank>_0.distcp}   optimizer state (DCP)
                                    /scheduler/state.pt                    LR scheduler state_dict
                                    /trainer/state.pt                      iteration, data position, RNG of every rank
    <job>/checkpoints/latest_checkpoint.txt                               "iter_000001000"

Every rank writes its shards into ``iter_%09d.tmp``; once all ranks are done rank 0 renames the folder
and then rewrites ``latest_checkpoint.txt``. With ``checkpoint.dcp_async_mode_enabled`` the model and
optimizer shards are staged to CPU and written by a background thread over a dedicated gloo group, which
publishes the folder (rename + pointer) the moment the write is complete; the next save and the end of
training wait for it. At start-up :meth:`DistributedCheckpointer.recover` publishes a complete ``.tmp`` an
interrupted run left behind and removes an incomplete one, with a log line each. Loading reads any world
size's checkpoint (DCP reshards) through the safe reader (``checkpoint/safe_dcp.py``).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException

from cosmos_predict2.checkpoint import state as ckstate
from cosmos_predict2.checkpoint.base import Checkpointer, iter_name, parse_iteration, read_latest, remove_path
from cosmos_predict2.checkpoint.safe_dcp import SafeFileSystemReader, read_dcp_metadata, read_error
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
        self._pending: Optional[Future] = None  # the background write in flight
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
        if du.is_rank0():  # before the shards: a background write publishes the folder as soon as it is done
            sched = scheduler.state_dict() if scheduler is not None else {}
            torch.save(sched, os.path.join(tmp, "scheduler", "state.pt"))
            torch.save(dict(trainer_state, rng=rng_all, world_size=du.get_world_size()),
                       os.path.join(tmp, "trainer", "state.pt"))
        parts = [(model_sd, os.path.join(tmp, "model"))]
        if optim_sd is not None:
            parts.append((optim_sd, os.path.join(tmp, "optim")))
        if self._pool is not None:
            staged = [(_stage(sd), path) for sd, path in parts]
            self._pending = self._pool.submit(self._write_and_publish, staged, tmp, final, self._group)
            return
        for sd, path in parts:
            _save_part(sd, path)
        du.barrier()  # every rank's shards are on disk
        if du.is_rank0():
            self._publish_folder(tmp, final)
            log.info("saved checkpoint %s in %.2fs", final, time.perf_counter() - t0)
        du.barrier()

    def _write_and_publish(self, staged: list, tmp: str, final: str, group) -> None:
        """Background thread: write the staged shards, then (rank 0) publish at once. DCP's save ends with a
        collective in which rank 0 writes ``.metadata`` after every rank's shards are written, so when it returns
        on rank 0 the whole checkpoint is on disk."""
        t0 = time.perf_counter()
        for sd, path in staged:
            _save_part(sd, path, group)
        if du.is_rank0():
            self._publish_folder(tmp, final)
            log.info("saved checkpoint %s in the background in %.2fs", final, time.perf_counter() - t0)

    def _publish_folder(self, tmp: str, final: str) -> None:
        """Rank 0: ``iter_N.tmp`` -> ``iter_N``, point ``latest_checkpoint.txt`` at it, drop leftovers."""
        if os.path.exists(final):  # re-saving an iteration: keep the old copy until the new one is in place
            os.replace(final, final + ".old")
        os.replace(tmp, final)
        self.publish(os.path.basename(final))
        remove_path(final + ".old")

    def finalize(self) -> None:
        """Wait for a background write (it publishes itself); raises what it raised."""
        if self._pending is None:
            return
        future, self._pending = self._pending, None
        future.result()
        du.barrier()

    # ------------------------------------------------------------------ relaunch
    def recover(self) -> None:
        """Collective, before :meth:`latest_path` at start-up: rank 0 settles what an interrupted run left. A
        complete ``iter_N.tmp`` newer than the published checkpoint (a background write finished, the process
        died before publishing) is verified and published; an incomplete one is removed; ``.old`` copies of a
        re-saved iteration are restored or removed. Each decision is logged."""
        if du.is_rank0() and os.path.isdir(self.checkpoint_dir):
            latest = read_latest(self.checkpoint_dir)
            latest_iter = parse_iteration(latest) if latest else None
            for entry in sorted(self._entries()):
                path = os.path.join(self.checkpoint_dir, entry)
                if entry.startswith("iter_") and entry.endswith(".old"):
                    self._settle_old(path)
            for entry in sorted(self._entries()):
                if entry.startswith("iter_") and entry.endswith(".tmp"):
                    latest_iter = self._settle_tmp(os.path.join(self.checkpoint_dir, entry), latest_iter)
        du.barrier()

    def _settle_old(self, old: str) -> None:
        final = old[: -len(".old")]
        if os.path.exists(final):
            log.info("removing %s (the previous copy of a re-saved checkpoint)", old)
            remove_path(old)
        else:
            log.warning("restoring %s to %s (a re-save of that iteration was interrupted)", old, final)
            os.replace(old, final)

    def _settle_tmp(self, tmp: str, latest_iter: Optional[int]) -> Optional[int]:
        """Publish ``tmp`` when it is complete and newer than ``latest_iter``, else remove it; returns the
        published iteration."""
        final = tmp[: -len(".tmp")]
        iteration = parse_iteration(final)
        problem = incomplete_reason(tmp)
        if problem is None and iteration is not None and (latest_iter is None or iteration > latest_iter):
            log.warning("publishing %s: its save had completed on every rank but the run stopped before publishing "
                        "it; resuming from it", final)
            self._publish_folder(tmp, final)
            return iteration
        why = problem or f"not newer than the published iteration {latest_iter}"
        log.warning("removing %s: %s (an interrupted save; the last complete checkpoint is kept)", tmp, why)
        remove_path(tmp)
        return latest_iter

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
            read_dcp_metadata(optim_dir)  # refused before torch's loader sees the file
            osd = ckstate.optimizer_state_dict(model, optimizer)
            try:
                dcp.load(osd, storage_reader=SafeFileSystemReader(optim_dir))
            except (Exception, CheckpointException) as err:  # noqa: BLE001 - broken or refused shard files
                raise read_error(optim_dir, err) from None
            ckstate.set_optimizer_state(model, optimizer, osd)
        sched_file = os.path.join(path, "scheduler", "state.pt")
        if scheduler is not None and os.path.isfile(sched_file):
            scheduler.load_state_dict(torch.load(sched_file, weights_only=True))
        trainer_file = os.path.join(path, "trainer", "state.pt")
        trainer_state = torch.load(trainer_file, weights_only=True) if os.path.isfile(trainer_file) else None
        if du.is_rank0():
            log.info("loaded the training state of %s in %.2fs", path, time.perf_counter() - t0)
        return trainer_state


def incomplete_reason(folder: str) -> Optional[str]:
    """None when DCP iteration ``folder`` is complete (every part's metadata reads safely, every shard byte it
    names is on disk, the scheduler and trainer states load), else what is missing."""
    from cosmos_predict2.checkpoint.weights import open_source

    for part in ("model", "optim"):
        sub = os.path.join(folder, part)
        if not is_dcp_dir(sub):  # training always saves both
            return f"{part}/.metadata is missing"
        try:
            open_source(sub)  # safe metadata read + shard sizes
        except CheckpointError as err:
            return str(err)
    for part in ("scheduler", "trainer"):
        file = os.path.join(folder, part, "state.pt")
        try:
            torch.load(file, weights_only=True)
        except Exception as err:  # noqa: BLE001 - missing or cut short
            return f"{part}/state.pt cannot be read ({type(err).__name__})"
    return None
