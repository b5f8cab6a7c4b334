"""Check a whole dataset folder before training and print a report (exit code 1 on problems; 2 when the folder
does not exist or its layout cannot be told).

    python -m scripts.validate_dataset datasets/bridge [--layout bridge|lerobot|video_text] [--num_frames 13]
        [--sequence_interval 1] [--t5_embedding_dim 1024] [--quick]

Bridge: every annotation JSON parses and has consistent state / gripper lengths, an ``action`` field (unread
by training, which computes actions from the states) has N-1 rows of 7 numbers, every video decodes fully and
has at least as many frames as states, episodes hold a window of --num_frames, embeddings (if any) load and
agree on their dim. Video-text: videos / metas / t5_xxl match by name, every video decodes and holds
--num_frames, captions are UTF-8, embeddings load and agree. LeRobot (meta/info.json, v2.1 / v3.0): metadata,
every episode's rows and timestamps, every camera's mp4 holds the frames its episodes need and each episode's
first and last frame sit at their timestamps; episodes shorter than --num_frames are listed. ``--quick`` counts video packets and decodes only
the first frame, as the scan at training start does (it misses damage inside the compressed frames).
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm

from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.validate import detect_layout, validate_bridge, validate_lerobot, validate_video_text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset_dir")
    p.add_argument("--layout", choices=["auto", "bridge", "lerobot", "video_text"], default="auto")
    p.add_argument("--num_frames", type=int, default=None, help="window length every sample must hold")
    p.add_argument("--sequence_interval", type=int, default=1, help="bridge: frame stride inside a window")
    p.add_argument("--t5_embedding_dim", type=int, default=None, help="expected embedding dim (default: any)")
    p.add_argument("--quick", action="store_true", help="count video packets instead of decoding every frame")
    a = p.parse_args(argv)
    if not os.path.isdir(a.dataset_dir):  # a wrong path is a usage error (2), not a dataset problem (1)
        print(f"error: {a.dataset_dir}: dataset folder does not exist (fix: pass the folder that holds annotation/ "
              f"(Bridge), meta/info.json (LeRobot) or videos/ + metas/ (video-text))", file=sys.stderr)
        return 2
    layout = a.layout
    if layout == "auto":
        try:
            layout = detect_layout(a.dataset_dir)
        except DataError as e:
            print(f"error: {e} (fix: pass the dataset's own folder, or --layout bridge|lerobot|video_text)", file=sys.stderr)
            return 2
    wrap = lambda it, **kw: tqdm(it, **kw)
    if layout == "lerobot":
        rep = validate_lerobot(a.dataset_dir, a.num_frames, a.sequence_interval, wrap=wrap, full_decode=not a.quick)
    elif layout == "bridge":
        rep = validate_bridge(a.dataset_dir, a.num_frames, a.sequence_interval, a.t5_embedding_dim, wrap=wrap,
                              full_decode=not a.quick)
    else:
        rep = validate_video_text(a.dataset_dir, a.num_frames, a.t5_embedding_dim, wrap=wrap, full_decode=not a.quick)
    print(rep.format())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
