"""The training loop.

Per iteration: ``grad_accum_iter`` micro-batches (FSDP gradient sync only on the last one) ->
``model.training_step`` -> backward -> callbacks' ``on_before_optimizer_step`` (gradient clipping) ->
optimizer and scheduler step -> EMA update -> metrics / validation / checkpoint -> profiler step.

Ordinary steps never wait for the device: losses and tensor metrics stay there (:mod:`.step_log`) until one
reduction across ranks every ``trainer.logging_iter`` iterations, at the last iteration, and before each validation
and checkpoint save. A non-finite loss (``trainer.detect_nan``) or gradient norm found there stops every rank with
:class:`NonFiniteLossError` naming the iteration and the ``__key__``s of the samples in the offending batch; no
checkpoint is written after such a step. Callbacks' ``on_metrics`` get the reduced numbers.

Samples that fail to load arrive as ``batch["__bad_samples__"]`` (:mod:`cosmos_predict2.data.bad_samples`):
the dataset's ``on_bad_sample`` either stops the run with a one-line :class:`DataError` naming the file, the
``__key__`` and the iteration, or skips them (listed in ``<job_dir>/bad_samples.jsonl``). Every rank stops
together: a rank must not start the next collectives while another stops, so with several ranks they agree on
each micro-batch with one tiny all-reduce over a CPU (gloo) group, which never waits for the device.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Iterator, Optional

import torch
import torch.distributed as dist
from torch import nn

from cosmos_predict2.checkpoint.state import rng_state, set_rng_state
from cosmos_predict2.data.bad_samples import BadSamplePolicy, pop_bad_samples
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.parallel.fsdp import set_gradient_sync
from cosmos_predict2.pipelines.model_config import model_config
from cosmos_predict2.trainer import metrics as tm
from cosmos_predict2.trainer.iteration_watchdog import iteration_watchdog
from cosmos_predict2.trainer.profiling import profiling
from cosmos_predict2.trainer.step_log import NonFiniteLossError, Step, StepLog
from cosmos_predict2.utils import distributed as du

__all__ = ["NonFiniteLossError", "Trainer", "seed_all"]

log = logging.getLogger(__name__)


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batch_keys(batch: Any) -> list:
    keys = batch.get("__key__") if isinstance(batch, dict) else None
    if keys is None:
        return []
    return list(keys) if isinstance(keys, (list, tuple)) else [keys]


def batch_size_of(batch: Any) -> int:
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                return int(value.shape[0])
    return 1


def stop_loader_workers(loader: Any, *iterators: Any) -> None:
    """Stop the worker processes of ``loader``'s iterators: after an error, nothing they print follows it."""
    for it in (*iterators, getattr(loader, "_iterator", None)):
        shutdown = getattr(it, "_shutdown_workers", None)  # idempotent; absent without workers
        if shutdown is not None:
            shutdown()
    if getattr(loader, "_iterator", None) is not None:
        loader._iterator = None  # a persistent-workers loader would otherwise reuse the stopped iterator


