"""Action-conditioned rollouts of Bridge episodes from an ``inference_params.json`` (Predict2.5 interface).

    python examples/action_conditioned.py -i assets/action_conditioned/basic/inference_params.json \
        -o outputs/action_conditioned/basic --checkpoint-path CKPT/model_ema_bf16.pt \
        --experiment ac_reason_embeddings_rectified_flow_2b_256_320 [--num-steps 4] [--side-by-side]

Every JSON field can be overridden on the command line (``--num-steps 4`` or ``--num_steps 4``). One mp4
per episode (``start``..``end``) at ``save_fps`` plus per-frame PSNR/SSIM JSON files are written to ``-o``
(default: the JSON's ``save_root``). Rollout details: cosmos_predict2/inference/action_rollout.py.

A short last chunk (actions not a multiple of ``chunk_size``) is zero-padded, as upstream Predict2.5
``examples/action_conditioned.py`` (``inference()`` in its ``cosmos_predict2/action_conditioned.py``, lines
~312-321 at commit 7e5ffc8), giving 1 + N frames for N actions; ``--partial_chunk drop`` (or the JSON field
``partial_chunk``, a project extension) skips it instead, as upstream Predict2 ``video2world_action.py``.

Episodes are read as the experiment's training dataset reads them (action scaling, accumulation, state and
gripper fields, frame stride: ``dataloader_train.dataset``). The JSON's ``action_scaler``, ``gripper_scale``,
``fps_downsample_ratio``, ``state_key`` and ``gripper_key`` may be left out; a value that differs from the
experiment's is an error naming both. ``--action-mode shuffled`` feeds every episode another episode's actions
(``permuted`` / ``reversed``: its own in another order; ``zero``: none).
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

DEFAULT_EXPERIMENT = "ac_reason_embeddings_rectified_flow_2b_256_320"
DEFAULT_CONFIG = "cosmos_predict2/_src/predict2/action/configs/action_conditioned/config.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="action_conditioned.py", description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                epilog="Any inference_params.json field may follow as --field VALUE.")
    p.add_argument("-i", "--input", "--input-file", dest="input", required=True, help="inference_params.json")
    p.add_argument("-o", "--output-dir", "--output_dir", dest="output_dir", default=None)
    p.add_argument("--checkpoint-path", "--checkpoint_path", dest="checkpoint_path", default=None)
    p.add_argument("--experiment", default=None,
                   help=f"experiment config (default: the training job's config.yaml above the checkpoint, "
                        f"else {DEFAULT_EXPERIMENT})")
    p.add_argument("--config-file", "--config_file", dest="config_file", default=DEFAULT_CONFIG)
    p.add_argument("--model", default="2B/robot/action-cond", help="informational (upstream model key)")
    p.add_argument("--context-parallel-size", "--context_parallel_size", dest="cp", type=int, default=1)
    p.add_argument("--load-ema", "--load_ema", dest="load_ema", action="store_true",
                   help="use net_ema.* from a model.pt that holds both")
    p.add_argument("--side-by-side", "--side_by_side", dest="side_by_side", action="store_true",
                   help="write prediction | ground truth side by side")
    from cosmos_predict2.inference.action_modes import ACTION_MODES

    p.add_argument("--action-mode", "--action_mode", dest="action_mode", default="gt", choices=ACTION_MODES,
                   help="feed counterfactual actions (shuffled: another episode's)")
    p.add_argument("--tokenizer-path", "--tokenizer_path", dest="tokenizer_path", default=None,
                   help="local Wan2.1 VAE .pth (default: the path in the experiment config)")
    p.add_argument("--device", default=None)
    p.add_argument("--disable-guardrails", "--disable_guardrail", "--disable-guardrail", action="store_true",
                   help="accepted for compatibility: action-conditioned inference runs no guardrail")
    return p


def main(argv=None) -> int:
    from cosmos_predict2.evaluation.metrics import episode_scores
    from cosmos_predict2.inference.action_conditioned import check_model_fits, run_episodes
    from cosmos_predict2.inference.loading import build_inference_model, job_config_for
    from cosmos_predict2.inference.params import (ACTION_CONDITIONED_SCHEMA, ParamError, parse_cli_overrides,
                                                  resolve_params)

    args, rest = build_parser().parse_known_args(argv)
    overrides = parse_cli_overrides(rest, ACTION_CONDITIONED_SCHEMA)
    params = resolve_params(ACTION_CONDITIONED_SCHEMA, args.input, overrides)
    if args.cp != 1:
        raise ParamError("--context-parallel-size must be 1: action-conditioned inference runs on one GPU")
    if not args.checkpoint_path:
        raise ParamError("--checkpoint-path is required (a converted model_ema_bf16.pt / model.pt, a DCP "
                         "iteration folder or a standard model/iter_N.pt)")
    output_dir = args.output_dir or params["save_root"]
    experiment = args.experiment
    if experiment is None and job_config_for(args.checkpoint_path) is None:
        experiment = DEFAULT_EXPERIMENT
    model, config = build_inference_model(experiment, args.checkpoint_path, config_file=args.config_file,
                                          load_ema=args.load_ema, device=args.device,
                                          tokenizer_path=args.tokenizer_path,
                                          preflight=lambda cfg: check_model_fits(cfg, params))
    summary = run_episodes(model, config, params, output_dir, side_by_side=args.side_by_side,
                           action_mode=args.action_mode, score=episode_scores)
    print(f"{len(summary['episodes'])} episodes: mean PSNR {summary['psnr_mean']:.2f} dB, "
          f"mean SSIM {summary['ssim_mean']:.3f}; outputs in {output_dir}")
    return 0


if __name__ == "__main__":
    from cosmos_predict2.inference.cli import run_main

    sys.exit(run_main(main, "action_conditioned.py"))
