"""A tiny Bridge dataset with one bad file of each kind the dataset scan must name (shared by its tests)."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np

from cosmos_predict2.data.synthetic import write_bridge_dataset
from cosmos_predict2.data.video_io import read_frames, write_video
from tests.data_fixtures import TINY

EMB_DIM = 64  # the tiny experiments' t5_embedding_dim


class Evil:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _video(root: str, i: int) -> str:
    return os.path.join(root, "videos", "train", str(i), "rgb.mp4")


def _ann(root: str, i: int) -> str:
    return os.path.join(root, "annotation", "train", f"{i}.json")


def damaged_bridge(root: str) -> dict:
    """12 episodes of 16 frames (train 0-9, val 10, test 11) with embeddings; train episodes 0-7 each broken one
    way. Returns {case: (file, text its problem must contain)}; ``marker`` is the file the evil pickle would make."""
    write_bridge_dataset(root, episodes=12, seed=0, cfg=TINY)
    for i in range(10):
        with open(os.path.join(root, "annotation", "train", f"{i}.pickle"), "wb") as f:
            pickle.dump([np.zeros((4, EMB_DIM), np.float32)], f)
    cases = {}
    data = open(_video(root, 0), "rb").read()
    open(_video(root, 0), "wb").write(bytes(np.random.default_rng(0).integers(0, 256, 64, np.uint8)) + data[64:])
    cases["corrupt video"] = (_video(root, 0), "cannot decode video")
    data = open(_video(root, 1), "rb").read()
    open(_video(root, 1), "wb").write(data[: len(data) // 2])
    cases["truncated video"] = (_video(root, 1), "video is truncated: its 'mdat' box needs")
    open(_video(root, 2), "wb").close()
    cases["empty video"] = (_video(root, 2), "video file is empty (0 bytes)")
    write_video(_video(root, 3), read_frames(_video(root, 4), range(6)), fps=4)
    cases["too-short video"] = (_video(root, 3),
                                f"video has 6 frames but its windows need 16 (episode {_ann(root, 3)})")
    os.remove(_video(root, 4))
    cases["missing video"] = (_video(root, 4), f"video file does not exist (needed by {_ann(root, 4)})")
    marker = os.path.join(root, "PWNED")
    with open(os.path.join(root, "annotation", "train", "5.pickle"), "wb") as f:
        pickle.dump(Evil(marker), f)
    cases["malicious embedding"] = (os.path.join(root, "annotation", "train", "5.pickle"),
                                    "pickle refers to 'posix.system'")
    with open(os.path.join(root, "annotation", "train", "6.pickle"), "wb") as f:
        pickle.dump([np.zeros((4, EMB_DIM // 2), np.float32)], f)
    cases["wrong-width embedding"] = (os.path.join(root, "annotation", "train", "6.pickle"),
                                      f"embedding dim is {EMB_DIM // 2} but t5_embedding_dim={EMB_DIM}")
    ann = json.load(open(_ann(root, 7)))
    ann["action"] = [row[:6] for row in ann["action"]]
    json.dump(ann, open(_ann(root, 7), "w"))
    cases["action of width 6"] = (_ann(root, 7), "'action' row 0 has width 6, expected 7 numbers [dx,dy,dz,droll,"
                                  "dpitch,dyaw,gripper]; training does not read this field (actions come from "
                                  "'state') but it is malformed (fix: correct the 'action' field or remove it from "
                                  "the JSON)")
    return {"cases": cases, "marker": marker}


def break_json(root: str, i: int = 8) -> str:
    open(_ann(root, i), "w").write('{"state": [[0, 0')
    return _ann(root, i)


_made: dict = {}


def shared_damaged_bridge(name: str) -> tuple[str, dict]:
    """:func:`damaged_bridge` under the session's temp root, made once per ``name`` and process: (root, info)."""
    from tests.data_fixtures import _tmp_root

    if name not in _made:
        root = os.path.join(_tmp_root(), name)
        _made[name] = (root, damaged_bridge(root))
    return _made[name]
