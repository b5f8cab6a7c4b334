"""Tiny synthetic datasets generated once per test session (shared by the data tests).

Call the functions (not fixtures) so that every test module reuses the same folders.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset, write_video_text_dataset

TINY = SyntheticConfig(height=32, width=48, frames=16)
_root: str | None = None
_made: dict[str, str] = {}


def _tmp_root() -> str:
    global _root
    if _root is None:
        _root = tempfile.mkdtemp(prefix="cp2_data_tests_")
        atexit.register(shutil.rmtree, _root, True)
    return _root


def bridge_dir() -> str:
    """IRASim-layout synthetic Bridge data: 6 episodes of 16 frames at 32x48 (4 train, 1 val, 1 test)."""
    if "bridge" not in _made:
        out = f"{_tmp_root()}/bridge"
        write_bridge_dataset(out, episodes=6, seed=0, cfg=TINY)
        _made["bridge"] = out
    return _made["bridge"]


def video_text_dir() -> str:
    """Video-text synthetic data: 3 videos of 16 frames at 32x48 with captions (no embeddings)."""
    if "vt" not in _made:
        out = f"{_tmp_root()}/video_text"
        write_video_text_dataset(out, episodes=3, seed=0, cfg=TINY)
        _made["vt"] = out
    return _made["vt"]


def copy_of(src: str, name: str) -> str:
    """A fresh copy of a generated dataset that a test may damage."""
    dst = tempfile.mkdtemp(prefix=f"{name}_", dir=_tmp_root())
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst
