"""``trainer.profiling``: torch.profiler traces and CUDA memory snapshots of the training loop (upstream's schedule).

With ``enable_profiling``, every cycle of ``profile_freq`` iterations waits, warms up for 3 iterations and traces
the last one: ``<job>/torch_trace/iteration_<N>/rank<r>_trace.json.gz`` (a gzipped Chrome trace: open it in
Perfetto or chrome://tracing), N a multiple of ``profile_freq`` (also after a resume). ``record_shape``,
``profile_memory`` (allocations in the trace), ``with_stack`` and ``with_modules`` are the profiler's options.
With ``enable_memory_snapshot`` (CUDA) the allocator's history is written every ``profile_freq`` iterations to
``<job>/memory_snapshot/iteration_<N>/rank<r>_memory_snapshot.pickle`` (and ``iteration_<N>_exit`` on an
out-of-memory error; open it at https://pytorch.org/memory_viz). Only ranks below ``first_n_rank`` (-1: every
rank) profile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Callable, Iterator

import torch

from cosmos_predict2.configs.schema import ProfilingConfig
from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)

TRACE_WARMUP = 3  # warm-up iterations before the traced one in each cycle
MEMORY_SNAPSHOT_MAX_ENTRIES = 100_000  # allocator events kept for a snapshot


def profiles_this_rank(cfg: ProfilingConfig) -> bool:
    return int(cfg.first_n_rank) < 0 or du.get_rank() < int(cfg.first_n_rank)


@contextlib.contextmanager
def profiling(cfg: ProfilingConfig, job_dir: str, start_iteration: int) -> Iterator[Callable[[], None]]:
    """Yields ``step()``, to call once after every iteration; a no-op when profiling is off for this rank."""
    cfg.check()
    steps: list[Callable[[], None]] = []
    with contextlib.ExitStack() as stack:
        if profiles_this_rank(cfg):
            if cfg.enable_profiling:
                steps.append(stack.enter_context(_torch_trace(cfg, job_dir, start_iteration)))
            if cfg.enable_memory_snapshot:
                steps.append(stack.enter_context(_memory_snapshots(cfg, job_dir, start_iteration)))
        yield lambda: [step() for step in steps]


@contextlib.contextmanager
def _torch_trace(cfg: ProfilingConfig, job_dir: str, start_iteration: int) -> Iterator[Callable[[], None]]:
    trace_dir = os.path.join(job_dir, "torch_trace")
    cycle = torch.profiler.schedule(wait=int(cfg.profile_freq) - TRACE_WARMUP - 1, warmup=TRACE_WARMUP, active=1)
    rank = du.get_rank()

    def save(prof) -> None:
        iteration = start_iteration + prof.step_num
        out = os.path.join(trace_dir, f"iteration_{iteration}")
        os.makedirs(out, exist_ok=True)
        t0 = time.monotonic()
        prof.export_chrome_trace(os.path.join(out, f"rank{rank}_trace.json.gz"))
        log.info("profiler trace of iteration %d written to %s in %.1f s", iteration, out, time.monotonic() - t0)

    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    log.info("profiling: every %d iterations one traced into %s", cfg.profile_freq, trace_dir)
    with torch.profiler.profile(activities=activities, schedule=lambda step: cycle(start_iteration + step),
                                on_trace_ready=save, record_shapes=bool(cfg.record_shape),
                                profile_memory=bool(cfg.profile_memory), with_stack=bool(cfg.with_stack),
                                with_modules=bool(cfg.with_modules)) as prof:
        yield prof.step


@contextlib.contextmanager
def _memory_snapshots(cfg: ProfilingConfig, job_dir: str, start_iteration: int) -> Iterator[Callable[[], None]]:
    if not torch.cuda.is_available():
        log.warning("trainer.profiling.enable_memory_snapshot needs CUDA; no memory snapshots on this device")
        yield lambda: None
        return
    snapshot_dir = os.path.join(job_dir, "memory_snapshot")
    rank = du.get_rank()
    iteration = start_iteration

    def dump(name: str) -> None:
        out = os.path.join(snapshot_dir, name)
        os.makedirs(out, exist_ok=True)
        torch.cuda.memory._dump_snapshot(os.path.join(out, f"rank{rank}_memory_snapshot.pickle"))
        log.info("memory snapshot written to %s", out)

    def step() -> None:
        nonlocal iteration
        iteration += 1
        if iteration % int(cfg.profile_freq) == 0:
            dump(f"iteration_{iteration}")

    torch.cuda.memory._record_memory_history(max_entries=MEMORY_SNAPSHOT_MAX_ENTRIES)
    try:
        yield step
    except torch.cuda.OutOfMemoryError:
        dump(f"iteration_{iteration}_exit")
        raise
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
