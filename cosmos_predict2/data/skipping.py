"""Bad-sample policy shared by the datasets: ``on_bad_sample`` ("error" | "skip") and its skip budget."""

from __future__ import annotations

import logging
from typing import Optional

import torch.utils.data

from cosmos_predict2.data.bad_samples import (DEFAULT_MAX_BAD_SAMPLE_FRACTION, BadSample, LoaderIndex,
                                              check_on_bad_sample)
from cosmos_predict2.data.errors import DataError

log = logging.getLogger(__name__)


class SkippingDataset(torch.utils.data.Dataset):
    """Map-style dataset whose `__getitem__` calls `_load(index)`; a bad sample is never replaced by another.

    ``dataset[i]`` raises the sample's :class:`DataError` (naming file and problem). An index drawn by the
    project's loader (a :class:`~cosmos_predict2.data.bad_samples.LoaderIndex`) gets a picklable
    :class:`~cosmos_predict2.data.bad_samples.BadSample` instead, so the error crosses the DataLoader worker
    boundary intact; the trainer then applies ``on_bad_sample``: "error" stops the run with the file, the
    sample's ``__key__`` and the iteration; "skip" drops the sample (logged in ``<job_dir>/bad_samples.jsonl``)
    until more than ``max_bad_sample_fraction`` of the drawn samples were bad
    (see :mod:`cosmos_predict2.data.bad_samples`).

    While listing files, subclasses drop what is unusable only with "skip" (:meth:`record_skip`: logged,
    counted in ``num_skipped``, messages in ``skipped``).
    """

    on_bad_sample: str = "error"
    max_bad_sample_fraction: float = DEFAULT_MAX_BAD_SAMPLE_FRACTION

    def _init_skip(self, on_bad_sample: str = "error",
                   max_bad_sample_fraction: float = DEFAULT_MAX_BAD_SAMPLE_FRACTION) -> None:
        self.on_bad_sample, self.max_bad_sample_fraction = check_on_bad_sample(
            type(self).__name__, on_bad_sample, max_bad_sample_fraction)
        self.num_skipped = 0
        self.skipped: list[str] = []

    def record_skip(self, err: Exception, what: str = "file") -> None:
        """Log and count an item dropped while listing the dataset (``on_bad_sample="skip"``)."""
        self.num_skipped += 1
        self.skipped.append(str(err))
        log.warning("skipping bad %s (%d skipped so far): %s", what, self.num_skipped, err)

    def _load(self, index: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_key(self, index: int) -> Optional[str]:
        """The ``__key__`` sample `index` would have (named in bad-sample reports); None when unknown."""
        return None

    def __getitem__(self, index: int) -> dict | BadSample:
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {n}")
        try:
            return self._load(int(index))
        except DataError as err:
            if isinstance(index, LoaderIndex):
                return BadSample.from_error(index, self.sample_key(int(index)), err)
            raise
