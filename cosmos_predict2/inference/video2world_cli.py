"""Command-line plumbing shared by examples/video2world.py, video2world_gr00t.py and video2world_bestofn.py."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any, Optional

from cosmos_predict2.inference.loading import InferenceSetupError
from cosmos_predict2.inference.params import DEFAULT_NEGATIVE_PROMPT

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENTS = {
    "2B": "predict2_video2world_training_2b_agibot_head_center_fisheye_color",
    "14B": "predict2_video2world_training_14b_agibot_head_center_fisheye_color",
}
IGNORED_FLAGS = ("offload_guardrail", "offload_prompt_refiner", "offload_text_encoder", "downcast_text_encoder",
                 "benchmark", "use_cuda_graphs", "natten")


def add_video2world_args(p: argparse.ArgumentParser, *, model_size_default: str = "2B") -> argparse.ArgumentParser:
    p.add_argument("--model_size", choices=("2B", "14B"), default=model_size_default)
    p.add_argument("--experiment", default=None,
                   help="experiment config (default: an experiment named in --dit_path, else one by --model_size)")
    p.add_argument("--config_file", "--config-file", default=None)
    p.add_argument("--dit_path", default=None, help="converted .pt (net.* keys), DCP folder or model/iter_N.pt")
    p.add_argument("--load_ema", action="store_true")
    p.add_argument("--prompt", default="")
    p.add_argument("--input_path", "--input_video", dest="input_path", default=None, help="image or mp4")
    p.add_argument("--negative_prompt", default=DEFAULT_NEGATIVE_PROMPT)
    p.add_argument("--resolution", default=None, help="480 / 720 ... (default: the experiment's size)")
    p.add_argument("--fps", type=int, default=None, help="fps of the saved video (default: the experiment's)")
    p.add_argument("--aspect_ratio", default="16:9", choices=("16:9", "1:1", "4:3", "3:4", "9:16"))
    p.add_argument("--num_conditional_frames", "--num_conditional_frmaes", dest="num_conditional_frames", type=int,
                   default=1, choices=(1, 5))
    p.add_argument("--batch_input_json", default=None, help="JSON list of {input_video, prompt, output_video}")
    p.add_argument("--guidance", type=float, default=7.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num_steps", "--num-steps", type=int, default=35)
    p.add_argument("--save_path", default="output/generated_video.mp4")
    p.add_argument("--num_gpus", type=int, default=1, help="context-parallel ranks (launch with torchrun)")
    p.add_argument("--text_encoder_path", default=None, help="local T5 folder (default: the experiment's path)")
    p.add_argument("--tokenizer_path", default=None, help="local Wan2.1 VAE .pth (default: the experiment's)")
    p.add_argument("--device", default=None)
    p.add_argument("--disable_guardrail", action="store_true")
    p.add_argument("--guardrail_dir", default=None)
    p.add_argument("--disable_prompt_refiner", action="store_true")
    p.add_argument("--prompt_refiner_dir", default=None)
    for flag in IGNORED_FLAGS:
        p.add_argument(f"--{flag}", action="store_true", help=argparse.SUPPRESS)
    return p


def pick_experiment(args: Any) -> Optional[str]:
    """--experiment, else a registered experiment whose name appears in --dit_path, else None when the checkpoint
    sits in a training job folder (its config.yaml is used), else the size default."""
    from cosmos_predict2.inference.loading import job_config_for

    if args.experiment:
        return args.experiment
    if args.dit_path:
        from cosmos_predict2.configs.base.config import register_all
        from cosmos_predict2.configs.registry import registered_options

        register_all()
        parts = set(os.path.normpath(args.dit_path).split(os.sep))
        for name in sorted(registered_options("experiment"), key=len, reverse=True):
            if name in parts:
                return name
        if job_config_for(args.dit_path) is not None:
            return None
    return DEFAULT_EXPERIMENTS[args.model_size]


def build_pipeline(args: Any, *, resolution: Optional[str] = None, experiment: Optional[str] = None):
    """Guardrail / refiner checks first (fail fast), then model + pipeline. Returns (pipeline, rank)."""
    from cosmos_predict2.guardrail.components import setup_guardrail, setup_prompt_refiner
    from cosmos_predict2.inference.loading import build_inference_model
    from cosmos_predict2.inference.video2world import (Video2WorldPipeline, check_text_encoder,
                                                       setup_context_parallel)

    for flag in IGNORED_FLAGS:
        if getattr(args, flag, False):
            log.warning("--%s is accepted for compatibility and has no effect here", flag)
    guardrail = setup_guardrail(args.disable_guardrail, args.guardrail_dir)
    refiner = setup_prompt_refiner(args.disable_prompt_refiner, args.prompt_refiner_dir)
    if not args.dit_path:
        raise InferenceSetupError("--dit_path is required (a converted model*.pt, a DCP iteration folder or "
                                  "model/iter_N.pt)")
    model, config = build_inference_model(experiment or pick_experiment(args), args.dit_path,
                                          config_file=args.config_file, load_ema=args.load_ema, device=args.device,
                                          tokenizer_path=args.tokenizer_path,
                                          preflight=lambda cfg: check_text_encoder(cfg, args.text_encoder_path))
    rank, _ = setup_context_parallel(model, args.num_gpus)
    pipe = Video2WorldPipeline(model, config, text_encoder_path=args.text_encoder_path,
                               resolution=resolution if resolution is not None else args.resolution,
                               aspect_ratio=args.aspect_ratio, guardrail=guardrail, prompt_refiner=refiner)
    return pipe, rank


def jobs_from_args(args: Any) -> list[dict[str, str]]:
    """The (input, prompt, output) list: --batch_input_json entries, or the single --input_path job."""
    from cosmos_predict2.inference.video2world import load_batch_json

    if args.batch_input_json:
        return load_batch_json(args.batch_input_json)
    if not args.input_path:
        raise InferenceSetupError("pass --input_path (image or video) or --batch_input_json")
    return [{"input_video": args.input_path, "prompt": args.prompt, "output_video": args.save_path}]
