"""Build step 5: the dataset scan (:mod:`cosmos_predict2.data.scan`) over the loaders' datasets, before the model
is allocated. Rank 0 scans, every rank gets its verdict (``broadcast_object_list``) and raises the same
:class:`~cosmos_predict2.data.scan.DatasetScanError` (printed once by ``launch``).

A dataset with ``preflight=off`` is skipped (one log line); one with ``on_bad_sample="skip"`` has its problems
logged as a warning and the run goes on (those samples are skipped when read).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Sequence

from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)

PROBLEMS_FILE = "dataset_scan_problems.txt"


def _skips(dataset: Any) -> bool:
    return getattr(dataset, "on_bad_sample", "error") == "skip"


def _targets(loaders: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    for name, loader in loaders:
        ds = getattr(loader, "dataset", None)
        if ds is None or not callable(getattr(ds, "scan_checks", None)):
            continue
        if getattr(ds, "preflight", "on") == "off":
            if du.is_rank0():
                log.info("dataset scan skipped for %s.dataset (preflight=off): its files are checked only when a batch "
                         "reads them", name)
            continue
        out.append((name, ds))
    return out


def _verdict(targets: list[tuple[str, Any]], job_dir: Optional[str], progress: bool) -> Optional[str]:
    """Rank 0: the error text to raise on every rank, or None."""
    from cosmos_predict2.data.scan import scan, scan_error

    report = scan([(ds.dataset_dir, ds.scan_checks()) for _, ds in targets], progress=progress)
    log.info(report.summary())
    stop, warn, seen = [], [], set()
    for (_, ds), problems in zip(targets, report.group_problems):
        new = [p for p in problems if p not in seen]
        seen.update(new)
        (warn if _skips(ds) else stop).extend(new)
    if warn:
        log.warning("dataset scan: %d problems in datasets with on_bad_sample=skip (their samples are skipped when "
                    "read):\n%s", len(warn), "\n".join(f"  - {p}" for p in warn[:20]))
    if not stop:
        return None
    full_list = None
    if job_dir and len(stop) > 1:
        full_list = os.path.join(job_dir, PROBLEMS_FILE)
        os.makedirs(job_dir, exist_ok=True)
        with open(full_list, "w", encoding="utf-8") as f:
            f.writelines(f"{p}\n" for p in stop)
    return str(scan_error(stop, report.checks, full_list))


def scan_loaders(loaders: Sequence[tuple[str, Any]], job_dir: Optional[str] = None, progress: bool = True) -> None:
    """Scan the datasets of ``(config key, loader)`` pairs (None loaders skipped); collective: call on every rank."""
    from cosmos_predict2.data.errors import DataError
    from cosmos_predict2.data.scan import DatasetScanError

    targets = _targets([(n, ld) for n, ld in loaders if ld is not None])
    if not targets:
        return
    verdict, crash = None, None  # verdict: None (go on), ("problems", text) or ("crash", text)
    if du.is_rank0():
        try:
            text = _verdict(targets, job_dir, progress)
            verdict = ("problems", text) if text else None
        except DataError as e:  # e.g. a dataset that cannot list its files: the same one-line error on every rank
            verdict = ("problems", f"dataset scan: {e}")
        except Exception as e:  # tell the other ranks, who wait in the broadcast, then fail here with the traceback
            crash, verdict = e, ("crash", f"the dataset scan failed on rank 0 ({type(e).__name__}: {e})")
    if du.get_world_size() > 1:
        verdict = du.broadcast_object(verdict)
    if crash is not None:
        raise crash
    if verdict is None:
        return
    kind, text = verdict
    raise DatasetScanError(text) if kind == "problems" else RuntimeError(text)
