"""Compute T5 text embeddings for every caption of a video-text dataset.

    python -m scripts.get_t5_embeddings --dataset_path datasets/hdvila [--max_length 512]
        [--cache_dir checkpoints/google-t5/t5-11b] [--batch_size 8]

For each ``metas/X.txt`` writes ``t5_xxl/X.pickle`` (a list holding one float16 array (n_tokens, D)).
Existing pickles are skipped. The encoder is loaded from local files only: download it first with
``huggingface-cli download google-t5/t5-11b --local-dir checkpoints/google-t5/t5-11b``.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm

DEFAULT_T5 = "checkpoints/google-t5/t5-11b"


def encode_prompt_files(jobs: list[tuple[str, str]], model: str, max_length: int | None = None,
                        batch_size: int = 8, device: str = "cpu") -> int:
    """Encode [(prompt, output_pickle_path)] in batches with T5TextEncoder; returns the number written."""
    if not jobs:
        return 0
    from cosmos_predict2.data.safe_pickle import save_embedding_pickle
    from cosmos_predict2.text_encoders.t5 import T5TextEncoder

    enc = T5TextEncoder(model, max_length=max_length or 512, device=device)
    written = 0
    with tqdm(total=len(jobs), desc="T5 embeddings", unit="prompt") as bar:
        for i in range(0, len(jobs), batch_size):
            chunk = jobs[i : i + batch_size]
            arrays = enc.encode_to_arrays([p for p, _ in chunk], batch_size=batch_size)
            for (_, out), arr in zip(chunk, arrays):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                save_embedding_pickle(out, arr)
                written += 1
            bar.update(len(chunk))
    return written


def encode_metas(dataset_path: str, model: str = DEFAULT_T5, max_length: int | None = None,
                 batch_size: int = 8, device: str = "cpu") -> tuple[int, int]:
    """metas/*.txt -> t5_xxl/*.pickle, skipping existing pickles. Returns (written, skipped)."""
    from cosmos_predict2.data.errors import DataError

    if not os.path.isdir(dataset_path):
        raise DataError(dataset_path, "dataset folder does not exist",
                        "pass --dataset_path DIR of a video-text dataset (videos/*.mp4 + metas/*.txt)")
    metas = sorted(glob.glob(os.path.join(dataset_path, "metas", "*.txt")))
    if not metas:
        raise DataError(dataset_path, "no metas/*.txt captions to encode",
                        "write one metas/<clip>.txt caption per videos/<clip>.mp4, or pass the dataset folder that has them")
    jobs, skipped = [], 0
    for m in metas:
        out = os.path.join(dataset_path, "t5_xxl", os.path.splitext(os.path.basename(m))[0] + ".pickle")
        if os.path.exists(out):
            skipped += 1
            continue
        with open(m, encoding="utf-8") as f:
            jobs.append((f.read().strip(), out))
    return encode_prompt_files(jobs, model, max_length, batch_size, device), skipped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset_path", default="datasets/hdvila")
    p.add_argument("--max_length", type=int, default=None, help="tokens (default 512)")
    p.add_argument("--cache_dir", default=DEFAULT_T5, help="T5 folder / HF cache dir / hub id")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)

    def work() -> str:
        written, skipped = encode_metas(a.dataset_path, a.cache_dir, a.max_length, a.batch_size, a.device)
        return f"done: {written} embeddings written, {skipped} already present, in {a.dataset_path}/t5_xxl"

    return run_reporting_errors(work, a.cache_dir)


def run_reporting_errors(work: Callable[[], str], cache_dir: str) -> int:
    """Run ``work`` and print its summary (exit 0), or one error line (exit 2) for bad data or a missing
    T5 encoder under ``cache_dir``."""
    from cosmos_predict2.data.errors import DataError

    try:
        summary = work()
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:  # the T5 encoder (--cache_dir) is not there
        print(f"error: --cache_dir {cache_dir}: {err}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
