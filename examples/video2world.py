"""Video2World generation from a prompt and an image or video (Predict2 interface).

    python examples/video2world.py --model_size 2B --dit_path CKPT.pt --prompt "..." --input_path frame.png \
        [--num_conditional_frames 1|5] [--batch_input_json jobs.json] [--guidance 7] [--seed 0] \
        [--save_path output/generated_video.mp4] [--disable_guardrail] [--disable_prompt_refiner]
    torchrun --nproc_per_node=N examples/video2world.py --num_gpus N ...   (context-parallel DiT)

Pipeline details: cosmos_predict2/inference/video2world.py.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def main(argv=None) -> int:
    from cosmos_predict2.data.video_io import write_video
    from cosmos_predict2.inference.video2world_cli import add_video2world_args, build_pipeline, jobs_from_args

    parser = add_video2world_args(argparse.ArgumentParser(prog="video2world.py", description=__doc__.split("\n\n")[0]))
    args = parser.parse_args(argv)
    jobs = jobs_from_args(args)
    pipe, rank = build_pipeline(args)
    fps = args.fps or pipe.fps
    for i, job in enumerate(jobs):
        prompt = pipe.check_prompt(job["prompt"])
        video = pipe(job["input_video"], prompt, negative_prompt=args.negative_prompt,
                     num_conditional_frames=args.num_conditional_frames, guidance=args.guidance, seed=args.seed,
                     num_steps=args.num_steps)
        if rank == 0:
            write_video(job["output_video"], video, fps=fps)
            print(f"[{i + 1}/{len(jobs)}] saved {video.shape[0]} frames ({video.shape[2]}x{video.shape[1]}, "
                  f"{fps} fps) to {job['output_video']}")
    return 0


if __name__ == "__main__":
    from cosmos_predict2.inference.cli import run_main

    sys.exit(run_main(main, "video2world.py"))
