"""Trainer benchmarks on CPU: tiny-experiment step time on 1 vs 2 processes, and checkpoint save/load time.

    python scripts/benchmark_trainer.py step [--iters 40] [--data DIR]
        runs `python -m scripts.train` (1 process) and `torchrun --nproc_per_node=2` on the tiny
        action-conditioned experiment and reports the median step time and samples/s of each;
    python scripts/benchmark_trainer.py ckpt [--dim 512 --blocks 8]
    torchrun --nproc_per_node=2 scripts/benchmark_trainer.py ckpt [--dim 512 --blocks 8]
        times DCP save/load (sharded, FSDP2) and the standard full-state .pt checkpointer against a plain
        torch.save / torch.load of the same (unsharded) model + AdamW state.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _median_step(job_dir: str, skip: int) -> tuple[float, float]:
    recs = [json.loads(line) for line in open(os.path.join(job_dir, "metrics.jsonl"))]
    recs = [r for r in recs if r.get("split") == "train"][skip:]
    return statistics.median(r["iter_time_s"] for r in recs), statistics.median(r["samples_per_s"] for r in recs)


def bench_step(args) -> None:
    tmp = tempfile.mkdtemp(prefix="bench_trainer_")
    data = args.data
    if not data:
        from cosmos_predict2.data.synthetic import write_bridge_dataset

        data = os.path.join(tmp, "bridge")
        write_bridge_dataset(data, episodes=10, seed=0)
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=os.path.join(tmp, "out"), OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=ROOT)
    overrides = ["experiment=tiny_action_conditioned_bridge", f"dataloader_train.dataset.dataset_dir={data}",
                 f"dataloader_val.dataset.dataset_dir={data}", f"dataloader_train.num_workers={args.workers}",
                 f"trainer.max_iter={args.iters}", "trainer.logging_iter=1", "trainer.progress_bar=False",
                 "checkpoint.save_iter=1000000", "~trainer.callbacks.rollout_eval"]
    results = {}
    for nproc in (1, 2):
        name = f"bench_{nproc}proc"
        launcher = [sys.executable, "-m", "scripts.train"] if nproc == 1 else [
            sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone", "-m",
            "scripts.train"]
        cmd = launcher + ["--config=cosmos_predict2/configs/base/config.py", "--"] + overrides + [f"job.name={name}"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            print(res.stdout[-2000:], res.stderr[-4000:])
            raise SystemExit(f"{nproc}-process run failed")
        job = os.path.join(tmp, "out", "cosmos_predict2_tiny", "action_conditioned", name)
        step, sps = _median_step(job, skip=5)
        results[nproc] = (step, sps, wall)
        print(f"{nproc} process(es): median step {step * 1000:.1f} ms, {sps:.1f} samples/s (global batch "
              f"{4 * nproc}), wall {wall:.1f} s for {args.iters} iterations incl. start-up")
    s1, s2 = results[1], results[2]
    print(f"2 vs 1 process: step time x{s2[0] / s1[0]:.2f}, throughput x{s2[1] / s1[1]:.2f} "
          f"(OMP_NUM_THREADS={args.threads} per process)")
    shutil.rmtree(tmp, ignore_errors=True)


def bench_ckpt(args) -> None:
    import torch

    from cosmos_predict2.checkpoint.dcp import DistributedCheckpointer
    from cosmos_predict2.checkpoint.standard import StandardCheckpointer
    from cosmos_predict2.checkpoint.weights import load_weights
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.models.presets import net_kwargs
    from cosmos_predict2.lazy_config import L
    from cosmos_predict2.parallel.mesh import build_parallel_dims
    from cosmos_predict2.parallel.parallelize import parallelize_model
    from cosmos_predict2.utils import distributed as du

    rank, world = du.init_distributed()
    torch.set_num_threads(args.threads)
    net_cfg = L("cosmos_predict2.models.dit.MiniTrainDIT")(**net_kwargs(
        "tiny", model_channels=args.dim, num_blocks=args.blocks, num_heads=max(1, args.dim // 64),
        crossattn_emb_channels=64, adaln_lora_dim=64))

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = instantiate(net_cfg)
            self.net_ema = instantiate(net_cfg).requires_grad_(False)

    def make(sharded: bool):
        torch.manual_seed(0)
        model = M()
        if sharded:
            parallelize_model(model, build_parallel_dims(world, -1, 1), "float32")
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.zeros_like(p)
        opt.step()
        return model, opt

    def timed(fn, repeat=3, collective=True):
        times = []
        for _ in range(repeat):
            if collective:
                du.barrier()
            t0 = time.perf_counter()
            fn()
            if collective:
                du.barrier()
            times.append(time.perf_counter() - t0)
        return min(times)

    tmp = du.broadcast_object(tempfile.mkdtemp(prefix="bench_ckpt_") if rank == 0 else None)
    model, opt = make(True)
    nparams = sum(p.numel() for p in model.parameters())
    rows = []
    dcp_ck = DistributedCheckpointer(checkpoint_dir=os.path.join(tmp, "dcp"))
    rows.append(("DCP save (sharded, model+optim)", timed(lambda: dcp_ck.save(model, opt, None, {"iteration": 1}, 1))))
    def resume(ck, path):  # what the launcher does: the weights through the one loader, then the training state
        load_weights(model, ck.model_path(path), require_all=True)
        ck.load_training_state(path, model, opt, None)

    rows.append(("DCP load (sharded)", timed(lambda: resume(dcp_ck, os.path.join(tmp, "dcp", "iter_000000001")))))
    std_ck = StandardCheckpointer(checkpoint_dir=os.path.join(tmp, "std"))
    rows.append(("standard save (gather to rank 0, .pt)", timed(lambda: std_ck.save(model, opt, None, {"iteration": 1}, 1))))
    rows.append(("standard load (mapped file + optim broadcast)", timed(lambda: resume(
        std_ck, os.path.join(tmp, "std", "iter_000000001.pt")))))
    if rank == 0:
        plain, popt = make(False)
        state = {"model": plain.state_dict(), "optim": popt.state_dict()}
        path = os.path.join(tmp, "plain.pt")
        rows.append(("torch.save (unsharded, same state)", timed(lambda: torch.save(state, path), collective=False)))
        rows.append(("torch.load (unsharded, same state)", timed(lambda: torch.load(path, weights_only=True), collective=False)))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(tmp, "dcp")) for f in fs)
        print(f"world {world}: net+EMA {nparams / 1e6:.1f} M params (x2 Adam moments), DCP folder {size / 2**20:.0f} MiB")
        for name, sec in rows:
            print(f"  {name:40s} {sec * 1000:8.1f} ms")
        shutil.rmtree(tmp, ignore_errors=True)
    du.barrier()
    du.destroy_distributed()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("step")
    s.add_argument("--iters", type=int, default=40)
    s.add_argument("--data", default="")
    s.add_argument("--workers", type=int, default=0)
    s.add_argument("--threads", type=int, default=1)
    c = sub.add_parser("ckpt")
    c.add_argument("--dim", type=int, default=512)
    c.add_argument("--blocks", type=int, default=8)
    c.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    bench_step(args) if args.what == "step" else bench_ckpt(args)


if __name__ == "__main__":
    main()
