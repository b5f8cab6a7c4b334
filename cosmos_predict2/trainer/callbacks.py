"""Trainer callbacks (``config.trainer.callbacks``: a dict of LazyCalls, instantiated by the launcher).

Hooks (all optional): ``on_train_start(trainer)``, ``on_before_optimizer_step(trainer, iteration)``,
``on_training_step_end(trainer, iteration, metrics)`` (every iteration: ``metrics`` is the step's own dict, whose
0-dim tensors live on the device; reading one waits for the device), ``on_metrics(trainer, iteration, metrics)``
(every ``trainer.logging_iter`` iterations and at the last one: plain numbers averaged over the iterations since the
previous call and over the ranks), ``on_before_metrics(trainer, iteration, metrics)`` (just before ``on_metrics``,
on every rank: a callback adds its own global numbers to ``metrics``, e.g. the action monitor),
``on_validation_end(trainer, iteration, metrics)``, ``on_train_end(trainer, iteration)``. Only rank 0 writes logs.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional

import torch
from torch import nn

from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)


class Callback:
    def on_train_start(self, trainer) -> None: ...

    def on_before_optimizer_step(self, trainer, iteration: int) -> None: ...

    def on_training_step_end(self, trainer, iteration: int, metrics: dict) -> None: ...

    def on_before_metrics(self, trainer, iteration: int, metrics: dict) -> None: ...

    def on_metrics(self, trainer, iteration: int, metrics: dict) -> None: ...

    def on_validation_end(self, trainer, iteration: int, metrics: dict) -> None: ...

    def on_train_end(self, trainer, iteration: int) -> None: ...


# ----------------------------------------------------------------------------- gradient clipping
def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    norm = torch.nn.utils.get_total_norm(grads, 2.0)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return norm.float()


def clip_grad_norm(params: list[nn.Parameter], max_norm: Optional[float]) -> torch.Tensor:
    """Clip the global gradient norm of ``params`` (DTensor shards of any mesh and plain tensors mixed);
    returns the norm before clipping as a 0-dim tensor on the gradients' device (no host sync). ``max_norm``
    None or <= 0 only measures. A non-finite norm makes the clipped gradients non-finite too (the trainer stops)."""
    groups: dict[Any, list[nn.Parameter]] = {}
    for p in params:
        if p.grad is None:
            continue
        key = (p.grad.device_mesh, p.grad.placements) if hasattr(p.grad, "device_mesh") else "plain"
        groups.setdefault(key, []).append(p)
    norms = [_total_norm([p.grad for p in group]) for group in groups.values()]
    if not norms:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]), 2.0)
    if max_norm is not None and max_norm > 0:
        for group in groups.values():
            torch.nn.utils.clip_grads_with_norm_(group, max_norm, total.to(group[0].grad.device))
    return total


def force_finite_(params: list[nn.Parameter]) -> None:
    """Replace NaN and +-Inf gradient entries with 0, in place (each rank its own shards)."""
    for p in params:
        if p.grad is not None:
            grad = p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad
            torch.nan_to_num_(grad, nan=0.0, posinf=0.0, neginf=0.0)


class GradClip(Callback):
    """Clip the global gradient norm to ``clip_norm`` (``clip_grad_norm_`` semantics); records the norm before
    clipping as ``grad_norm``. ``force_finite`` (upstream's default) first sets non-finite gradient entries to 0,
    so a step with a NaN / Inf gradient goes on with the finite rest."""

    def __init__(self, clip_norm: float = 1.0, force_finite: bool = True) -> None:
        self.clip_norm = float(clip_norm)
        self.force_finite = bool(force_finite)

    def on_before_optimizer_step(self, trainer, iteration: int) -> None:
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        if self.force_finite:
            force_finite_(params)
        trainer.step_metrics["grad_norm"] = clip_grad_norm(params, self.clip_norm)


# ----------------------------------------------------------------------------- garbage collection
class ManualGarbageCollection(Callback):
    """Disable automatic ``gc`` and collect every ``every_n`` iterations on all ranks at the same step
    (upstream default 5): avoids ranks pausing for GC at different times and stalling collectives."""

    def __init__(self, every_n: int = 5) -> None:
        self.every_n = max(1, int(every_n))

    def on_train_start(self, trainer) -> None:
        import gc

        gc.disable()
        gc.collect(1)

    def on_training_step_end(self, trainer, iteration: int, metrics: dict) -> None:
        if iteration % self.every_n == 0:
            import gc

            gc.collect(1)

    def on_train_end(self, trainer, iteration: int) -> None:
        import gc

        gc.enable()


# ----------------------------------------------------------------------------- progress bar
class ProgressBar(Callback):
    """tqdm bar on rank 0 with the ETA to ``trainer.max_iter``, and the loss and samples/s of each logging interval."""

    def __init__(self) -> None:
        self.bar = None

    def on_train_start(self, trainer) -> None:
        if not du.is_rank0() or not getattr(trainer.config.trainer, "progress_bar", True):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            return
        self.bar = tqdm(total=trainer.max_iter, initial=trainer.iteration, desc="train", dynamic_ncols=True,
                        unit="it", mininterval=1.0)

    def on_training_step_end(self, trainer, iteration: int, metrics: dict) -> None:
        if self.bar is not None:
            self.bar.update(iteration - self.bar.n)

    def on_metrics(self, trainer, iteration: int, metrics: dict) -> None:
        if self.bar is not None:
            extra = {"act": f"Δ{metrics['action_monitor/gap']:.3g}"} if "action_monitor/gap" in metrics else {}
            self.bar.set_postfix(loss=f"{metrics['loss']:.4f}", samples_s=f"{metrics.get('samples_per_s', 0):.2f}",
                                 **extra, refresh=False)

    def on_train_end(self, trainer, iteration: int) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ----------------------------------------------------------------------------- metrics files
class MetricsLogger(Callback):
    """Rank 0: every ``trainer.logging_iter`` iterations, append the metrics averaged over the interval to
    ``<job>/metrics.jsonl`` (one JSON object per line, validation lines have ``"split": "val"``), log a
    line, and write TensorBoard scalars when ``tensorboard`` (default ``trainer.tensorboard``) is set and
    TensorBoard is installed. At the end of training, plot ``<job>/loss_curve.png`` from the metrics file
    (:mod:`cosmos_predict2.trainer.loss_curve`; a failure is a warning)."""

    def __init__(self, filename: str = "metrics.jsonl", tensorboard: Optional[bool] = None) -> None:
        self.filename = filename
        self.tensorboard = tensorboard
        self.path: Optional[str] = None
        self.writer = None

    def on_train_start(self, trainer) -> None:
        if not du.is_rank0():
            return
        os.makedirs(trainer.job_dir, exist_ok=True)
        self.path = os.path.join(trainer.job_dir, self.filename)
        use_tb = self.tensorboard if self.tensorboard is not None else bool(getattr(trainer.config.trainer, "tensorboard", False))
        if use_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(os.path.join(trainer.job_dir, "tensorboard"))
            except Exception as err:  # tensorboard not installed
                log.warning("TensorBoard requested but unavailable (%s); pip install tensorboard", err)

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            split = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "iteration":
                    self.writer.add_scalar(f"{split}/{key}", value, record["iteration"])
            self.writer.flush()

    def on_metrics(self, trainer, iteration: int, metrics: dict) -> None:
        if self.path is None:
            return
        record = dict(metrics, iteration=iteration, split="train")
        self._write(record)
        parts = [f"iter {iteration}/{trainer.max_iter}", f"loss {record['loss']:.5f}"]
        for key, fmt in (("grad_norm", "{:.3f}"), ("lr", "{:.2e}"), ("iter_per_s", "{:.2f}"),
                         ("samples_per_s", "{:.2f}"), ("tflops_per_device", "{:.4f}"), ("mfu", "{:.3f}"),
                         ("peak_memory_gib", "{:.2f}")):
            if record.get(key) is not None:
                parts.append(f"{key} " + fmt.format(record[key]))
        if record.get("action_monitor/gap") is not None:  # trainer/action_monitor.py
            parts.append(f"act Δ{record['action_monitor/gap']:.4f}±{record['action_monitor/gap_se']:.4f}")
        log.info(" | ".join(parts))

    def on_validation_end(self, trainer, iteration: int, metrics: dict) -> None:
        if self.path is None:
            return
        self._write(dict(metrics, iteration=iteration, split="val"))
        log.info("validation at iter %d: %s", iteration, {k: round(v, 6) for k, v in metrics.items()})

    def on_train_end(self, trainer, iteration: int) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.path is not None:
            from cosmos_predict2.trainer.loss_curve import write_loss_curve_or_warn

            write_loss_curve_or_warn(self.path, os.path.join(os.path.dirname(self.path), "loss_curve.png"))


class WandbLogger(Callback):
    """Weights & Biases logging on rank 0 when ``wandb`` is installed and ``job.wandb_mode`` is not
    ``disabled`` (``online`` / ``offline``); otherwise a no-op that says why."""

    def __init__(self) -> None:
        self.run = None

    def on_train_start(self, trainer) -> None:
        if not du.is_rank0():
            return
        mode = getattr(trainer.config.job, "wandb_mode", "disabled")
        if mode == "disabled":
            log.info("W&B logging off (job.wandb_mode=disabled); set job.wandb_mode=online or offline to enable")
            return
        try:
            import wandb
        except ImportError:
            log.warning("WandbLogger: wandb is not installed (pip install wandb); W&B logging off")
            return
        job = trainer.config.job
        self.run = wandb.init(project=job.project, group=job.group, name=job.name, mode=mode, dir=trainer.job_dir)

    def on_metrics(self, trainer, iteration: int, metrics: dict) -> None:
        if self.run is not None:
            self.run.log({f"train/{k}": v for k, v in metrics.items()}, step=iteration)

    def on_validation_end(self, trainer, iteration: int, metrics: dict) -> None:
        if self.run is not None:
            self.run.log({f"val/{k}": v for k, v in metrics.items()}, step=iteration)

    def on_train_end(self, trainer, iteration: int) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
