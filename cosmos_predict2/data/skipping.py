"""Skip policy shared by the datasets: raise on bad samples, or skip them loudly and count them."""

from __future__ import annotations

import logging

import torch.utils.data

from cosmos_predict2.data.errors import DataError

log = logging.getLogger(__name__)


class SkippingDataset(torch.utils.data.Dataset):
    """Map-style dataset whose `__getitem__` calls `_load(index)`.

    With ``skip_bad_samples=False`` a :class:`DataError` propagates (naming file and problem).
    With ``skip_bad_samples=True`` the bad sample is logged, counted in ``num_skipped`` and recorded in
    ``skipped`` (a list of messages), and the next index is tried (deterministically), up to
    ``max_skip_tries`` times. Counts are per process (each DataLoader worker keeps its own).
    """

    skip_bad_samples: bool = False
    max_skip_tries: int = 100

    def _init_skip(self, skip_bad_samples: bool, max_skip_tries: int = 100) -> None:
        self.skip_bad_samples = bool(skip_bad_samples)
        self.max_skip_tries = int(max_skip_tries)
        self.num_skipped = 0
        self.skipped: list[str] = []

    def record_skip(self, err: Exception, what: str = "sample") -> None:
        self.num_skipped += 1
        self.skipped.append(str(err))
        log.warning("skipping bad %s (%d skipped so far): %s", what, self.num_skipped, err)

    def _load(self, index: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {n}")
        if not self.skip_bad_samples:
            return self._load(index)
        for attempt in range(min(self.max_skip_tries, n)):
            i = (index + attempt) % n
            try:
                return self._load(i)
            except DataError as e:
                self.record_skip(e, f"sample {i}")
        raise DataError(None, f"{type(self).__name__}: {min(self.max_skip_tries, n)} consecutive samples "
                              f"from index {index} were bad; last: {self.skipped[-1] if self.skipped else '?'}",
                        "run `python -m scripts.validate_dataset <dataset_dir>` to list every problem")
