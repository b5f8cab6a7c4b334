"""Action-conditioned Video2World inference for one Bridge episode (Predict2 interface).

    python examples/video2world_action.py --model_size 2B --dit_path CKPT.pt \
        --input_video datasets/bridge/videos/test/13/rgb.mp4 --input_annotation datasets/bridge/annotation/test/13.json \
        --num_conditional_frames 1 --save_path output/generated_video.mp4 --guidance 0 --seed 0 \
        --disable_guardrail --disable_prompt_refiner [--autoregressive] [--partial_chunk drop|pad] \
        [--experiment NAME]

Without ``--autoregressive`` one chunk (the first ``chunk_size`` actions, 1 + chunk_size frames) is generated;
with it the episode is rolled out chunk by chunk. A short final chunk (N not a multiple of chunk_size) is
dropped by default, as upstream Predict2 ``examples/video2world_action.py`` (its loop stops at a short
chunk, lines ~185-188 at commit 661da47): N actions give 1 + chunk_size * (N // chunk_size) frames and
an episode with fewer than chunk_size actions is an error. ``--partial_chunk pad`` zero-pads the short
chunk instead (the Predict2.5 ``examples/action_conditioned.py`` behaviour) and gives 1 + N frames.

Actions are computed from the annotation's ``state`` exactly as in training (upstream Predict2 reads the
JSON ``action`` field here, which differs from what the model was trained on). Rollout details:
cosmos_predict2/inference/action_rollout.py.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

DEFAULT_EXPERIMENTS = {"2B": "action_conditional_predict2_video2world_2b_training"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="video2world_action.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_size", choices=("2B", "14B"), default="2B")
    p.add_argument("--experiment", default=None, help="experiment config (default: the training job's config.yaml "
                   "above --dit_path, else one by --model_size)")
    p.add_argument("--config_file", "--config-file", default=None)
    p.add_argument("--dit_path", required=True, help="converted .pt (net.* keys), DCP folder or model/iter_N.pt")
    p.add_argument("--load_ema", action="store_true", help="use net_ema.* weights of a file that has both")
    p.add_argument("--input_video", required=True)
    p.add_argument("--input_annotation", required=True)
    p.add_argument("--num_conditional_frames", type=int, default=1, choices=(1,))
    p.add_argument("--chunk_size", type=int, default=12)
    p.add_argument("--autoregressive", action="store_true", help="roll out the whole episode chunk by chunk")
    p.add_argument("--partial_chunk", "--partial-chunk", default="drop", choices=("drop", "pad"),
                   help="short final chunk: drop it (default, as upstream Predict2) or zero-pad its actions "
                        "(as upstream Predict2.5 action_conditioned.py)")
    p.add_argument("--save_path", default="output/generated_video.mp4")
    p.add_argument("--guidance", type=float, default=7.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num_steps", "--num-steps", type=int, default=35)
    p.add_argument("--num_gpus", type=int, default=1)
    from cosmos_predict2.inference.action_modes import SINGLE_EPISODE_MODES

    p.add_argument("--action_mode", default="gt", choices=SINGLE_EPISODE_MODES,
                   help="counterfactual actions: zero, or the episode's own permuted / reversed in time")
    p.add_argument("--camera_id", type=int, default=0)
    p.add_argument("--tokenizer_path", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--disable_guardrail", action="store_true")
    p.add_argument("--guardrail_dir", default=None)
    p.add_argument("--disable_prompt_refiner", action="store_true")
    p.add_argument("--prompt_refiner_dir", default=None)
    return p


def main(argv=None) -> int:
    from cosmos_predict2.data.video_io import write_video
    from cosmos_predict2.guardrail.components import setup_guardrail, setup_prompt_refiner
    from cosmos_predict2.inference import experiment_info
    from cosmos_predict2.data.bridge_episode import load_bridge_episode
    from cosmos_predict2.inference.action_modes import counterfactual_actions
    from cosmos_predict2.inference.action_rollout import rollout_episode
    from cosmos_predict2.inference.loading import InferenceSetupError, build_inference_model, job_config_for

    args = build_parser().parse_args(argv)
    if args.num_gpus != 1:
        raise InferenceSetupError("--num_gpus must be 1: action-conditioned inference runs on one GPU")
    experiment = args.experiment
    if experiment is None and job_config_for(args.dit_path) is None:  # else: the training job's config.yaml
        experiment = DEFAULT_EXPERIMENTS.get(args.model_size)
        if experiment is None:
            raise InferenceSetupError(f"no default action-conditioned experiment for --model_size {args.model_size}; "
                                      "pass --experiment NAME")
    setup_guardrail(args.disable_guardrail, args.guardrail_dir)
    setup_prompt_refiner(args.disable_prompt_refiner, args.prompt_refiner_dir)
    if not os.path.isfile(args.input_video):
        raise InferenceSetupError(f"--input_video {args.input_video} does not exist")
    model, config = build_inference_model(experiment, args.dit_path, config_file=args.config_file,
                                          load_ema=args.load_ema, device=args.device, tokenizer_path=args.tokenizer_path)
    frames = experiment_info.num_frames(config)
    if args.chunk_size + 1 != frames:
        raise InferenceSetupError(f"--chunk_size {args.chunk_size} needs {args.chunk_size + 1}-frame clips but "
                                  f"experiment {experiment or 'of the training job'} generates {frames}; use --chunk_size {frames - 1}")
    ep = load_bridge_episode(args.input_annotation,
                             experiment_info.bridge_action_settings(config, "video2world_action.py"),
                             video_path=args.input_video)
    actions = counterfactual_actions([ep["actions"]], args.action_mode, args.seed)[0]
    if args.partial_chunk == "drop" and len(actions) < args.chunk_size:
        raise InferenceSetupError(f"{args.input_annotation}: {len(actions)} actions make no full chunk of "
                                  f"{args.chunk_size} and --partial_chunk drop skips a short chunk; pass "
                                  "--partial_chunk pad to zero-pad it")
    fps = experiment_info.fps(config)
    video = rollout_episode(model, ep["frames"], actions, chunk_size=args.chunk_size, guidance=args.guidance,
                            seed=args.seed, num_steps=args.num_steps, fps=fps, single_chunk=not args.autoregressive,
                            num_latent_conditional_frames=args.num_conditional_frames,
                            partial_chunk=args.partial_chunk)
    write_video(args.save_path, video, fps=fps)
    print(f"saved {video.shape[0]} frames ({video.shape[2]}x{video.shape[1]}, {fps} fps) to {args.save_path}")
    return 0


if __name__ == "__main__":
    from cosmos_predict2.inference.cli import run_main

    sys.exit(run_main(main, "video2world_action.py"))
