"""Train a world model: ``[torchrun ...] -m scripts.train [--config=FILE] [--dryrun|--build-only] -- experiment=NAME [overrides]``.

``--dryrun`` resolves and validates the experiment, prints the config, the memory plan per rank (for
``--world-size N``) and the preflight findings (files the run needs that are missing, with their download
commands), and writes ``config.yaml`` and ``memory_plan.json`` into the job directory; nothing is built and no
data is read. ``--build-only`` (also under torchrun) does everything up to the first training step, prints a
summary per rank (parameters, measured peak memory) and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config, to_yaml, write_config_yaml  # noqa: E402
from cosmos_predict2.lazy_config.errors import ConfigError  # noqa: E402
from cosmos_predict2.configs.validate import validate_config  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.train",
        description="Train a Cosmos-Predict2-style world model from a Hydra/LazyDict experiment config.",
        epilog="Example: torchrun --nproc_per_node=2 -m scripts.train -- experiment=tiny_action_conditioned_bridge",
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG_FILE, help="path to the config .py file with make_config()")
    parser.add_argument("--dryrun", action="store_true", help="resolve + validate, print the config, write config.yaml")
    parser.add_argument("--world-size", "--world_size", type=int, default=None,
                        help="with --dryrun: validate the parallel layout and plan memory for this many processes")
    parser.add_argument("--build-only", "--build_only", action="store_true",
                        help="build everything up to the first step (data, model, weights, parallelism, optimizer, "
                             "resume), print a per-rank summary and exit")
    parser.add_argument("--list", metavar="GROUP", default=None,
                        help="list the registered options of a config group (e.g. experiment) and exit")
    parser.add_argument("--max_iter", "--max-iter", type=int, default=None, help="shortcut for trainer.max_iter=N")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="'--' then Hydra overrides")
    args = parser.parse_args(argv)
    opts = list(args.opts)
    # The documented form is `-- experiment=NAME ...`; torchrun drops a bare `--` before the script's own
    # flags, so overrides without it are accepted too.
    args.opts = opts[1:] if opts and opts[0] == "--" else opts
    if args.max_iter is not None:
        args.opts.append(f"trainer.max_iter={args.max_iter}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        from cosmos_predict2.configs.compose import load_config_module
        from cosmos_predict2.configs.registry import listing

        try:
            load_config_module(args.config)()
            print("\n".join(listing(args.list)))
        except ConfigError as err:
            print(f"config error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        config = compose_config(args.config, args.opts)
        world_size = args.world_size if args.world_size is not None else (
            int(os.environ["WORLD_SIZE"]) if "WORLD_SIZE" in os.environ else None)
        if args.dryrun and world_size is None:  # the plan --dryrun shows: the experiment's own FSDP group
            world_size = default_world_size(config)
        notes = validate_config(config, world_size)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    if args.dryrun:
        try:
            return dryrun(config, notes, world_size)
        except ConfigError as err:
            print(f"config error: {err}", file=sys.stderr)
            return 2
    from cosmos_predict2.trainer.launch import LaunchOptions, launch  # imported lazily: builds models, touches data

    return launch(config, LaunchOptions(build_only=args.build_only, random_init=random_init_requested(args.opts)))


DIT_PATH_KEYS = ("model.config.model_manager_config.dit_path", "model.config.pipe_config.model_manager_config.dit_path")


def random_init_requested(overrides: list[str]) -> bool:
    """True when the command line clears the base weights (``model.config.model_manager_config.dit_path=''``)."""
    for token in overrides:
        key, sep, value = token.lstrip("+").partition("=")
        if sep and key in DIT_PATH_KEYS and value.strip() in ("", "''", '""', "null", "None"):
            return True
    return False


def default_world_size(config) -> int:
    """The experiment's own FSDP group (``fsdp_shard_size``, at least the context-parallel size): the plan a
    ``--dryrun`` without ``--world-size`` shows."""
    cp = int(config.model_parallel.context_parallel_size)
    shard = config.model.config.get("fsdp_shard_size") if config.model is not None else None
    return max(cp, int(shard)) if shard is not None and int(shard) > 0 else cp


def dryrun(config, notes: list[str], world_size: int) -> int:
    """Print the config, the memory plan and the preflight findings; write config.yaml and memory_plan.json."""
    from cosmos_predict2.trainer.memory_plan import build_memory_plan
    from cosmos_predict2.configs.preflight import preflight_findings

    print(to_yaml(config))
    path = write_config_yaml(config, config.job.path_local)
    for note in notes:
        print(f"[dryrun] {note}")
    plan = build_memory_plan(config, world_size)
    for line in plan.lines():
        print(f"[dryrun] {line}")
    plan_path = plan.write(os.path.join(config.job.path_local, "memory_plan.json"))
    findings = preflight_findings(config)
    if findings:
        print(f"[dryrun] preflight: {len(findings)} file(s) this run needs are missing or unusable:")
        for finding in findings:
            for line in finding.lines():
                print(f"[dryrun] {line}")
    else:
        print("[dryrun] preflight: every file this run needs is present")
    print(f"[dryrun] memory plan written to {plan_path}")
    print(f"[dryrun] config resolved and validated; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
