"""Seconds per action-conditioned rollout chunk (1 conditioning frame + chunk_size generated frames).

    python -m cosmos_predict2.inference.benchmark [--experiment tiny_action_conditioned_bridge] \
        [--num-steps 2 35] [--chunks 5] [--device cpu|cuda] [--override KEY=VALUE ...]

Random weights (the cost does not depend on their values). One warm-up chunk, then ``--chunks`` timed
chunks per step count; prints mean / median / min seconds per chunk, the share spent in the DiT sampling loop
vs. the tokenizer, and frames per second of generated video.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    from cosmos_predict2.inference import experiment_info
    from cosmos_predict2.inference.action_rollout import generate_chunk
    from cosmos_predict2.inference.loading import build_inference_model

    p = argparse.ArgumentParser(prog="python -m cosmos_predict2.inference.benchmark", description=__doc__)
    p.add_argument("--experiment", default="tiny_action_conditioned_bridge")
    p.add_argument("--num-steps", type=int, nargs="+", default=[2, 35])
    p.add_argument("--chunks", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--override", action="append", default=[], help="extra config override (repeatable)")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    model, config = build_inference_model(args.experiment, None, allow_random=True, device=args.device,
                                          overrides=args.override)
    device = next(model.net.parameters()).device
    build_s = time.perf_counter() - t0
    H, W = experiment_info.video_size(config)
    K = experiment_info.num_frames(config) - 1
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    actions = rng.normal(size=(K, 7)).astype(np.float32)
    print(f"experiment {args.experiment}: {H}x{W}, chunk = 1 + {K} frames, device {device} "
          f"({torch.get_num_threads()} threads), net {sum(p.numel() for p in model.net.parameters()) / 1e6:.2f} M params, "
          f"build {build_s:.2f}s")
    generate_chunk(model, frame, actions, num_steps=2)  # warm-up
    video = torch.zeros(1, 3, K + 1, H, W, dtype=torch.uint8, device=device)
    _sync(device)
    t = time.perf_counter()
    for _ in range(args.chunks):
        model.decode(model.encode(video))
    _sync(device)
    tok_s = (time.perf_counter() - t) / args.chunks
    for steps in args.num_steps:
        times = []
        for i in range(args.chunks):
            _sync(device)
            t = time.perf_counter()
            generate_chunk(model, frame, actions, num_steps=steps, seed=i)
            _sync(device)
            times.append(time.perf_counter() - t)
        mean = statistics.mean(times)
        print(f"num_steps {steps:3d}: {mean:.3f} s/chunk (median {statistics.median(times):.3f}, min {min(times):.3f}); "
              f"tokenizer encode+decode {tok_s:.3f}s ({100 * tok_s / mean:.0f}%); {K / mean:.1f} generated frames/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
