"""Convert a robot dataset between the Bridge JSON layout and LeRobot v3.0 (exit code 2 on bad input).

    python -m scripts.convert_dataset --to lerobot datasets/synthetic_bridge datasets/bridge_lerobot [--fps 4]
    python -m scripts.convert_dataset --to bridge datasets/my_lerobot datasets/my_bridge \\
        [--camera front] [--state-key observation.state] [--gripper-index 6]

--to lerobot: splits become info.json episode ranges, camera i becomes observation.images.image_<i>,
observation.state = [x, y, z, roll, pitch, yaw, gripper], action = 10-d [dxyz, rot6d, gripper] (the move from each
frame to the next). --to bridge: one camera, state = the state feature's columns 0-5, the gripper its column
--gripper-index; train/val/test ranges of info.json become the split folders. Conventions in full:
cosmos_predict2/data/dataset_convert.py. DST must not exist or be empty; it appears only when complete.
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", required=True, choices=["lerobot", "bridge"], help="the output format")
    p.add_argument("src", help="the dataset to convert")
    p.add_argument("dst", help="the output folder (must not exist or be empty)")
    p.add_argument("--fps", type=float, default=None,
                   help="--to lerobot: frames per second (default: the Bridge dataset's dataset_info.json / "
                        "synthetic_info.json, else 4)")
    p.add_argument("--camera", default=None, help="--to bridge: the camera (default: the first)")
    p.add_argument("--state-key", default="observation.state",
                   help="--to bridge: the state feature ([x, y, z, roll, pitch, yaw] in columns 0-5)")
    p.add_argument("--gripper-index", type=int, default=6, help="--to bridge: the state's gripper column")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    from cosmos_predict2.data.dataset_convert import bridge_to_lerobot, lerobot_to_bridge

    wrap = lambda it, **kw: tqdm(it, **kw)
    t0 = time.time()
    try:
        if a.to == "lerobot":
            res = bridge_to_lerobot(a.src, a.dst, fps=a.fps, wrap=wrap)
        else:
            res = lerobot_to_bridge(a.src, a.dst, state_key=a.state_key, gripper_index=a.gripper_index,
                                    camera=a.camera, wrap=wrap)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    secs = time.time() - t0
    if a.to == "lerobot":
        print(f"wrote {res['episodes']} episodes ({res['frames']} frames at {res['fps']} fps, cameras "
              f"{', '.join(res['cameras'])}) as LeRobot v3.0 to {a.dst} in {secs:.0f}s; splits {res['splits']}")
        print(f"next: python -m scripts.train -- experiment=tiny_action_conditioned_lerobot "
              f"dataloader_train.dataset.root={a.dst} dataloader_val.dataset.root={a.dst} "
              f"dataloader_train.dataset.camera=image_0 dataloader_val.dataset.camera=image_0")
    else:
        print(f"wrote {res['episodes']} episodes ({res['frames']} frames at {res['fps']:g} fps, camera "
              f"{res['camera']}) in the Bridge layout to {a.dst} in {secs:.0f}s; splits {res['splits']}")
        print(f"next: python -m scripts.validate_dataset {a.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
