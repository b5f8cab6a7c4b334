"""Action-sensitivity monitor: does the model use its actions?

At logging iterations (the first one at or after every multiple of ``every_n``, and the last iteration) the
monitor computes the diffusion loss of a FIXED batch three times, with FIXED randomness: with the true actions,
with shuffled actions (every sample gets the actions of another sample of the batch, from another episode: a
derangement, checked on ``__key__``) and with zero actions. The numbers go into the metrics of that logging
iteration (metrics.jsonl, TensorBoard and W&B through the trainer's ``on_metrics`` loggers; the progress line
shows ``act Δ<gap>``)::

    action_monitor/true       mean loss with the true actions
    action_monitor/shuffled   mean loss with another episode's actions
    action_monitor/zero       mean loss with zero actions (zeros after the data's normalisation)
    action_monitor/gap        shuffled - true (a model that uses its actions has gap > 0)
    action_monitor/gap_se     standard error of the gap (of the mean of the per-sample differences)
    action_monitor/zero_gap   zero - true

**Within noise.** With ``d_i = loss_shuffled_i - loss_true_i`` per sample (paired: same sample, conditioning
frames, noise level and noise), ``gap = mean(d)`` and ``se = std(d, ddof=1) / sqrt(n)`` over the ``n`` samples of
all ranks, the gap is within noise when ``gap <= noise_k * se`` (default 2: about a one-sided 98% test) or
``gap <= min_relative_gap * true`` (default 0: off). From iteration ``warn_after`` on, every check whose gap is
within noise logs a WARNING naming the gap; the end of the run logs the last check (a WARNING when within noise).
The curve (true / shuffled / zero loss by iteration) is the ``action_monitor/*`` series of ``<job>/metrics.jsonl``
(every run of the job), drawn in ``<job>/loss_curve.png`` (:mod:`cosmos_predict2.trainer.loss_curve`).

The loss is the model's own ``validation_step`` (the training loss without conditioning-frame augmentation, as
the trainer's validation) of the live net ``model.net``, not the EMA net: the question is what the weights being
trained have learned. The batch: ``batch_size`` samples per data-parallel rank (default the training batch size,
at least 4) of the validation loader's dataset (else the training loader's), picked once with a fixed seed, each
from a different episode; every check draws the same conditioning frames, noise levels and noise from a
generator seeded with ``seed``. The model is in eval mode and the global RNG streams are restored afterwards,
so the training run is the same with and without the monitor. Every rank runs the forwards (a sharded net needs
all of them) on its own samples; the sums are all-reduced.

On by default for models whose conditioner uses actions (``model.config.conditioner.use_action``; config node
``trainer.callbacks.action_monitor``, inert otherwise); ``trainer.callbacks.action_monitor.every_n=0`` or
``trainer.callbacks.action_monitor=null`` turns it off.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

import torch
import torch.distributed as dist

from cosmos_predict2.data.errors import DataError
from cosmos_predict2.inference.action_modes import derangement
from cosmos_predict2.trainer.callbacks import Callback
from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)

__all__ = ["ActionSensitivityMonitor", "action_losses", "gap_stats", "select_samples"]

PREFIX = "action_monitor/"
KEYS = ("true", "shuffled", "zero", "gap", "gap_se", "zero_gap")
MIN_SAMPLES = 4


# ----------------------------------------------------------------------------- the fixed batch
def _episode_key(dataset: Any, index: int) -> Optional[str]:
    """The episode of sample ``index`` (its ``__key__``) without loading it when the dataset can say."""
    key_fn = getattr(dataset, "sample_key", None)
    key = key_fn(index) if callable(key_fn) else None
    if key is None:
        key = dataset[index].get("__key__")
    return None if key is None else str(key)


def select_samples(dataset: Any, count: int, seed: int = 0, dp_rank: int = 0, dp: int = 1,
                   max_candidates: Optional[int] = None) -> list[int]:
    """Up to ``count`` dataset indices of distinct episodes (``__key__``) for data-parallel rank ``dp_rank``:
    a seeded permutation of the dataset, this rank's share (every ``dp``-th index) first, then the rest."""
    n = len(dataset)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()
    order = perm[dp_rank::dp] + [i for k, i in enumerate(perm) if k % dp != dp_rank]
    limit = max_candidates if max_candidates is not None else 50 * count + 100
    chosen, seen = [], set()
    for index in order[:limit]:
        try:
            key = _episode_key(dataset, index)
        except DataError as err:  # a sample that does not load is not a candidate
            log.warning("action monitor: skipping sample %d: %s", index, err)
            continue
        if key is not None and key in seen:
            continue
        seen.add(key if key is not None else f"#{index}")  # a sample without __key__ is its own episode
        chosen.append(index)
        if len(chosen) == count:
            break
    return chosen


