"""GR00T Dreams generation (GR1 humanoid or DROID arm): Video2World at 480p / 16 fps with a prompt prefix.

    python -m examples.video2world_gr00t --model_size 14B --gr00t_variant gr1 \
        --batch_input_json dream_gen_benchmark/gr1_object/batch_input.json --disable_guardrail

Default checkpoint: checkpoints/nvidia/Cosmos-Predict2-{size}-Sample-GR00T-Dreams-{GR1|DROID}/model-480p-16fps.pt.
Each output mp4 gets a .txt next to it holding the prompt and the negative prompt. The prompt refiner is off
(as upstream). With an explicit --experiment the experiment's own size is used instead of 480p.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

DEFAULT_PREFIX = "The robot arm is performing a task. "
EXPERIMENTS = {"2B": "predict2_video2world_training_2b_groot_gr1_480",
               "14B": "predict2_video2world_training_14b_groot_gr1_480"}


def gr00t_checkpoint(size: str, variant: str) -> str:
    return f"checkpoints/nvidia/Cosmos-Predict2-{size}-Sample-GR00T-Dreams-{variant.upper()}/model-480p-16fps.pt"


def add_gr00t_args(p: argparse.ArgumentParser, required: bool = True) -> argparse.ArgumentParser:
    p.add_argument("--gr00t_variant", choices=("gr1", "droid"), required=required)
    p.add_argument("--prompt_prefix", default=DEFAULT_PREFIX)
    return p


def apply_gr00t_defaults(args) -> tuple[str, str | None]:
    """Fill --dit_path / --experiment for the variant; returns (experiment, resolution)."""
    args.disable_prompt_refiner = True
    if not args.dit_path:
        args.dit_path = gr00t_checkpoint(args.model_size, args.gr00t_variant)
    if args.experiment:
        return args.experiment, None
    return EXPERIMENTS[args.model_size], "480"


def write_prompt_txt(video_path: str, prompt: str, negative_prompt: str) -> str:
    path = os.path.splitext(video_path)[0] + ".txt"
    with open(path, "w") as f:
        json.dump({"prompt": prompt, "negative_prompt": negative_prompt}, f, indent=1)
    return path


def main(argv=None) -> int:
    from cosmos_predict2.data.video_io import write_video
    from cosmos_predict2.inference.video2world_cli import add_video2world_args, build_pipeline, jobs_from_args

    parser = add_video2world_args(argparse.ArgumentParser(prog="video2world_gr00t.py",
                                                          description=__doc__.split("\n\n")[0]), model_size_default="14B")
    args = add_gr00t_args(parser).parse_args(argv)
    experiment, resolution = apply_gr00t_defaults(args)
    jobs = jobs_from_args(args)
    pipe, rank = build_pipeline(args, resolution=resolution, experiment=experiment)
    fps = args.fps or pipe.fps
    for i, job in enumerate(jobs):
        prompt = pipe.check_prompt(args.prompt_prefix + job["prompt"])
        video = pipe(job["input_video"], prompt, negative_prompt=args.negative_prompt,
                     num_conditional_frames=args.num_conditional_frames, guidance=args.guidance, seed=args.seed,
                     num_steps=args.num_steps)
        if rank == 0:
            write_video(job["output_video"], video, fps=fps)
            write_prompt_txt(job["output_video"], prompt, args.negative_prompt)
            print(f"[{i + 1}/{len(jobs)}] saved {video.shape[0]} frames at {fps} fps to {job['output_video']}")
    return 0


if __name__ == "__main__":
    from cosmos_predict2.inference.cli import run_main

    sys.exit(run_main(main, "video2world_gr00t.py"))
