"""Video-text dataset: ``videos/*.mp4`` + ``metas/*.txt`` (caption) + ``t5_xxl/*.pickle`` (embedding).

Each sample is one consecutive window of `num_frames` frames (random start in training; a start
fixed by the index otherwise), resized to `video_size`, with the T5 embedding zero-padded to
`max_text_tokens` and a mask of the real tokens.

Every video must have a caption and (when `load_t5_embeddings`) an embedding with the same stem;
a mismatch is an error naming the files, or, with ``on_bad_sample="skip"``, the video is dropped,
logged and counted in ``num_skipped``. A video that fails while training is handled by the trainer
(see :class:`~cosmos_predict2.data.skipping.SkippingDataset`).
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Sequence

import numpy as np
import torch

from cosmos_predict2.data.bad_samples import DEFAULT_MAX_BAD_SAMPLE_FRACTION
from cosmos_predict2.data.checks import Check, parse_preflight
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.resize import frames_to_video
from cosmos_predict2.data.safe_pickle import load_embedding
from cosmos_predict2.data.skipping import SkippingDataset
from cosmos_predict2.data.video_io import read_frames, video_info

log = logging.getLogger(__name__)

DEFAULT_FPS = 16


def _stems(folder: str, ext: str) -> dict[str, str]:
    return {os.path.splitext(os.path.basename(p))[0]: p for p in sorted(glob.glob(os.path.join(folder, f"*{ext}")))}


def match_video_text_files(dataset_dir: str, need_embeddings: bool = True) -> tuple[list[dict], list[DataError]]:
    """Pair videos with captions and embeddings by file stem.

    Returns (entries, problems): entries are dicts {name, video, meta, t5}; problems are DataErrors
    for videos lacking a caption/embedding and for captions/embeddings without a video.
    Raises DataError when the folder or its videos/ subfolder is missing or empty.
    """
    if not os.path.isdir(dataset_dir):
        raise DataError(dataset_dir, "dataset folder does not exist")
    vdir, mdir, tdir = (os.path.join(dataset_dir, d) for d in ("videos", "metas", "t5_xxl"))
    if not os.path.isdir(vdir):
        raise DataError(dataset_dir, "no videos/ folder", "expected videos/*.mp4, metas/*.txt, t5_xxl/*.pickle")
    videos = _stems(vdir, ".mp4")
    if not videos:
        raise DataError(vdir, "no *.mp4 files")
    metas = _stems(mdir, ".txt")
    t5 = _stems(tdir, ".pickle")
    if need_embeddings and not os.path.isdir(tdir):
        raise DataError(dataset_dir, "no t5_xxl/ folder",
                        f"run `python -m scripts.get_t5_embeddings --dataset_path {dataset_dir}` "
                        "or pass load_t5_embeddings=False")
    entries, problems = [], []
    for name, vpath in videos.items():
        if name not in metas:
            problems.append(DataError(vpath, f"no caption metas/{name}.txt for this video"))
            continue
        if need_embeddings and name not in t5:
            problems.append(DataError(vpath, f"no embedding t5_xxl/{name}.pickle for this video",
                                      "run scripts/get_t5_embeddings.py"))
            continue
        entries.append({"name": name, "video": vpath, "meta": metas[name], "t5": t5.get(name)})
    for name in sorted(set(metas) - set(videos)):
        problems.append(DataError(metas[name], "caption has no matching video videos/%s.mp4" % name))
    if need_embeddings:
        for name in sorted(set(t5) - set(videos)):
            problems.append(DataError(t5[name], "embedding has no matching video videos/%s.mp4" % name))
    return entries, problems


def read_groot_metadata_csv(path: str) -> list[tuple[str, str]]:
    """GR1 `metadata.csv` -> [(video_filename, prompt)].

    The first line is a header and is skipped; each line is split on its first comma; surrounding
    double quotes are stripped from both parts. Blank lines are ignored; a line without a comma is
    an error naming the line.
    """
    if not os.path.isfile(path):
        raise DataError(path, "metadata csv does not exist")
    out = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if "," not in line:
            raise DataError(path, f"line {lineno} has no comma: {line[:80]!r}", "expected 'video_filename,prompt'")
        name, prompt = line.split(",", 1)
        out.append((name.strip().strip('"'), prompt.strip().strip('"')))
    return out


class VideoTextDataset(SkippingDataset):
    """Windows of captioned videos with precomputed T5 embeddings.

    Sample keys: video uint8 (C,T,H,W); t5_text_embeddings float32 (max_text_tokens, D);
    t5_text_mask int64 (max_text_tokens,) (1 on real tokens); fps (from the video, default 16);
    image_size [H,W,H,W]; num_frames; padding_mask (1,H,W); video_name; __key__; ai_caption (the caption).
    ``on_bad_sample`` / ``max_bad_sample_fraction``: see :class:`~cosmos_predict2.data.skipping.SkippingDataset`.
    """

    def __init__(
        self,
        dataset_dir: str,
        num_frames: int,
        video_size: Sequence[int],
        t5_embedding_dim: int = 1024,
        max_text_tokens: int = 512,
        mode: str = "train",
        load_t5_embeddings: bool = True,
        on_bad_sample: str = "error",
        max_bad_sample_fraction: float = DEFAULT_MAX_BAD_SAMPLE_FRACTION,
        preflight: str | bool = "on",
        **unused,
    ):
        super().__init__()
        self._init_skip(on_bad_sample, max_bad_sample_fraction)
        if unused:
            log.info("VideoTextDataset ignores unknown arguments: %s", sorted(unused))
        self.dataset_dir = str(dataset_dir)
        self.num_frames = int(num_frames)
        self.video_size = [int(video_size[0]), int(video_size[1])]
        self.t5_embedding_dim = int(t5_embedding_dim)
        self.max_text_tokens = int(max_text_tokens)
        self.mode = mode
        self.load_t5_embeddings = load_t5_embeddings
        self.preflight = parse_preflight(preflight)  # the up-front file scan at training start (data/scan.py)
        entries, problems = match_video_text_files(self.dataset_dir, load_t5_embeddings)
        for p in problems:
            if self.on_bad_sample == "error":
                raise p
            self.record_skip(p, "file")
        if not entries:
            raise DataError(self.dataset_dir, f"no usable videos ({self.num_skipped} skipped)")
        self.entries = entries

    @staticmethod
    def check_files(dataset_dir: str, load_t5_embeddings: bool = True, on_bad_sample: str = "error",
                    **unused) -> None:
        """Preflight (no video opened): videos, captions and embeddings are there and pair up. Raises
        :class:`DataError` (the first problem, with the count of all; none with ``on_bad_sample="skip"``)."""
        _, problems = match_video_text_files(str(dataset_dir), load_t5_embeddings)
        if problems and on_bad_sample == "error":
            first = problems[0]
            more = f" ({len(problems) - 1} more problems like it)" if len(problems) > 1 else ""
            raise DataError(first.path, first.problem + more, first.fix)

    def scan_checks(self) -> list[Check]:
        """Every file this dataset reads and what it must hold (run by :mod:`cosmos_predict2.data.scan`): each
        video with ``num_frames`` frames, its caption, its embedding when loaded."""
        out = []
        for e in self.entries:
            out.append(Check.make("video", e["video"], min_frames=self.num_frames,
                                  full_decode=self.preflight == "full"))
            out.append(Check.make("caption", e["meta"]))
            if self.load_t5_embeddings:
                out.append(Check.make("embedding", e["t5"], e["video"], dim=self.t5_embedding_dim,
                                      max_tokens=self.max_text_tokens))
        return out

    def __len__(self) -> int:
        return len(self.entries)

    def sample_key(self, index: int) -> str:
        return self.entries[index]["name"]

    def _load(self, index: int) -> dict:
        e = self.entries[index]
        n, fps, _, _ = video_info(e["video"])
        if n < self.num_frames:
            raise DataError(e["video"], f"video has {n} frames, fewer than num_frames={self.num_frames}")
        high = n - self.num_frames + 1
        # train: numpy's global RNG (seeded per worker by the loader); otherwise fixed by the index
        start = int(np.random.randint(high) if self.mode == "train" else np.random.default_rng(index).integers(high))
        frames = read_frames(e["video"], range(start, start + self.num_frames))
        video = frames_to_video(frames, self.video_size)  # (C, T, H, W) uint8
        emb = torch.zeros(self.max_text_tokens, self.t5_embedding_dim, dtype=torch.float32)
        mask = torch.zeros(self.max_text_tokens, dtype=torch.int64)
        if self.load_t5_embeddings:
            arr = load_embedding(e["t5"], self.t5_embedding_dim, self.max_text_tokens)
            emb[: len(arr)] = torch.from_numpy(arr)
            mask[: len(arr)] = 1
        with open(e["meta"], encoding="utf-8") as f:
            caption = f.read().strip()
        h, w = self.video_size
        return {
            "video": video,
            "t5_text_embeddings": emb,
            "t5_text_mask": mask,
            "fps": float(fps) if fps > 0 else float(DEFAULT_FPS),
            "image_size": torch.tensor([h, w, h, w], dtype=torch.float32),
            "num_frames": self.num_frames,
            "padding_mask": torch.zeros(1, h, w, dtype=torch.float32),
            "video_name": e["name"],
            "__key__": e["name"],
            "ai_caption": caption,
        }
