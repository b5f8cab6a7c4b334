"""Convert a training checkpoint (DCP folder or standard ``model/iter_N.pt``) to consolidated weight files.

    python scripts/convert_distcp_to_pt.py <dcp model dir | iter dir | checkpoints dir | .pt> <output dir>
        [--no-ema] [--merge-lora [--lora-alpha A]] [--format pt|safetensors|diffusers [--experiment NAME]]

Writes ``model.pt`` (net.* + net_ema.*), ``model_ema_fp32.pt`` and ``model_ema_bf16.pt`` (EMA renamed to
net.*); runs on CPU in one process. See cosmos_predict2/conversion/convert.py for the details.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="convert_distcp_to_pt.py", description=__doc__.split("\n\n")[0])
    p.add_argument("input_dir", help="DCP model folder, its iter_N parent, a checkpoints/ folder with "
                                     "latest_checkpoint.txt, or a standard .pt checkpoint")
    p.add_argument("output_dir", help="folder for model.pt / model_ema_fp32.pt / model_ema_bf16.pt")
    p.add_argument("--no-ema", "--no_ema", dest="ema", action="store_false",
                   help="ignore EMA weights: write model.pt (net.* only) and model_bf16.pt")
    p.add_argument("--ema", dest="ema", action="store_true", help="(default) also write the EMA files")
    p.add_argument("--merge-lora", "--merge_lora", action="store_true", help="fold LoRA / DoRA adapters into the base weights")
    p.add_argument("--lora-alpha", "--lora_alpha", type=float, default=None,
                   help="LoRA alpha used in training (default: alpha = rank, i.e. scaling 1)")
    p.add_argument("--format", choices=("pt", "safetensors", "diffusers"), default="pt")
    p.add_argument("--experiment", default=None, help="experiment whose net defines the diffusers config.json")
    p.add_argument("--config-file", "--config_file", default=None)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from cosmos_predict2.conversion.convert import convert_checkpoint, iter_outputs
    from cosmos_predict2.checkpoint.weights import CheckpointError

    try:
        written = convert_checkpoint(args.input_dir, args.output_dir, ema=args.ema, merge_lora=args.merge_lora,
                                     lora_alpha=args.lora_alpha, fmt=args.format, experiment=args.experiment,
                                     config_file=args.config_file, progress=args.progress)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in iter_outputs(written):
        print(f"wrote {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
