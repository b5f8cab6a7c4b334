"""Random weights in the released layouts, where an experiment expects them (smoke tests before downloading).

    python -m scripts.make_random_weights --experiment NAME --out ROOT [--seed N] [--force] [-- overrides...]

Writes under ROOT, at the relative paths the experiment names (``checkpoints/nvidia/...``): the DiT ``.pt``
(``net.*`` in bfloat16 with the non-learned entries released files carry), the VAE state dict
(``tokenizer.pth`` / ``Wan2.1_VAE.pth``) and a tiny T5 where the experiment uses T5. Existing files are kept
(``--force`` replaces them). See cosmos_predict2/checkpoint/random_weights.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.make_random_weights", description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", required=True, help="experiment name (python -m scripts.train --list experiment)")
    p.add_argument("--out", required=True, help="root folder; the experiment's relative paths are created under it")
    p.add_argument("--config", default=None, help="config .py file (default: the base config)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--force", action="store_true", help="replace files that exist")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides for the experiment (after --)")
    args = p.parse_args(argv)
    args.overrides = args.overrides[1:] if args.overrides[:1] == ["--"] else args.overrides
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from cosmos_predict2.checkpoint.random_weights import write_random_weights
    from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config
    from cosmos_predict2.lazy_config.errors import ConfigError

    t0 = time.time()
    try:
        config = compose_config(args.config or DEFAULT_CONFIG_FILE, [f"experiment={args.experiment}", *args.overrides])
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    files = write_random_weights(config, args.out, seed=args.seed, force=args.force)
    if not files:
        print(f"{args.experiment} reads no weight files (it trains from scratch); nothing to write")
        return 0
    written = sum(f.written for f in files)
    over = " ".join([*args.overrides, *(f"{f.key}={f.path}" for f in files)])
    print(f"done: {written} written, {len(files) - written} kept under {args.out} in {time.time() - t0:.1f}s. RANDOM "
          f"weights, not the released ones. Next: python -m scripts.train --build-only -- "
          f"experiment={args.experiment} {over}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
