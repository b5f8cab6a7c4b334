"""Bad samples across the DataLoader worker boundary, and the ``on_bad_sample`` policy applied to them.

A :class:`~cosmos_predict2.data.errors.DataError` raised inside a DataLoader worker reaches the main process
as torch's ``RuntimeError: Caught DataError in DataLoader worker process 0`` plus a long traceback. So the
project's loader never lets one cross that boundary:

1. its sampler yields :class:`LoaderIndex` (an ``int``); :class:`~cosmos_predict2.data.skipping.SkippingDataset`
   answers such an index whose sample is bad with a picklable :class:`BadSample` instead of raising (a plain
   ``dataset[i]`` still raises the DataError, so no marker reaches code that reads a dataset directly);
2. :func:`collate_with_bad_samples` collates the good samples and lists the bad ones, as plain dicts, under
   ``batch["__bad_samples__"]`` (a batch of only bad samples is ``{"__bad_samples__": [...]}``);
3. the trainer pops that list (:func:`pop_bad_samples`) and hands it to a :class:`BadSamplePolicy`, which
   turns it into the one-line DataError that stops the run (``on_bad_sample="error"``) or skips the samples,
   appending one JSON line each to ``<job_dir>/bad_samples.jsonl`` (``on_bad_sample="skip"``).

Skip budget: a rank stops once it has skipped more than ``max(MIN_SKIPS_ALLOWED, max_bad_sample_fraction x
samples drawn)`` samples (drawn = good + bad, on that rank, in this run), so a first bad sample early in a
run is skipped while a dataset that is mostly broken still stops within a few batches.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Optional

from torch.utils.data import default_collate

from cosmos_predict2.data.errors import DataError

log = logging.getLogger(__name__)

BAD_SAMPLES_KEY = "__bad_samples__"
ON_BAD_SAMPLE = ("error", "skip")
DEFAULT_MAX_BAD_SAMPLE_FRACTION = 0.01
MIN_SKIPS_ALLOWED = 10  # skips always allowed per rank before the fraction applies
JSONL_NAME = "bad_samples.jsonl"


class LoaderIndex(int):
    """A dataset index drawn by the project's loader: a bad sample comes back as a :class:`BadSample`."""

    __slots__ = ()


@dataclasses.dataclass(frozen=True)
class BadSample:
    """A sample whose loading raised a DataError (picklable: crosses the worker boundary)."""

    index: int
    key: Optional[str]
    path: Optional[str]
    problem: str
    fix: Optional[str] = None

    @classmethod
    def from_error(cls, index: int, key: Optional[str], err: DataError) -> "BadSample":
        return cls(int(index), None if key is None else str(key), err.path, _one_line(err.problem), err.fix)

    def as_dict(self) -> dict:
        """Plain dict: index, key, path, problem, fix and ``error`` (the DataError's one-line message)."""
        return dict(dataclasses.asdict(self), error=str(DataError(self.path, self.problem, self.fix)))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_on_bad_sample(owner: str, on_bad_sample: str, max_bad_sample_fraction: float) -> tuple[str, float]:
    """Validated ``(on_bad_sample, max_bad_sample_fraction)``; a bad value is a ValueError naming key and choices."""
    if on_bad_sample not in ON_BAD_SAMPLE:
        raise ValueError(f"{owner}: on_bad_sample={on_bad_sample!r} is not one of {', '.join(ON_BAD_SAMPLE)} "
                         "(fix: e.g. dataloader_train.dataset.on_bad_sample=skip)")
    try:
        fraction = float(max_bad_sample_fraction)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{owner}: max_bad_sample_fraction={max_bad_sample_fraction!r} must be a number in [0, 1) "
                         "(fix: e.g. dataloader_train.dataset.max_bad_sample_fraction="
                         f"{DEFAULT_MAX_BAD_SAMPLE_FRACTION})")
    return on_bad_sample, fraction


# ----------------------------------------------------------------------------- worker side: collate
def collate_with_bad_samples(samples: list) -> Any:
    """``default_collate`` of the good samples; the bad ones as dicts under ``batch["__bad_samples__"]``."""
    good = [s for s in samples if not isinstance(s, BadSample)]
    bad = [s.as_dict() for s in samples if isinstance(s, BadSample)]
    batch = default_collate(good) if good else {}
    if bad:
        if not isinstance(batch, dict):
            raise TypeError(f"bad samples need dict samples to be reported, got {type(batch).__name__}")
        batch[BAD_SAMPLES_KEY] = bad
    return batch


