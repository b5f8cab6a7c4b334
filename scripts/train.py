"""Train a world model: ``[torchrun ...] -m scripts.train [--config=FILE] [--dryrun] -- experiment=NAME [overrides]``.

``--dryrun`` resolves and validates the experiment, prints the config and writes ``config.yaml`` into
the job directory, without importing networks, building models or touching data.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config, to_yaml  # noqa: E402
from cosmos_predict2.configs.errors import ConfigError  # noqa: E402
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
                        help="with --dryrun: validate the parallel layout for this many processes")
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
        from cosmos_predict2.configs.registry import registered_options

        load_config_module(args.config)()
        print("\n".join(sorted(registered_options(args.list))))
        return 0
    try:
        config = compose_config(args.config, args.opts)
        world_size = args.world_size if args.world_size is not None else (
            int(os.environ["WORLD_SIZE"]) if "WORLD_SIZE" in os.environ else None)
        notes = validate_config(config, world_size if (args.dryrun or world_size is not None) else None)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    if args.dryrun:
        text = to_yaml(config)
        print(text)
        os.makedirs(config.job.path_local, exist_ok=True)
        path = os.path.join(config.job.path_local, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        for note in notes:
            print(f"[dryrun] {note}")
        print(f"[dryrun] config resolved and validated; written to {path}")
        return 0
    from cosmos_predict2.trainer.launch import launch  # imported lazily: builds models, touches data

    return launch(config)


if __name__ == "__main__":
    sys.exit(main())
