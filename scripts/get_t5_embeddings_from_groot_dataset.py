"""GR1 / DreamGen: metadata.csv -> metas/*.txt (prefix + prompt) and t5_xxl/*.pickle.

    python -m scripts.get_t5_embeddings_from_groot_dataset --dataset_path datasets/benchmark_train/gr1
        [--prompt_prefix "The robot arm is performing a task. "] [--meta_csv PATH] [--max_length N]
        [--cache_dir checkpoints/google-t5/t5-11b]

Download the data first (documented upstream):
``huggingface-cli download nvidia/GR1-100 --repo-type dataset --local-dir datasets/benchmark_train/hf_gr1/``,
then move ``gr1/*mp4`` to ``<dataset>/videos/`` and ``metadata.csv`` to ``<dataset>/``.
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.video_text import read_groot_metadata_csv
from scripts.get_t5_embeddings import DEFAULT_T5, encode_prompt_files, run_reporting_errors

DEFAULT_PREFIX = "The robot arm is performing a task. "


def write_metas(dataset_path: str, meta_csv: str | None = None, prompt_prefix: str = DEFAULT_PREFIX) -> list[tuple[str, str]]:
    """Write metas/<basename>.txt for every csv row; returns [(prompt, t5 pickle path)] still to encode."""
    csv = meta_csv or os.path.join(dataset_path, "metadata.csv")
    if not os.path.isfile(csv):
        raise DataError(csv, "metadata csv does not exist",
                        "pass --dataset_path DIR that holds metadata.csv (as downloaded from nvidia/GR1-100), or --meta_csv PATH")
    rows = read_groot_metadata_csv(csv)
    if not rows:
        raise DataError(csv, "has no rows after the header", "expected one 'video_filename,prompt' line per video")
    os.makedirs(os.path.join(dataset_path, "metas"), exist_ok=True)
    jobs = []
    for video, prompt in rows:
        base = os.path.splitext(os.path.basename(video))[0]
        text = prompt_prefix + prompt
        with open(os.path.join(dataset_path, "metas", base + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
        out = os.path.join(dataset_path, "t5_xxl", base + ".pickle")
        if not os.path.exists(out):
            jobs.append((text, out))
    return jobs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset_path", default="datasets/benchmark_train/gr1")
    p.add_argument("--prompt_prefix", default=DEFAULT_PREFIX)
    p.add_argument("--meta_csv", default=None, help="default: <dataset_path>/metadata.csv")
    p.add_argument("--max_length", type=int, default=None)
    p.add_argument("--cache_dir", default=DEFAULT_T5)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)

    def work() -> str:
        jobs = write_metas(a.dataset_path, a.meta_csv, a.prompt_prefix)
        written = encode_prompt_files(jobs, a.cache_dir, a.max_length, a.batch_size, a.device)
        return f"done: metas written for {a.dataset_path}; {written} embeddings written"

    return run_reporting_errors(work, a.cache_dir)


if __name__ == "__main__":
    sys.exit(main())
