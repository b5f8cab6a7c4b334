"""Generate the synthetic robot dataset (Bridge/IRASim layout, LeRobot v3.0 layout or video-text layout).

    python -m scripts.prepare_synthetic_data --layout bridge --out datasets/synthetic_bridge
    python -m scripts.prepare_synthetic_data --layout lerobot --out datasets/synthetic_lerobot
    python -m scripts.prepare_synthetic_data --layout video_text --out datasets/synthetic_vt --t5 tiny

Deterministic per --seed: same JSON bytes and same decoded frames on every run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm

from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.synthetic import (SyntheticConfig, parse_split_ratio, write_bridge_dataset,
                                            write_lerobot_dataset, write_video_text_dataset)


TINY_T5_DIM = 64  # = crossattn_emb_channels of the tiny CPU nets


def parse_args(argv=None) -> argparse.Namespace:
    d = SyntheticConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=["bridge", "lerobot", "video_text"], default="bridge",
                   help="lerobot: LeRobot v3.0 with a front and a side camera and 10-d actions")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=d.frames, help="frames per episode")
    p.add_argument("--height", type=int, default=d.height, help="must be divisible by 16")
    p.add_argument("--width", type=int, default=d.width, help="must be divisible by 16")
    p.add_argument("--fps", type=int, default=d.fps)
    p.add_argument("--num-objects", type=int, default=d.num_objects)
    p.add_argument("--gripper-scale", type=float, default=d.gripper_scale, help="size of the drawn gripper and arm")
    p.add_argument("--yaw-range", type=float, default=d.yaw_range,
                   help="gripper yaw stays within +-this many radians of facing forward (>= pi: turns freely)")
    p.add_argument("--split-ratio", default="0.8,0.1,0.1", help="train,val,test (bridge and lerobot layouts)")
    p.add_argument("--t5", default=None,
                   help="video_text: also write t5_xxl/*.pickle with this T5 (a local dir / cached id), or 'tiny' "
                        "for a tiny random T5 built offline into <out>/tiny_t5 (embedding dim 64, the text width of the "
                        "tiny_video2world_text experiment)")
    p.add_argument("--t5-max-length", type=int, default=512)
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    cfg = SyntheticConfig(height=a.height, width=a.width, frames=a.frames, fps=a.fps, num_objects=a.num_objects,
                          yaw_range=a.yaw_range, gripper_scale=a.gripper_scale)
    try:
        if a.episodes < 1:
            raise ValueError(f"--episodes {a.episodes}: nothing to generate; pass --episodes N with N >= 1 "
                             f"(default 40)")
        cfg.check()
        ratio = parse_split_ratio(a.split_ratio)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.time()
    with tqdm(total=a.episodes, desc=f"synthetic {a.layout}", unit="ep") as bar:
        if a.layout == "bridge":
            info = write_bridge_dataset(a.out, a.episodes, a.seed, cfg, ratio, progress=bar.update)
        elif a.layout == "lerobot":
            try:
                info = write_lerobot_dataset(a.out, a.episodes, a.seed, cfg, ratio, progress=bar.update)
            except DataError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        else:
            info = write_video_text_dataset(a.out, a.episodes, a.seed, cfg, progress=bar.update)
    if a.layout == "video_text" and a.t5:
        from scripts.get_t5_embeddings import encode_metas

        model = a.t5
        if model == "tiny":
            from cosmos_predict2.text_encoders.tiny_t5 import save_tiny_t5

            model = save_tiny_t5(os.path.join(a.out, "tiny_t5"), d_model=TINY_T5_DIM)
        written, _ = encode_metas(a.out, model, max_length=a.t5_max_length)
        print(f"wrote {written} T5 embeddings with {model}")
    print(f"wrote {a.episodes} episodes ({a.layout}, {cfg.height}x{cfg.width}, {cfg.frames} frames, "
          f"seed {a.seed}) to {a.out} in {time.time() - t0:.1f}s; "
          + (f"splits {info['splits']}" if a.layout != "video_text" else f"{info['videos']} videos"))
    if a.layout == "lerobot":
        print(f"next: python -m scripts.train -- experiment=tiny_action_conditioned_lerobot "
              f"dataloader_train.dataset.root={a.out} dataloader_val.dataset.root={a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
