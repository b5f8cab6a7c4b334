"""Predict1-style action-conditioned inference (2-frame model: 1 conditioning frame -> 1 predicted frame).

    python cosmos_predict1/diffusion/inference/video2world_action.py --checkpoint_dir checkpoints \
        --diffusion_transformer_dir Cosmos-Predict1-7B-Video2World_action_post-trained --seed 0 \
        --input_image_or_video_path datasets/bridge/videos/test/346/rgb.mp4 \
        --action_annotation_path datasets/bridge/annotation/test/346.json --height 256 --width 320 --fps 3

Mapped onto this project's pipeline: the weights are ``<checkpoint_dir>/<diffusion_transformer_dir>/model.pt``
(the post-trained ``iter_N_ema_model.pt`` copied there, or a converted ``model_ema_*.pt``). The model config is,
in this order: ``--config_file <job>/config.yaml`` (the training job's config, e.g. of a small run),
``--experiment NAME``, the training job's ``config.yaml`` next to or above the weights, else the experiment
``video2world_action_bridge_2frames``. A weights file that does not fit that net stops before anything is built
(one line naming a mismatching key and these two flags).

Each loop predicts the next frame(s) from the previous (generated) frame and the next action(s);
``--num_of_loops K`` loops give 1 + K frames for the 2-frame model (default 1; ``--num_of_loops 0`` rolls out the
whole episode, one loop per action, which is what upstream's pipeline does whatever the flag says). The episode is
read as the experiment's training dataset reads it (actions from the annotation's ``state`` with its scaling,
accumulation, fields and frame stride; upstream's inference reads the JSON ``action`` field instead, which its
training never uses), at ``--height`` x ``--width``. Conditioning frames get the fixed augmentation noise sigma 0.001
as upstream (``augment_sigma_inference`` of the EDM objective). Output:
``<video_save_folder>/<video_save_name>.mp4``. A stray ``\\ `` before a flag (as in the guide's command line)
is accepted.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


DEFAULT_EXPERIMENT = "video2world_action_bridge_2frames"
IGNORED_FLAGS = ("offload_diffusion_transformer", "offload_tokenizer", "offload_text_encoder_model",
                 "offload_guardrail_models", "offload_prompt_upsampler", "disable_prompt_upsampler")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="video2world_action.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint_dir", default="checkpoints")
    p.add_argument("--diffusion_transformer_dir", default="Cosmos-Predict1-7B-Video2World_action_post-trained")
    p.add_argument("--experiment", default=None,
                   help=f"experiment config (default: --config_file, else the training job's config.yaml above the "
                        f"weights, else {DEFAULT_EXPERIMENT})")
    p.add_argument("--config_file", "--config-file", default=None,
                   help="the training job's config.yaml (<job>/config.yaml), or a Python config module")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input_image_or_video_path", required=True)
    p.add_argument("--action_annotation_path", required=True)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--fps", type=int, default=3, help="fps of the saved video")
    p.add_argument("--num_input_frames", type=int, default=2, help="frames per clip (conditioning + predicted)")
    p.add_argument("--num_of_latent_condition", type=int, default=1, choices=(1,))
    p.add_argument("--num_of_loops", type=int, default=1,
                   help="autoregressive loops, one new frame each for the 2-frame model (0: the whole episode)")
    p.add_argument("--num_gpus", type=int, default=1)
    p.add_argument("--num_steps", type=int, default=35)
    p.add_argument("--guidance", type=float, default=7.0)
    p.add_argument("--load_ema", action="store_true", help="use net_ema.* of a file that has both")
    p.add_argument("--video_save_folder", default="outputs/")
    p.add_argument("--video_save_name", default="output")
    p.add_argument("--tokenizer_path", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--disable_guardrail", action="store_true",
                   help="accepted for compatibility: no guardrail runs for action-conditioned inference")
    for flag in IGNORED_FLAGS:  # upstream's common inference flags that have no effect here
        p.add_argument(f"--{flag}", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    import dataclasses

    from cosmos_predict2.data.bridge_episode import load_bridge_episode
    from cosmos_predict2.data.video_io import write_video
    from cosmos_predict2.inference import experiment_info
    from cosmos_predict2.inference.action_rollout import rollout_episode
    from cosmos_predict2.inference.cli import clean_argv
    from cosmos_predict2.inference.loading import InferenceSetupError, build_inference_model

    args = build_parser().parse_args(clean_argv(argv))
    if args.num_gpus != 1:
        raise InferenceSetupError("--num_gpus must be 1 for action-conditioned inference")
    if args.num_of_loops < 0:
        raise InferenceSetupError(f"--num_of_loops {args.num_of_loops}: use 1 or more (0: the whole episode)")
    ckpt = os.path.join(args.checkpoint_dir, args.diffusion_transformer_dir, "model.pt")
    if not os.path.isfile(ckpt):
        raise InferenceSetupError(f"{ckpt} does not exist: copy the post-trained iter_N_ema_model.pt (or a converted "
                                  f"model_ema_fp32.pt) to checkpoints/{args.diffusion_transformer_dir}/model.pt")
    model, config = build_inference_model(args.experiment, ckpt, config_file=args.config_file, load_ema=args.load_ema,
                                          device=args.device, tokenizer_path=args.tokenizer_path,
                                          default_experiment=DEFAULT_EXPERIMENT)
    frames = experiment_info.num_frames(config)
    if args.num_input_frames != frames:
        raise InferenceSetupError(f"--num_input_frames {args.num_input_frames}: the model "
                                  f"({args.experiment or args.config_file or 'of the training job'}) generates "
                                  f"{frames}-frame clips; pass --num_input_frames {frames}")
    max_frames = None if args.num_of_loops == 0 else args.num_of_loops * (frames - 1) + 1
    settings = dataclasses.replace(experiment_info.bridge_action_settings(config, "video2world_action.py"),
                                   video_size=(args.height, args.width))
    ep = load_bridge_episode(args.action_annotation_path, settings, video_path=args.input_image_or_video_path,
                             max_frames=max_frames)
    video = rollout_episode(model, ep["frames"], ep["actions"], chunk_size=frames - 1, guidance=args.guidance,
                            seed=args.seed, num_steps=args.num_steps, fps=experiment_info.fps(config))
    path = os.path.join(args.video_save_folder, f"{args.video_save_name}.mp4")
    write_video(path, video, fps=args.fps)
    print(f"saved {video.shape[0]} frames ({video.shape[2]}x{video.shape[1]}, {args.fps} fps) to {path}")
    return 0

if __name__ == "__main__":
    from cosmos_predict2.inference.cli import run_main

    sys.exit(run_main(main, "video2world_action.py"))
