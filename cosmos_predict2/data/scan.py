"""The up-front dataset scan: every file the datasets of a run read, checked before the model is built.

:func:`scan` takes each dataset's checks (``dataset.scan_checks()``, see :mod:`.checks`), answers what it can
from the cache (:mod:`.scan_cache`: per file, by size and mtime_ns and the check's parameters, so a relaunch
opens nothing) and runs the rest on a pool of worker processes (spawn; as many as the CPUs this process may
use, at most 32, fewer for little work; ``$COSMOS_DATASET_SCAN_WORKERS`` overrides, 0 = in this process),
with a tqdm bar. :func:`scan_error` words the problems as one :class:`DatasetScanError`.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Optional, Sequence

from cosmos_predict2.data.checks import Check, Problem, run_check, run_checks
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.scan_cache import ScanCache, cache_dir

log = logging.getLogger(__name__)

WORKERS_ENV = "COSMOS_DATASET_SCAN_WORKERS"
MAX_WORKERS = 32
CHECKS_PER_WORKER = 512  # ~2 s of checks: below that a spawned process (~0.5-1 s to start) does not pay
SHOWN = 20  # problems listed in the error message


class DatasetScanError(DataError):
    """The scan's problems, identical on every rank: printed once (rank 0)."""

    print_once = True

    def __init__(self, text: str):
        super().__init__(None, text)


@dataclasses.dataclass
class ScanReport:
    """Outcome of :func:`scan`: per dataset (``groups``, in the order given) the problems of its files."""

    checks: int = 0
    by_kind: dict = dataclasses.field(default_factory=dict)
    cache_hits: int = 0
    scanned: int = 0  # checks actually run (files opened)
    workers: int = 0
    seconds: float = 0.0
    problems: list = dataclasses.field(default_factory=list)  # every Problem, each once
    group_problems: list = dataclasses.field(default_factory=list)  # [list of Problem] per group
    cache_files: list = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.by_kind.items()))
        where = f" ({', '.join(self.cache_files)})" if self.cache_files else " (cache off)"
        pool = f" on {self.workers} processes" if self.workers > 1 else ""
        return (f"dataset scan: {self.checks} files ({kinds}) in {self.seconds:.1f} s: {len(self.problems)} "
                f"problem{'' if len(self.problems) == 1 else 's'}; "
                f"{self.cache_hits} answered from the cache{where}, {self.scanned} checked{pool}")


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def num_workers(pending: int, requested: Optional[int] = None) -> int:
    """Worker processes for ``pending`` checks (0 or 1: run them in this process)."""
    if requested is None and os.environ.get(WORKERS_ENV, "").strip():
        requested = int(os.environ[WORKERS_ENV])
    if requested is not None:
        return max(0, min(int(requested), pending))
    return max(0, min(_available_cpus(), MAX_WORKERS, -(-pending // CHECKS_PER_WORKER)))


def _stat(check: Check) -> Optional[os.stat_result]:
    if check.kind == "failed":
        return None
    try:
        return os.stat(check.path)
    except OSError:  # missing: checked (cheaply) every time
        return None


def _run(pending: list, workers: int, bar) -> list:
    """Results of ``pending`` in order, on ``workers`` processes (<= 1: here)."""
    if workers <= 1:
        out = []
        for c in pending:
            out.append(run_check(c))
            bar.update(1)
        return out
    size = max(1, min(64, len(pending) // (workers * 8)))
    chunks = [(i, pending[i:i + size]) for i in range(0, len(pending), size)]
    out: list = [None] * len(pending)
    ctx = multiprocessing.get_context("spawn")  # never fork a process that holds threads / a process group
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(run_checks, chunk): (i, len(chunk)) for i, chunk in chunks}
        for fut in as_completed(futures):
            i, n = futures[fut]
            out[i:i + n] = fut.result()
            bar.update(n)
    return out


def scan(groups: Sequence[tuple[str, Sequence[Check]]], workers: Optional[int] = None, progress: bool = False,
         cache_folder: Optional[str] = "default") -> ScanReport:
    """Run the checks of each ``(dataset root, checks)`` group (a file listed twice is checked once).

    ``cache_folder``: "default" (:func:`~.scan_cache.cache_dir`), a folder, or None (no cache)."""
    t0 = time.perf_counter()
    folder = cache_dir() if cache_folder == "default" else cache_folder
    caches: dict[str, ScanCache] = {}
    owner: dict[Check, ScanCache] = {}
    members: dict[Check, list[int]] = {}
    for g, (root, checks) in enumerate(groups):
        cache = caches.setdefault(os.path.abspath(root), ScanCache(root, folder))
        for c in checks:
            owner.setdefault(c, cache)
            members.setdefault(c, []).append(g)
    rep = ScanReport(checks=len(owner), group_problems=[[] for _ in groups])
    for c in owner:
        rep.by_kind[c.kind] = rep.by_kind.get(c.kind, 0) + 1
    results: dict[Check, Optional[Problem]] = {}
    stats, pending = {}, []
    for c, cache in owner.items():
        stats[c] = _stat(c)
        hit, problem = cache.get(c.key(), stats[c])
        if hit:
            results[c] = problem
        else:
            pending.append(c)
    rep.cache_hits, rep.scanned = len(results), len(pending)
    rep.workers = num_workers(len(pending), workers)
    from tqdm import tqdm

    with tqdm(total=len(owner), initial=len(results), desc="dataset scan", unit="file", disable=not progress,
              dynamic_ncols=True) as bar:
        for c, problem in zip(pending, _run(pending, rep.workers, bar)):
            results[c] = problem
            owner[c].put(c.key(), stats[c], problem)
    for cache in caches.values():
        cache.save()
    rep.cache_files = sorted({cache.path for cache in caches.values() if cache.path})
    for c in owner:  # in listing order
        if results[c] is not None:
            rep.problems.append(results[c])
            for g in members[c]:
                rep.group_problems[g].append(results[c])
    rep.seconds = time.perf_counter() - t0
    return rep


def scan_error(problems: Sequence[Problem], checked: int, full_list: Optional[str] = None) -> DatasetScanError:
    """One error for all problems: a single line for one, else a list of the first :data:`SHOWN` and the count."""
    if len(problems) == 1:
        return DatasetScanError(f"dataset scan: {problems[0]}")
    lines = [f"dataset scan: {len(problems)} problems in the {checked} files the datasets read (nothing was built; "
             "fix or remove these files, then relaunch):"]
    lines += [f"  - {p}" for p in problems[:SHOWN]]
    if len(problems) > SHOWN:
        lines.append(f"  ... and {len(problems) - SHOWN} more" + (f" (all of them: {full_list})" if full_list else ""))
    return DatasetScanError("\n".join(lines))