class Trainer:
    """Runs ``max_iter`` iterations of a (parallelised) model; see the module docstring."""

    def __init__(self, config, model: nn.Module, optimizer, scheduler, dataloader_train: Iterable,
                 dataloader_val: Optional[Iterable] = None, checkpointer=None, callbacks: Optional[list] = None,
                 dims=None, job_dir: Optional[str] = None, device: Optional[torch.device] = None) -> None:
        self.config = config
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.dataloader_train = dataloader_train
        self.dataloader_val = dataloader_val
        self.checkpointer = checkpointer
        self.callbacks = list(callbacks or [])
        self.dims = dims
        self.job_dir = job_dir or config.job.path_local
        self.device = device or du.current_device()
        self.max_iter = int(config.trainer.max_iter)
        self.grad_accum = max(1, int(config.trainer.grad_accum_iter))
        self.iteration = 0
        self.start_iteration = 0  # where this run started (after a resume: the checkpoint's iteration)
        self.step_metrics: dict[str, Any] = {}  # this step's metrics (callbacks add to it; tensors stay on the device)
        self.loss_history: list[float] = []  # global mean loss per iteration (rank 0 and others alike)
        self.step_log = StepLog(self._reduce_device(), bool(config.trainer.detect_nan))
        self._window: list[dict] = []  # reduced per-iteration records since the last on_metrics
        self._window_time = 0.0  # seconds of training steps (and their reductions) in the window
        self._data_iter: Optional[Iterator] = None
        self._bad_sample_policies: dict[str, BadSamplePolicy] = {}
        self._pending_rng: Optional[dict] = None
        # the per-micro-batch data agreement runs on the host: a gloo group beside NCCL (collective: every rank)
        nccl = du.get_world_size() > 1 and dist.get_backend() == "nccl"
        self._agree_group = dist.new_group(backend="gloo") if nccl else None
        self._own_loader_generator(dataloader_train)
        self._other_params = [p for n, p in model.named_parameters() if p.requires_grad and not hasattr(p, "device_mesh")]
        net = getattr(model, "net", model)
        self._flops_shape = tm.dit_shape(net)
        has_model_config = config.model is not None and "config" in config.model  # absent for bare nn.Modules
        self._recompute = has_model_config and model_config(config).activation_checkpointing != "none"
        self._peak = tm.peak_tflops()

    def _own_loader_generator(self, loader) -> None:
        """Give the loader its own generator: creating an epoch iterator then draws the worker base seed from
        it instead of the global RNG, so a resumed run's global RNG stream matches the uninterrupted run's."""
        if hasattr(loader, "generator") and getattr(loader, "generator", None) is None:
            dp_rank = self.dims.dp_rank if self.dims is not None else 0
            loader.generator = torch.Generator().manual_seed(int(self.config.trainer.seed) * 7919 + dp_rank)

    # ------------------------------------------------------------------ callbacks
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    # ------------------------------------------------------------------ state
    def trainer_state(self) -> dict:
        loader_state = self.dataloader_train.state_dict() if hasattr(self.dataloader_train, "state_dict") else {}
        dp = self.dims.dp if self.dims is not None else 1
        return {"iteration": self.iteration, "grad_scaler": {}, "dataloader": loader_state, "dp_world_size": dp}

    def load_trainer_state(self, state: Optional[dict]) -> None:
        """Restore iteration, data position (rescaled to this data-parallel size) and this rank's RNG."""
        if not state:
            return
        self.iteration = self.start_iteration = int(state.get("iteration", 0))
        loader_state = dict(state.get("dataloader") or {})
        dp_new = self.dims.dp if self.dims is not None else 1
        dp_old = int(state.get("dp_world_size", loader_state.get("dp_world_size", dp_new)) or dp_new)
        if loader_state and hasattr(self.dataloader_train, "load_state_dict"):
            if dp_old != dp_new:
                consumed = int(loader_state.get("samples_consumed", 0)) * dp_old
                if consumed % dp_new:
                    log.warning("data position %d samples is not divisible by the new data-parallel size %d", consumed,
                                dp_new)
                loader_state["samples_consumed"] = consumed // dp_new
                loader_state["dp_world_size"] = dp_new
            self.dataloader_train.load_state_dict(loader_state)
        rng = state.get("rng") or []
        if int(state.get("world_size", -1)) == du.get_world_size() and len(rng) > du.get_rank():
            self._pending_rng = rng[du.get_rank()]  # restored after the data iterator is created
        else:
            self._pending_rng = None
            self.reseed(self.iteration)

    def reseed(self, iteration: int) -> None:
        """Deterministic per-data-parallel-rank RNG (context-parallel ranks must draw the same noise)."""
        dp_rank = self.dims.dp_rank if self.dims is not None else 0
        seed_all(int(self.config.trainer.seed) + 1000 * dp_rank + iteration)

    # ------------------------------------------------------------------ data
    def _draw(self) -> Any:
        """The next training batch as the loader yields it (a new epoch after the last batch)."""
        if self._data_iter is None:
            self._data_iter = iter(self.dataloader_train)
        try:
            return next(self._data_iter)
        except StopIteration:
            self._data_iter = iter(self.dataloader_train)
            return next(self._data_iter)

    def _next_batch(self) -> Any:
        """The next training batch with at least one good sample (bad ones handled by ``on_bad_sample``)."""
        batch, err = self._good_batch(self._draw, self._bad_sample_policy("dataloader_train"), self.iteration + 1)
        self._agree_on_data(err, self.iteration + 1)
        return batch

    def _bad_sample_policy(self, loader_name: str) -> BadSamplePolicy:
        if loader_name not in self._bad_sample_policies:
            self._bad_sample_policies[loader_name] = BadSamplePolicy.for_loader(
                getattr(self, loader_name), loader_name, self.job_dir, du.get_rank())
        return self._bad_sample_policies[loader_name]

    @staticmethod
    def _good_batch(draw, policy: BadSamplePolicy, iteration: int) -> tuple[Any, Optional[DataError]]:
        """``(batch, None)``: the next batch of ``draw()`` holding a good sample (batch None once ``draw()``
        returns None); ``(None, error)`` when ``policy`` stops the run. Batches of only bad samples are skipped."""
        while True:
            batch = draw()
            if batch is None:
                return None, None
            bad = pop_bad_samples(batch)
            num_good = 0 if isinstance(batch, dict) and not batch else batch_size_of(batch)
            err = policy.update(bad, num_good, iteration)
            if err is not None:
                return None, err
            if num_good:
                return batch, None

    def _agree_on_data(self, err: Optional[DataError], iteration: int, exhausted: bool = False) -> bool:
        """Raise on every rank when any rank has a data error (one rank raising alone would leave the others
        waiting in a collective): ``err`` on its rank, a line naming that rank on the others. Returns whether
        any rank's data is ``exhausted`` (validation)."""
        bad_rank, any_exhausted = (du.get_rank() if err is not None else -1), bool(exhausted)
        if du.get_world_size() > 1:
            flags = torch.tensor([bad_rank + 1, int(exhausted)], dtype=torch.int64)  # host memory: no device sync
            dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self._agree_group)
            worst_rank, any_exhausted = flags.tolist()
            bad_rank = worst_rank - 1
        if err is not None:
            raise err
        if bad_rank >= 0:
            raise DataError(None, f"stopping at iteration {iteration}: rank {bad_rank} hit bad data (its error line "
                                  f"names the file)")
        return bool(any_exhausted)

    # ------------------------------------------------------------------ main loop
    def train(self) -> list[float]:
        self.model.train()
        self._data_iter = iter(self.dataloader_train)  # creating it draws from the RNG: restore state after
        if self._pending_rng is not None:
            set_rng_state(self._pending_rng)
            self._pending_rng = None
        self._call("on_train_start")
        last_saved = self.iteration
        try:
            with iteration_watchdog(int(self.config.trainer.timeout_period), lambda: self.iteration) as arm, \
                    profiling(self.config.trainer.profiling, self.job_dir, self.iteration) as profile_step:
                while self.iteration < self.max_iter:
                    arm()  # one iteration, with its validation and save, within trainer.timeout_period
                    self.train_step()
                    it = self.iteration
                    if self._should_validate(it):
                        self.validate()
                    if self.checkpointer is not None and it % int(self.config.checkpoint.save_iter) == 0:
                        self.save()
                        last_saved = it
                    profile_step()
            self._log_metrics()
            if self.checkpointer is not None and last_saved != self.iteration:
                self.save()
        except BaseException:
            stop_loader_workers(self.dataloader_train, self._data_iter)
            self._data_iter = None
            raise
        finally:
            if self.checkpointer is not None:
                self.checkpointer.finalize()
            self._call("on_train_end", self.iteration)
        return self.loss_history

    def _should_validate(self, it: int) -> bool:
        t = self.config.trainer
        return bool(t.run_validation) and self.dataloader_val is not None and it % max(1, int(t.validation_iter)) == 0

    def save(self) -> None:
        """Checkpoint (after the pending steps' non-finite check: weights of a NaN step are never written)."""
        self._reduce_pending()
        self.checkpointer.save(self.model, self.optimizer, self.scheduler, self.trainer_state(), self.iteration)

    def train_step(self) -> None:
        """One optimizer step; records its losses and tensor metrics without waiting for the device."""
        t0 = time.perf_counter()
        self.step_metrics = {}
        self.optimizer.zero_grad(set_to_none=True)
        nets = [m for m in (getattr(self.model, "net", None),) if m is not None]
        losses, keys = [], []
        samples = tokens = 0
        for micro in range(self.grad_accum):
            batch = to_device(self._next_batch(), self.device)
            for net in nets:
                set_gradient_sync(net, micro == self.grad_accum - 1)
            loss, outputs = self.model.training_step(batch, self.iteration)
            (loss / self.grad_accum).backward()
            losses.append(loss.detach().float())
            keys.append(batch_keys(batch))
            samples += batch_size_of(batch)
            # the latents the net trained on (a model may cut the loaded window, e.g. rollout conditioning)
            trained = {"latent": outputs["x0"]} if isinstance(outputs.get("x0"), torch.Tensor) else batch
            tokens = tm.tokens_per_sample(trained, self._flops_shape[3], self._flops_shape[4])
        self._sync_other_grads()
        self._call("on_before_optimizer_step", self.iteration)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.iteration += 1
        if hasattr(self.model, "ema_update"):
            beta = self.model.ema_update(self.iteration)
            if beta is not None:
                self.step_metrics["ema_beta"] = float(beta)
        self.step_metrics["lr"] = float(self.optimizer.param_groups[0]["lr"])
        tensors = {k: v for k, v in self.step_metrics.items() if isinstance(v, torch.Tensor)}
        host = {k: v for k, v in self.step_metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        dp = self.dims.dp if self.dims is not None else 1
        host["samples"] = samples * dp
        host["flops"] = (tm.train_flops_per_sample(*self._flops_shape[:3], tokens, self._recompute) * samples * dp
                         if tokens else 0.0)
        self.step_log.add(Step(self.iteration, torch.stack(losses), keys, tensors, host))
        self._window_time += time.perf_counter() - t0
        if self.iteration % max(1, int(self.config.trainer.logging_iter)) == 0 or self.iteration == self.max_iter:
            self._log_metrics()
        self._call("on_training_step_end", self.iteration, self.step_metrics)

    # ------------------------------------------------------------------ reductions / metrics
    def _reduce_pending(self) -> None:
        """Reduce the recorded steps (one collective; raises on a non-finite loss / gradient norm)."""
        t0 = time.perf_counter()
        records = self.step_log.reduce()
        self._window_time += time.perf_counter() - t0  # the wait for the device belongs to those steps
        self.loss_history.extend(r["loss"] for r in records)
        self._window.extend(records)

    def _log_metrics(self) -> None:
        """Reduce, then hand the averages over the window to the callbacks' ``on_metrics``."""
        self._reduce_pending()
        if not self._window:
            return
        records, dt = self._window, max(self._window_time, 1e-9)
        self._window, self._window_time = [], 0.0
        n = len(records)
        m: dict[str, float] = {}
        for key in records[-1]:
            if key not in ("iteration", "samples", "flops", "lr"):
                values = [r[key] for r in records if key in r]
                m[key] = sum(values) / len(values)
        m["lr"] = records[-1]["lr"]
        m["iter_time_s"] = dt / n
        m["iter_per_s"] = n / dt
        m["samples_per_s"] = sum(r["samples"] for r in records) / dt
        flops = sum(r["flops"] for r in records)
        if flops:
            m["tflops_per_device"] = flops / dt / du.get_world_size() / 1e12
            if self._peak:
                m["mfu"] = m["tflops_per_device"] / self._peak
        mem = tm.peak_memory_gib()
        if mem is not None:
            m["peak_memory_gib"] = mem
        self._call("on_before_metrics", self.iteration, m)  # callbacks add their numbers (every rank)
        self._call("on_metrics", self.iteration, m)

    def _reduce_device(self) -> torch.device:
        return self.device if (du.is_initialized() and dist.get_backend() == "nccl") else torch.device("cpu")

    def _global_mean(self, value: torch.Tensor) -> float:
        if du.get_world_size() == 1:
            return float(value)
        t = value.to(self._reduce_device(), torch.float64).reshape(1)
        dist.all_reduce(t)
        return float(t.item()) / du.get_world_size()

    def _sync_other_grads(self) -> None:
        """Average the gradients of parameters FSDP does not manage (e.g. a loss log-variance head)."""
        if du.get_world_size() == 1:
            return
        for p in self._other_params:
            if p.grad is not None:
                g = p.grad.to(self._reduce_device())
                dist.all_reduce(g)
                p.grad.copy_(g / du.get_world_size())

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict:
        self._reduce_pending()
        max_batches = self.config.trainer.max_val_iter
        step = getattr(self.model, "validation_step", None) or self.model.training_step
        total, n = torch.zeros((), dtype=torch.float64, device=self.device), 0
        saved = rng_state()  # validation must not change the training RNG stream (resume equality)
        seed_all(int(self.config.trainer.seed) + 12345 + (self.dims.dp_rank if self.dims else 0))
        self.model.eval()
        policy = self._bad_sample_policy("dataloader_val")
        batches = None
        try:
            batches = iter(self.dataloader_val)
            while max_batches is None or n < int(max_batches):
                batch, err = self._good_batch(lambda: next(batches, None), policy, self.iteration)
                if self._agree_on_data(err, self.iteration, exhausted=batch is None):
                    break
                loss, _ = step(to_device(batch, self.device), self.iteration)
                total += loss.detach().double()
                n += 1
        except BaseException:
            stop_loader_workers(self.dataloader_val, batches)
            raise
        finally:
            self.model.train()
            set_rng_state(saved)
        metrics = {"loss": self._global_mean(total / max(n, 1)), "num_batches": float(n)}
        self._call("on_validation_end", self.iteration, metrics)
        return metrics


def seed_all(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
