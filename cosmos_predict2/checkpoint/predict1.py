"""``ckpt_type=fsdp`` (alias ``ckpt_klass=fsdp``): the Predict1 checkpoint files (upstream ``FSDPCheckpointer``).

    <job>/checkpoints/iter_000002000_reg_model.pt   regular weights  {"net.*": ..., "logvar.*": ...}
                     /iter_000002000_ema_model.pt   EMA weights, same layout: {"net.*": EMA net, "logvar.*": ...}
                                                    (only when model.config.ema.enabled)
                     /iter_000002000_optim.pt       {"optimizer": full optimizer state, "scheduler": its state_dict}
                     /iter_000002000.pt             trainer state: iteration, data position, RNG of every rank
                     /latest_checkpoint.txt         "iter_000002000.pt"

Names, pointer and the ``net.`` key prefix are upstream's (cosmos-predict1 ``utils/fsdp_checkpointer.py``: the
model files hold the state dict of the ``{"net", "conditioner", "logvar"}`` module dict, gathered in full on
rank 0). So the Predict1 post-training guide's step ``cp .../iter_000002000_ema_model.pt
checkpoints/Cosmos-Predict1-7B-Video2World_action_post-trained/model.pt`` gives a weights file whose ``net.*``
are the EMA weights, which every loader of this project (checkpoint/weights.py) reads as such. Upstream keeps
``ema.num=3`` EMA copies on different replica groups (``iter_N_RANK{k}_ema_model.pt``); this project keeps one.

Rank 0 writes full (gathered) tensors, as ``ckpt_type=standard`` does. Every file of a save is first written
to ``<name>.tmp``; then they are renamed, the trainer-state file last, and only then is the pointer rewritten
(atomically). A crash or an error during a save therefore leaves the previous checkpoint complete and pointed
to; the leftovers of the interrupted save are removed at the next successful one. Resuming reads the weights
through the one weight loader (``iter_N.pt`` resolves to the reg + EMA pair) and the rest with
:meth:`Predict1Checkpointer.load_training_state`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Optional

import torch

from cosmos_predict2.checkpoint import state as ckstate
from cosmos_predict2.checkpoint.base import Checkpointer, iter_name, remove_path
from cosmos_predict2.checkpoint.weights import CheckpointError
from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)

__all__ = ["Predict1Checkpointer", "split_model_state", "predict1_paths"]

PARTS = ("reg_model", "ema_model", "optim")
_FILE = re.compile(r"^iter_(\d{9})(?:_RANK\d+)?(?:_(?:reg_model|ema_model|optim))?\.pt(?:\.tmp)?$")


def predict1_paths(checkpoint_dir: str, iteration: int) -> dict[str, str]:
    """``{"trainer", "reg_model", "ema_model", "optim"}`` -> file of iteration ``iteration``."""
    stem = os.path.join(checkpoint_dir, iter_name(iteration))
    out = {"trainer": stem + ".pt"}
    out.update({part: f"{stem}_{part}.pt" for part in PARTS})
    return out


def split_model_state(sd: dict[str, Any]) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
    """A flat ``{net.*, net_ema.*, logvar.*, ...}`` model state -> (regular file, EMA file or None).

    Both files use upstream's layout: ``net.<param>`` plus the other trainable modules (e.g. ``logvar.*``). The
    EMA file's ``net.*`` are the EMA net's weights; its other entries are the regular ones (only the net is
    averaged here)."""
    reg = {k: v for k, v in sd.items() if not k.startswith("net_ema.")}
    ema_net = {"net." + k[len("net_ema."):]: v for k, v in sd.items() if k.startswith("net_ema.")}
    if not ema_net:
        return reg, None
    return reg, {**ema_net, **{k: v for k, v in reg.items() if not k.startswith("net.")}}


def _write_tmp(obj: Any, path: str) -> str:
    """``torch.save`` to ``<path>.tmp``; returns the temporary name (renamed into place by the caller)."""
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    return tmp


class Predict1Checkpointer(Checkpointer):
    suffix = ".pt"

    def _paths(self, path: str) -> dict[str, str]:
        """Files of the checkpoint ``path`` (its ``iter_N.pt`` or any ``iter_N_<part>.pt``)."""
        m = _FILE.match(os.path.basename(path))
        if m is None:
            raise CheckpointError(f"{path} is not a Predict1 checkpoint file (iter_NNNNNNNNN.pt, "
                                  "iter_NNNNNNNNN_reg_model.pt, ...)")
        return predict1_paths(os.path.dirname(path) or self.checkpoint_dir, int(m.group(1)))

    def exists(self, path: str) -> bool:
        try:
            files = self._paths(path)
        except CheckpointError:
            return False
        return os.path.isfile(files["trainer"]) and os.path.isfile(files["reg_model"])

    def delete(self, iteration: int) -> None:
        for path in predict1_paths(self.checkpoint_dir, iteration).values():
            remove_path(path)
            remove_path(path + ".tmp")

    def _remove_leftovers(self) -> None:
        """Files of saves that did not complete (no trainer-state file) and temporary files."""
        done = set(self.saved_iterations())
        for entry in self._entries():
            m = _FILE.match(entry)
            if m is None:
                continue
            if entry.endswith(".tmp") or int(m.group(1)) not in done:
                remove_path(os.path.join(self.checkpoint_dir, entry))

    # ------------------------------------------------------------------ save
    def save(self, model, optimizer, scheduler, trainer_state: dict, iteration: int) -> None:
        t0 = time.perf_counter()
        model_sd = ckstate.model_state_dict(model, full=True)  # collective: every rank takes part
        optim_sd = ckstate.optimizer_state_dict(model, optimizer, full=True) if optimizer is not None else {}
        rng_all = ckstate.gather_to_rank0(ckstate.rng_state())
        if du.is_rank0():
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            files = predict1_paths(self.checkpoint_dir, iteration)
            reg, ema = split_model_state(model_sd)
            sched = scheduler.state_dict() if scheduler is not None else {}
            trainer = dict(trainer_state, iteration=int(iteration), rng=rng_all, world_size=du.get_world_size())
            writes = [(reg, files["reg_model"])]
            if ema is not None:
                writes.append((ema, files["ema_model"]))
            writes += [({"optimizer": optim_sd, "scheduler": sched}, files["optim"]), (trainer, files["trainer"])]
            staged = [(_write_tmp(obj, path), path) for obj, path in writes]  # an error here changes nothing
            if ema is None:
                remove_path(files["ema_model"])  # a stale EMA file of an earlier save of this iteration
            for tmp, path in staged:  # the trainer-state file last: it marks the checkpoint complete
                os.replace(tmp, path)
            self.publish(os.path.basename(files["trainer"]))
            self._remove_leftovers()
            log.info("saved checkpoint %s (+ _reg_model%s, _optim) in %.2fs", files["trainer"],
                     ", _ema_model" if ema is not None else "", time.perf_counter() - t0)
        du.barrier()

    # ------------------------------------------------------------------ load
    def model_path(self, path: str) -> str:
        """The ``iter_N_reg_model.pt`` of checkpoint ``path``; the weight loader reads it together with its
        ``iter_N_ema_model.pt`` (``net_ema.*``)."""
        reg = self._paths(path)["reg_model"]
        if not os.path.isfile(reg):
            raise CheckpointError(f"Predict1 checkpoint {reg} does not exist")
        return reg

    def load_training_state(self, path: str, model, optimizer=None, scheduler=None) -> Optional[dict]:
        files = self._paths(path)
        t0 = time.perf_counter()
        if (optimizer is not None or scheduler is not None) and not os.path.isfile(files["optim"]):
            raise CheckpointError(f"{files['optim']} is missing: the checkpoint has no optimizer / scheduler state; "
                                  "set checkpoint.load_training_state=False to load the weights only")
        if optimizer is not None:
            # rank 0 maps the full optimizer state (not read into memory) and broadcasts it tensor by tensor
            osd = (torch.load(files["optim"], map_location="cpu", weights_only=True, mmap=True)["optimizer"]
                   if du.is_rank0() else {})
            ckstate.set_optimizer_state(model, optimizer, osd, full=True)
        if scheduler is not None:
            sched = torch.load(files["optim"], map_location="cpu", weights_only=True, mmap=True).get("scheduler")
            if sched:
                scheduler.load_state_dict(sched)
        trainer_state = torch.load(files["trainer"], weights_only=True) if os.path.isfile(files["trainer"]) else None
        if du.is_rank0():
            log.info("loaded the training state of %s in %.2fs", files["trainer"], time.perf_counter() - t0)
        return trainer_state