# ----------------------------------------------------------------------------- the losses
@torch.no_grad()
def action_losses(model: Any, batch: dict, perm: list[int], seed: int = 0, iteration: int = 0) -> dict:
    """Per-sample losses ``{"true", "shuffled", "zero"}`` (each (B,) float64 on the batch's device) of
    ``model.validation_step`` (else ``training_step``) with the batch's actions, the actions of sample
    ``perm[i]`` and zeros; each call draws its randomness from a CPU generator seeded with ``seed``."""
    key = getattr(model.conditioner, "action_key", "action")
    action_B = batch[key]
    index = torch.as_tensor(perm, device=action_B.device)
    step = getattr(model, "validation_step", None) or model.training_step
    out = {}
    for name, actions in (("true", action_B), ("shuffled", action_B[index]), ("zero", torch.zeros_like(action_B))):
        _, outputs = step({**batch, key: actions}, iteration, generator=torch.Generator().manual_seed(int(seed)))
        out[name] = outputs["loss_per_sample"].detach().double()
    return out


def gap_stats(sums: list[float], noise_k: float, min_relative_gap: float) -> dict:
    """Means, gap, its standard error and ``within_noise`` from ``[n, sum true, sum shuffled, sum zero,
    sum d, sum d^2]`` with ``d = shuffled - true`` per sample (see the module docstring)."""
    n, s_true, s_shuf, s_zero, s_d, s_d2 = sums
    gap = s_d / n
    var = max(s_d2 - n * gap * gap, 0.0) / (n - 1) if n > 1 else float("inf")
    se = math.sqrt(var / n)
    true = s_true / n
    stats = {"true": true, "shuffled": s_shuf / n, "zero": s_zero / n, "gap": gap, "gap_se": se,
             "zero_gap": s_zero / n - true, "n": n}
    stats["within_noise"] = gap <= noise_k * se or gap <= min_relative_gap * true
    return stats