# ----------------------------------------------------------------------------- main-process side: policy
def pop_bad_samples(batch: Any) -> list[dict]:
    """Remove and return the bad-sample list of a collated batch ([] when it has none)."""
    if not isinstance(batch, dict):
        return []
    return list(batch.pop(BAD_SAMPLES_KEY, None) or [])


class BadSamplePolicy:
    """One rank's handling of the bad samples of one loader (``on_bad_sample`` of its dataset).

    :meth:`update` returns the DataError that must stop the run (all ranks agree first; see the trainer),
    or None; with "skip" it logs a warning and appends ``{"iteration", "rank", "key", "index", "path",
    "error", "split"}`` to ``<job_dir>/bad_samples.jsonl`` for each skipped sample.
    """

    def __init__(self, on_bad_sample: str = "error", max_bad_sample_fraction: float = DEFAULT_MAX_BAD_SAMPLE_FRACTION,
                 job_dir: Optional[str] = None, loader_name: str = "dataloader_train", rank: int = 0):
        self.on_bad_sample, self.max_fraction = check_on_bad_sample(loader_name, on_bad_sample, max_bad_sample_fraction)
        self.jsonl = os.path.join(job_dir or ".", JSONL_NAME)
        self.loader_name = loader_name
        self.split = "val" if loader_name == "dataloader_val" else "train"
        self.rank = int(rank)
        self.drawn = 0
        self.skipped = 0

    @classmethod
    def for_loader(cls, loader: Any, loader_name: str, job_dir: Optional[str], rank: int) -> "BadSamplePolicy":
        """The policy of ``loader.dataset`` (datasets without one: "error")."""
        ds = getattr(loader, "dataset", None)
        return cls(getattr(ds, "on_bad_sample", "error"),
                   getattr(ds, "max_bad_sample_fraction", DEFAULT_MAX_BAD_SAMPLE_FRACTION), job_dir, loader_name, rank)

    def allowed(self) -> float:
        return max(MIN_SKIPS_ALLOWED, self.max_fraction * self.drawn)

    def update(self, bad: list[dict], num_good: int, iteration: int) -> Optional[DataError]:
        """Account for one drawn batch (``num_good`` good samples + ``bad``); the error that stops the run or None."""
        self.drawn += num_good + len(bad)
        if not bad:
            return None
        if self.on_bad_sample == "error":
            return self._stop_error(bad[0], iteration)
        for b in bad:
            self._record(b, iteration)
        return self._budget_error(bad[-1], iteration) if self.skipped > self.allowed() else None

    def _stop_error(self, b: dict, iteration: int) -> DataError:
        where = "validation at iteration" if self.split == "val" else "iteration"
        fix = (b["fix"] + "; or " if b.get("fix") else "") + \
            f"skip bad samples with {self.loader_name}.dataset.on_bad_sample=skip"
        return DataError(b["path"], f"{b['problem']} (sample __key__={b['key']!r}, dataset index {b['index']}, "
                                    f"{where} {iteration})", fix)

    def _budget_error(self, last: dict, iteration: int) -> DataError:
        return DataError(self.jsonl, f"{self.skipped} bad samples skipped of {self.drawn} drawn on rank {self.rank} by "
                                     f"iteration {iteration} ({self.split}), more than max_bad_sample_fraction="
                                     f"{self.max_fraction} (and the {MIN_SKIPS_ALLOWED} always allowed); the last: "
                                     f"{last['path']}: {last['problem']}",
                         "repair or remove the files listed in this file, or raise "
                         f"{self.loader_name}.dataset.max_bad_sample_fraction")

    def _record(self, b: dict, iteration: int) -> None:
        self.skipped += 1
        rec = {"iteration": iteration, "rank": self.rank, "key": b["key"], "index": b["index"], "path": b["path"],
               "error": b["error"], "split": self.split}
        os.makedirs(os.path.dirname(os.path.abspath(self.jsonl)), exist_ok=True)
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        log.warning("skipping bad sample __key__=%r (index %d, iteration %d, %s; %d skipped on rank %d, listed in %s): "
                    "%s", b["key"], b["index"], iteration, self.split, self.skipped, self.rank, self.jsonl, b["error"])
