"""Download released weights (DiT, Wan2.1 VAE, T5) from the Hugging Face Hub into checkpoints/.

    python scripts/download_checkpoints.py --model_sizes 2B 14B --model_types Video2World [Video2World-Action ...] \
        --checkpoint_dir checkpoints [--resolution 720 480] [--fps 16 10] [--dry-run]

Resumable (re-run the same command); gated repos need `huggingface-cli login` (or HF_TOKEN).
See cosmos_predict2/checkpoint/download.py for what goes where.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cosmos_predict2.checkpoint.download import (MODEL_SIZES, MODEL_TYPES, download_cli,  # noqa: E402
                                                 hf_snapshot_download, plan_downloads)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="download_checkpoints.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_sizes", "--model-sizes", nargs="+", default=["2B"], choices=MODEL_SIZES)
    p.add_argument("--model_types", "--model-types", nargs="+", default=["Video2World"], choices=MODEL_TYPES)
    p.add_argument("--checkpoint_dir", "--checkpoint-dir", default="checkpoints")
    p.add_argument("--resolution", nargs="+", default=["720"], choices=["480", "720"])
    p.add_argument("--fps", nargs="+", type=int, default=[16], choices=[10, 16])
    p.add_argument("--no_t5", "--no-t5", dest="t5", action="store_false", help="skip the T5-11B text encoder")
    p.add_argument("--hf_token", "--hf-token", default=None, help="default: $HF_TOKEN or the huggingface-cli login")
    p.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true", help="print the plan only")
    return p.parse_args(argv)


def main(argv=None, download_fn=hf_snapshot_download) -> int:
    args = parse_args(argv)
    return download_cli(lambda: plan_downloads(args.model_sizes, args.model_types, args.checkpoint_dir, args.resolution,
                                               args.fps, include_t5=args.t5),
                        args.checkpoint_dir, args.hf_token, args.dry_run, download_fn)


if __name__ == "__main__":
    sys.exit(main())
