"""Download the Predict1 diffusion checkpoints (upstream cosmos-predict1's script name and flags).

    CUDA_HOME=$CONDA_PREFIX PYTHONPATH=$(pwd) python scripts/download_diffusion_checkpoints.py \
        --model_sizes 7B --model_types Video2World --checkpoint_dir checkpoints

A thin front end of scripts/download_checkpoints.py (cosmos_predict2/checkpoint/download.py): ``--model_types
Video2World`` / ``Text2World`` are the Predict1 models ``nvidia/Cosmos-Predict1-{7B,14B}-{Video2World,Text2World}``
(``model.pt``, ``config.json``). As upstream, each comes with the video tokenizer
``nvidia/Cosmos-Tokenize1-CV8x8x8-720p`` (``encoder.jit``, ``decoder.jit``, ``mean_std.pt``), the T5-11B text
encoder (``google-t5/t5-11b``; ``--no_t5`` skips it: action-conditioned post-training does not use text) and the
guardrail (``nvidia/Cosmos-Guardrail1``; ``--no_guardrail`` skips it). Not fetched, because nothing in this
project reads them: upstream's prompt upsamplers (Pixtral-12B for Video2World, Cosmos-UpsamplePrompt1-12B for
Text2World) and Llama-Guard-3-8B (upstream's text safety model). Files go to ``<checkpoint_dir>/<owner>/<repo>``
(e.g. ``checkpoints/nvidia/Cosmos-Predict1-7B-Video2World/model.pt``, what the Predict1 experiment reads as its
``dit_path``); upstream drops the owner folder. Resumable (re-run the same command); gated repos need
``huggingface-cli login`` (or HF_TOKEN).
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cosmos_predict2.checkpoint.download import download_cli, hf_snapshot_download, plan_downloads  # noqa: E402

SIZES = ("7B", "14B")
TYPES = {"Video2World": "Predict1-Video2World", "Text2World": "Predict1-Text2World"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="download_diffusion_checkpoints.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_sizes", "--model-sizes", nargs="*", default=list(SIZES), choices=SIZES,
                   help="which Predict1 sizes (default: both, as upstream)")
    p.add_argument("--model_types", "--model-types", nargs="*", default=list(TYPES), choices=list(TYPES),
                   help="which Predict1 models (default: both, as upstream)")
    p.add_argument("--checkpoint_dir", "--checkpoint-dir", default="checkpoints")
    p.add_argument("--no_t5", "--no-t5", dest="t5", action="store_false", help="skip the T5-11B text encoder")
    p.add_argument("--no_guardrail", "--no-guardrail", dest="guardrail", action="store_false",
                   help="skip the guardrail (nvidia/Cosmos-Guardrail1)")
    p.add_argument("--hf_token", "--hf-token", default=None, help="default: $HF_TOKEN or the huggingface-cli login")
    p.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true", help="print the plan only")
    return p.parse_args(argv)


def plan(args: argparse.Namespace):
    types = [TYPES[t] for t in args.model_types] + (["Guardrail"] if args.guardrail else [])
    return plan_downloads(args.model_sizes, types, args.checkpoint_dir, include_t5=args.t5)


def main(argv=None, download_fn=hf_snapshot_download) -> int:
    args = parse_args(argv)
    if not args.model_sizes or not args.model_types:
        print("error: nothing to download: pass --model_sizes 7B|14B and --model_types Video2World|Text2World",
              file=sys.stderr)
        return 2
    return download_cli(lambda: plan(args), args.checkpoint_dir, args.hf_token, args.dry_run, download_fn)


if __name__ == "__main__":
    sys.exit(main())
