"""Run a function on N gloo ranks (torch.multiprocessing.spawn + file:// rendezvous) and collect results."""

from __future__ import annotations

import os
import tempfile
import traceback

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world_size: int, init_file: str, out_dir: str, fn, args) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        result = fn(rank, world_size, *args)
        torch.save({"ok": True, "result": result}, os.path.join(out_dir, f"rank{rank}.pt"))
    except BaseException:  # report the traceback to the parent test
        torch.save({"ok": False, "error": traceback.format_exc()}, os.path.join(out_dir, f"rank{rank}.pt"))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_ranks(fn, world_size: int = 2, *args) -> list:
    """``[fn(rank, world_size, *args) for each rank]``, each in its own process on a gloo group."""
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        try:
            mp.spawn(_worker, args=(world_size, init_file, tmp, fn, args), nprocs=world_size, join=True)
        except Exception:
            pass  # the per-rank files carry the traceback
        data = {}
        for rank in range(world_size):
            path = os.path.join(tmp, f"rank{rank}.pt")
            if os.path.exists(path):
                data[rank] = torch.load(path, weights_only=False)
        for rank, d in data.items():  # a rank's own error first; the others were only terminated
            if not d["ok"]:
                raise RuntimeError(f"rank {rank} failed:\n{d['error']}")
        missing = [r for r in range(world_size) if r not in data]
        if missing:
            raise RuntimeError(f"ranks {missing} died without a result (crash or signal)")
        return [data[r]["result"] for r in range(world_size)]


def single_process_group():
    """Context manager: a 1-rank gloo group in this process (destroyed on exit)."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        created = not dist.is_initialized()
        if created:
            dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        try:
            yield
        finally:
            if created and dist.is_initialized():
                dist.destroy_process_group()

    return ctx()