# ----------------------------------------------------------------------------- the callback
class ActionSensitivityMonitor(Callback):
    """See the module docstring. ``every_n`` 0 turns it off; ``warn_after``: first iteration at which a gap
    within noise is warned about; ``batch_size``: samples per data-parallel rank (None: the training batch
    size, at least 4); ``seed``: of the sample choice, the derangement and the noise; ``noise_k`` /
    ``min_relative_gap``: the noise rule."""

    def __init__(self, every_n: int = 200, warn_after: int = 2000, batch_size: Optional[int] = None, seed: int = 0,
                 noise_k: float = 2.0, min_relative_gap: float = 0.0) -> None:
        if int(every_n) < 0 or int(warn_after) < 0 or (batch_size is not None and int(batch_size) < 2):
            raise ValueError(f"ActionSensitivityMonitor: every_n={every_n} and warn_after={warn_after} must be >= 0 "
                             f"and batch_size={batch_size} None or >= 2 (trainer.callbacks.action_monitor)")
        self.every_n, self.warn_after = int(every_n), int(warn_after)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.seed, self.noise_k, self.min_relative_gap = int(seed), float(noise_k), float(min_relative_gap)
        self.active = False
        self.batch: Optional[dict] = None
        self.perm: Optional[list[int]] = None
        self.keys: list[str] = []
        self.history: list[dict] = []
        self._last_check: Optional[int] = None

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer) -> None:
        conditioner = getattr(trainer.model, "conditioner", None)
        self.active = self.every_n > 0 and bool(getattr(conditioner, "use_action", False))
        self._last_check = trainer.iteration  # a resumed run keeps the schedule of the first
        if self.active and du.is_rank0():
            log.info("action monitor: loss with true / shuffled / zero actions on a fixed batch every %d iterations "
                     "(metrics action_monitor/*); warns from iteration %d when the gap is within noise",
                     self.every_n, self.warn_after)

    def on_before_metrics(self, trainer, iteration: int, metrics: dict) -> None:
        if not self.active or not self._due(iteration, trainer.max_iter):
            return
        stats = self.check(trainer, iteration)
        if stats is not None:
            metrics.update({PREFIX + k: stats[k] for k in KEYS})

    def on_train_end(self, trainer, iteration: int) -> None:
        if not self.history or not du.is_rank0():
            return
        last = self.history[-1]
        warn = last["within_noise"] and last["iteration"] >= self.warn_after
        (log.warning if warn else log.info)("action monitor at iteration %d: %s", last["iteration"],
                                            self.describe(last))

    # ------------------------------------------------------------------ checks
    def _due(self, iteration: int, max_iter: int) -> bool:
        if iteration == self._last_check:
            return False
        last = self._last_check or 0
        return iteration == max_iter or iteration // self.every_n > last // self.every_n

    def describe(self, stats: dict) -> str:
        """One line: the three losses, the gap with its standard error and the verdict."""
        if not stats["within_noise"]:
            verdict = "the model uses its actions"
        elif stats["iteration"] >= self.warn_after:
            verdict = "WITHIN NOISE: the model is not using its actions"
        else:
            verdict = f"within noise; warnings start at iteration {self.warn_after}"
        return (f"loss with true actions {stats['true']:.5f}, shuffled {stats['shuffled']:.5f}, "
                f"zero {stats['zero']:.5f}; "
                f"gap {stats['gap']:+.5f} ± {stats['gap_se']:.5f} over {int(stats['n'])} samples ({verdict})")

    def check(self, trainer, iteration: int) -> Optional[dict]:
        """Compute the three losses now (collective: every rank); returns the global statistics."""
        from cosmos_predict2.checkpoint.state import rng_state, set_rng_state
        from cosmos_predict2.trainer.trainer import to_device

        model = trainer.model
        saved = rng_state()  # loading samples and the forwards must not move the training RNG streams
        was_training = model.training
        try:
            if self.batch is None and not self._draw_batch(trainer):
                return None
            model.eval()
            losses = action_losses(model, to_device(self.batch, trainer.device), self.perm, self.seed, iteration)
        finally:
            if was_training:
                model.train()
            set_rng_state(saved)
        d = losses["shuffled"] - losses["true"]
        sums = torch.stack([torch.tensor(float(d.numel()), dtype=torch.float64, device=d.device),
                            losses["true"].sum(), losses["shuffled"].sum(), losses["zero"].sum(), d.sum(),
                            (d * d).sum()])
        if du.get_world_size() > 1:
            sums = sums.to(trainer._reduce_device())
            dist.all_reduce(sums)
            cp = trainer.dims.cp if trainer.dims is not None else 1
            sums = sums / cp  # the ranks of a context-parallel group hold the same samples
        stats = gap_stats(sums.tolist(), self.noise_k, self.min_relative_gap)
        stats["iteration"] = iteration
        self.history.append(stats)
        self._last_check = iteration
        if du.is_rank0() and stats["within_noise"] and iteration >= self.warn_after:
            log.warning(
                "the model is NOT using its actions (true vs shuffled loss gap %.5f ± %.5f at iteration %d, within "
                "noise: <= %g standard errors): check the action scaling / normalisation of the data, that the "
                "actions reach the net (model.config.conditioner.use_action, the net's action embedders), the "
                "conditioner's dropout and the learning rate", stats["gap"], stats["gap_se"], iteration, self.noise_k)
        return stats

    def _draw_batch(self, trainer) -> bool:
        """Pick and load this rank's fixed samples (collective: the ranks agree on the count)."""
        loader = trainer.dataloader_val if trainer.dataloader_val is not None else trainer.dataloader_train
        dataset = getattr(loader, "dataset", None)
        dims = trainer.dims
        dp_rank, dp = (dims.dp_rank, dims.dp) if dims is not None else (0, 1)
        size = self.batch_size or max(MIN_SAMPLES, int(getattr(loader, "batch_size", None) or 1))
        samples = []
        if dataset is not None and hasattr(dataset, "__len__"):
            for index in select_samples(dataset, 2 * size, self.seed, dp_rank, dp):
                try:
                    samples.append(dataset[index])
                except DataError as err:
                    log.warning("action monitor: skipping sample %d: %s", index, err)
                if len(samples) == size:
                    break
        count = len(samples)
        if du.get_world_size() > 1:  # every rank runs the same number of forwards of the same size
            t = torch.tensor([count], dtype=torch.int64, device=trainer._reduce_device())
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
            count = int(t.item())
        if count < 2:
            self.active = False
            if du.is_rank0():
                log.warning("action monitor off: it needs samples of at least 2 episodes (__key__) in the %s data's "
                            "dataset, found %d", "validation" if loader is trainer.dataloader_val else "training",
                            count)
            return False
        samples = samples[:count]
        collate = getattr(loader, "collate_fn", None)
        if collate is None:
            from torch.utils.data import default_collate as collate
        self.batch = collate(samples)
        self.keys = [str(s.get("__key__")) for s in samples]
        self.perm = derangement(count, self.seed)
        return True

