"""Peak host memory of building a full-size experiment on 1 and N CPU ranks (``--build-only``).

    python -m scripts.benchmark_build [--experiment action_conditional_predict2_video2world_2b_training] \
        [--ranks 1 2] [--root /tmp/cp2_build_bench]

Writes random weights in the released layout at full size (scripts/make_random_weights.py; kept between runs)
and a small synthetic Bridge dataset under ROOT, then runs
``torchrun --nproc_per_node=N -m scripts.train --build-only -- experiment=...`` from ROOT for each N and prints
per-rank peak RSS as the ranks measure it and as the parent measures it from outside (``RUSAGE_CHILDREN``:
the largest process, file-backed pages of mapped files included), as a ratio to the fp32 net.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# runs a command and reports the largest descendant's peak RSS, measured from outside it
_MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(r.returncode)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m scripts.benchmark_build", description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="action_conditional_predict2_video2world_2b_training")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--root", default="/tmp/cp2_build_bench")
    p.add_argument("overrides", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    args.overrides = args.overrides[1:] if args.overrides[:1] == ["--"] else args.overrides
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from cosmos_predict2.checkpoint.random_weights import write_random_weights
    from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config
    from cosmos_predict2.data.synthetic import write_bridge_dataset
    from cosmos_predict2.trainer.memory_plan import build_memory_plan

    overrides = [f"experiment={args.experiment}", *args.overrides]
    config = compose_config(DEFAULT_CONFIG_FILE, overrides)
    os.makedirs(args.root, exist_ok=True)
    t0 = time.time()
    write_random_weights(config, args.root)
    print(f"weights ready in {time.time() - t0:.0f}s")
    data = str(config.dataloader_train.dataset.dataset_dir)
    data = data if os.path.isabs(data) else os.path.join(args.root, data)
    if not os.path.isdir(data):
        write_bridge_dataset(data, episodes=12, seed=0)
    net_gib = build_memory_plan(config, 1).num_params * 4 / 2**30
    rows = []
    for n in args.ranks:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "--standalone", "-m",
               "scripts.train", "--build-only", "--", *overrides]
        env = dict(os.environ, PYTHONPATH=_ROOT, IMAGINAIRE_OUTPUT_ROOT=os.path.join(args.root, f"out_{n}"))
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=args.root, env=env, capture_output=True,
                             text=True)
        wall = time.time() - t0
        if res.returncode != 0:
            print(res.stdout[-2000:], res.stderr[-3000:], file=sys.stderr)
            return res.returncode
        inside = [float(x) for x in re.findall(r"build-only rank \d+/\d+: .*peak host RSS ([0-9.]+) GiB", res.stdout)]
        outside = int(re.search(r"MAXRSS_KB (\d+)", res.stderr).group(1)) / 2**20
        rows.append((n, max(inside), outside, wall))
    print(f"\n{args.experiment}: fp32 net {net_gib:.2f} GiB")
    print("| ranks | peak RSS per rank, measured by the rank (GiB) | largest process from outside (GiB) | "
          "ratio to the fp32 net | wall (s) |")
    print("|---|---|---|---|---|")
    for n, inside, outside, wall in rows:
        print(f"| {n} | {inside:.2f} | {outside:.2f} | {max(inside, outside) / net_gib:.2f}x | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
