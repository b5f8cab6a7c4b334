"""The LeRobot reader against the Bridge reader on the same episodes, in one run.

    python -m scripts.benchmark_lerobot_reader [--bridge_dir DIR] [--samples 200] [--num_frames 13]

The Bridge folder (default: a synthetic one generated in a temporary folder) is converted to LeRobot v3.0 with
``scripts/convert_dataset.py``'s converter (every episode of a camera in one mp4), then the same windows are read
through ``BridgeActionDataset`` and ``LeRobotActionDataset`` (one process, a seeded random order of windows).
Prints windows/s of each, their ratio, and the action statistics' time cold and from the cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np


def _rate(ds, order) -> float:
    t0 = time.perf_counter()
    for i in order:
        ds[int(i)]
    return len(order) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bridge_dir", default=None, help="a Bridge-layout dataset (default: synthetic, generated)")
    p.add_argument("--samples", type=int, default=200, help="windows read per reader")
    p.add_argument("--num_frames", type=int, default=13)
    p.add_argument("--episodes", type=int, default=24, help="episodes of the generated dataset")
    p.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best kept)")
    a = p.parse_args(argv)
    from cosmos_predict2.data.bridge import BridgeActionDataset
    from cosmos_predict2.data.dataset_convert import bridge_to_lerobot
    from cosmos_predict2.data.lerobot import LeRobotActionDataset
    from cosmos_predict2.data.synthetic import write_bridge_dataset
    from cosmos_predict2.data.video_io import video_info

    with tempfile.TemporaryDirectory() as tmp:
        bridge = a.bridge_dir
        if bridge is None:
            bridge = os.path.join(tmp, "bridge")
            write_bridge_dataset(bridge, episodes=a.episodes, seed=0, split_ratio=(1, 0, 0))
        lerobot = os.path.join(tmp, "lerobot")
        t0 = time.perf_counter()
        info = bridge_to_lerobot(bridge, lerobot)
        convert_s = time.perf_counter() - t0
        os.environ["COSMOS_ACTION_STATS_CACHE"] = os.path.join(tmp, "stats")
        b = BridgeActionDataset(bridge, mode="train", num_frames=a.num_frames, video_size=None, preflight="off")
        h, w = video_info(os.path.join(bridge, b.episodes[0]["ann"]["videos"][0]["video_path"]))[2:]
        t0 = time.perf_counter()
        r = LeRobotActionDataset(lerobot, mode="train", camera="image_0", num_frames=a.num_frames,
                                 video_size=(h, w), progress=False)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        LeRobotActionDataset(lerobot, mode="train", camera="image_0", num_frames=a.num_frames, video_size=(h, w),
                             progress=False)
        warm_s = time.perf_counter() - t0
        assert len(b) == len(r), (len(b), len(r))
        order = np.random.default_rng(0).permutation(len(b))[: a.samples]
        rates_b, rates_r = [], []
        for _ in range(a.rounds):
            rates_b.append(_rate(b, order))
            rates_r.append(_rate(r, order))
        best_b, best_r = max(rates_b), max(rates_r)
        print(f"{info['episodes']} episodes, {info['frames']} frames at {h}x{w}, converted in {convert_s:.1f} s; "
              f"{len(order)} random {a.num_frames}-frame windows of {len(b)}")
        print(f"bridge  (one mp4 per episode):  {best_b:7.1f} windows/s")
        print(f"lerobot (one mp4 for all):      {best_r:7.1f} windows/s   ratio lerobot/bridge {best_r / best_b:.2f}")
        print(f"lerobot dataset construction with action statistics: cold {cold_s:.2f} s, cached {warm_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
