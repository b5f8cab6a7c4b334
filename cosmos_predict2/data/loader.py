"""Data-parallel, resumable DataLoader.

`build_dataloader` is the config target for ``dataloader_train`` / ``dataloader_val``. The trainer
passes `dp_rank` / `dp_world_size` (data-parallel ranks only: context-parallel ranks of one group
share a sample) and `seed`. The order of one epoch is a fixed function of (seed, epoch), split
across ranks, and the loader can save/restore its position mid-epoch:

    state = loader.state_dict()      # {"epoch", "samples_consumed", ...}
    loader2 = build_dataloader(...); loader2.load_state_dict(state)   # continues where it stopped

A sample that fails to load (:class:`~cosmos_predict2.data.errors.DataError`) does not raise inside a
worker: it is listed under ``batch["__bad_samples__"]`` for the trainer to handle (see
:mod:`cosmos_predict2.data.bad_samples`); it still counts as consumed, so a resume stays exact.
"""

from __future__ import annotations

import logging
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cosmos_predict2.data.bad_samples import LoaderIndex, collate_with_bad_samples

log = logging.getLogger(__name__)


class ResumableDistributedSampler(Sampler[int]):
    """Per-rank indices of a (seed, epoch)-determined order, resumable from `samples_consumed`.

    With `drop_last` the order is cut to a multiple of `num_replicas` (ranks are disjoint); without,
    it is padded by wrapping around (every sample seen, ranks equally long).
    """

    def __init__(self, dataset_len: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"dp_rank={rank} must be in [0, dp_world_size={num_replicas})")
        if dataset_len <= 0:
            raise ValueError("dataset is empty")
        self.n, self.num_replicas, self.rank = int(dataset_len), int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        self.start = 0  # samples of this rank already consumed in `epoch`
        if drop_last and self.n < num_replicas:
            raise ValueError(f"dataset of {self.n} samples is smaller than dp_world_size={num_replicas}")

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.drop_last:
            order = order[: self.n - self.n % self.num_replicas]
        else:
            total = -(-self.n // self.num_replicas) * self.num_replicas
            order = (order * (total // self.n + 1))[:total]
        return order[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.num_replicas
        return -(-self.n // self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        start, self.start = self.start, 0  # a resume applies to one pass only
        return (LoaderIndex(i) for i in order[start:])  # bad samples come back as markers, not raised

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "samples_consumed": self.start, "seed": self.seed,
                "dp_world_size": self.num_replicas, "dataset_len": self.n}

    def load_state_dict(self, state: dict) -> None:
        for k, mine in (("seed", self.seed), ("dp_world_size", self.num_replicas), ("dataset_len", self.n)):
            if k in state and state[k] != mine:
                log.warning("sampler state was saved with %s=%s, now %s: the resumed order differs", k, state[k], mine)
        self.epoch = int(state["epoch"])
        self.start = int(state["samples_consumed"])


class ResumableDataLoader(DataLoader):
    """DataLoader that counts consumed samples and advances the epoch after each full pass."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._epoch = 0
        self._consumed = 0  # samples of this rank yielded in the current epoch

    def __iter__(self):
        sampler = self.sampler
        sampler.set_epoch(self._epoch)
        sampler.start = self._consumed
        for batch in super().__iter__():
            self._consumed += self._batch_len(batch)
            yield batch
        self._epoch += 1
        self._consumed = 0

    def _batch_len(self, batch) -> int:
        """Sampler indices behind one batch: bad samples (dropped from the batch) were consumed too."""
        return int(self.batch_size or 1)

    @property
    def epoch(self) -> int:
        return self._epoch

    def state_dict(self) -> dict:
        return {"epoch": self._epoch, "samples_consumed": self._consumed, "seed": self.sampler.seed,
                "dp_world_size": self.sampler.num_replicas, "dataset_len": self.sampler.n}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
        self._epoch, self._consumed = self.sampler.epoch, self.sampler.start


def _worker_init(worker_id: int) -> None:
    """Seed numpy / random in each worker from torch's per-worker seed (differs per worker and epoch)."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def build_dataloader(
    dataset: Dataset,
    batch_size: int = 1,
    num_workers: int = 2,
    shuffle: bool = True,
    drop_last: bool = True,
    pin_memory: bool | None = None,
    persistent_workers: bool | None = None,
    prefetch_factor: int = 2,
    seed: int = 0,
    dp_rank: int = 0,
    dp_world_size: int = 1,
    **ignored_kwargs,
) -> ResumableDataLoader:
    """A :class:`ResumableDataLoader` over `dataset` for data-parallel rank `dp_rank` of `dp_world_size`.

    `pin_memory=None` pins only when CUDA is available; `persistent_workers=None` means True when
    `num_workers > 0`. Unknown keyword arguments (e.g. upstream's `sampler`, `dataloaders`) are logged
    and ignored. Batches collate with :func:`collate_with_bad_samples` (bad samples under "__bad_samples__").
    """
    if ignored_kwargs:
        log.info("build_dataloader ignores arguments: %s", sorted(ignored_kwargs))
    sampler = ResumableDistributedSampler(len(dataset), dp_world_size, dp_rank, shuffle, seed, drop_last)
    if drop_last and len(sampler) < batch_size:
        raise ValueError(f"{type(dataset).__name__} has {len(dataset)} samples: {len(sampler)} per data-parallel rank "
                         f"(dp_world_size={dp_world_size}) is less than batch_size={batch_size}, so drop_last=True "
                         "leaves no batch; lower batch_size or add data")
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    extra = {}
    if num_workers > 0:
        extra = dict(persistent_workers=True if persistent_workers is None else persistent_workers,
                     prefetch_factor=prefetch_factor, worker_init_fn=_worker_init)
    return ResumableDataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                               drop_last=drop_last, pin_memory=pin_memory, collate_fn=collate_with_bad_samples,
                               **extra)
