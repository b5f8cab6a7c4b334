"""Time the dataset scan at training start (cosmos_predict2/data/scan.py): cold (empty cache) and cached (a relaunch).

    python -m scripts.benchmark_dataset_scan [--root /tmp/cp2_scan_bench] [--sets 160 5000] [--workers N] [--full]

Sets, generated under --root on the first run and reused after:

- ``synthetic_160``: ``python -m scripts.prepare_synthetic_data --layout bridge --episodes 160`` (64x80, 33 frames,
  splits 128/16/16); scanned as ``tiny_action_conditioned_bridge`` with validation on reads it: the train and val
  datasets, 13-frame windows (288 files).
- ``bridge_5000``: the Bridge/IRASim layout with 5000 train episodes: 8 generated episodes whose JSON and mp4 are
  copied under 5000 names (``--link`` hard-links the mp4 instead); the scan opens every path (10000 files).

For each set: the dataset constructors (annotation parse), the cold scan (fresh cache folder: every file opened,
packets demuxed, first frame decoded), the cached scan (same folder: stat only), in seconds; ``--full`` adds a cold
scan that decodes every frame (``preflight=full``). Files were just written or read, so the page cache is warm:
the cold numbers are CPU cost; on a network file system the first scan also waits on reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The project's modules are imported inside the functions: the scan's worker processes (spawn) import this file
# again as their main module, and should not pay for torch.


def synthetic_160(root: str) -> str:
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset

    out = os.path.join(root, "synthetic_160")
    info = os.path.join(out, "synthetic_info.json")
    if not (os.path.isfile(info) and json.load(open(info)).get("episodes") == 160):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        write_bridge_dataset(out, episodes=160, seed=0, cfg=SyntheticConfig())
        print(f"generated {out} in {time.perf_counter() - t0:.0f} s")
    return out


def bridge_5000(root: str, link: bool, episodes: int = 5000, templates: int = 8) -> str:
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset

    out = os.path.join(root, f"bridge_{episodes}")
    done = os.path.join(out, "done.json")
    if os.path.isfile(done) and json.load(open(done)) == {"episodes": episodes, "link": link}:
        return out
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    src = os.path.join(root, "bridge_templates")
    if not os.path.isdir(src):
        write_bridge_dataset(src, episodes=templates, seed=1, cfg=SyntheticConfig(), split_ratio=(1.0, 0.0, 0.0))
    anns = [json.load(open(os.path.join(src, "annotation", "train", f"{i}.json"))) for i in range(templates)]
    os.makedirs(os.path.join(out, "annotation", "train"))
    for i in range(episodes):
        k = i % templates
        rel = f"videos/train/{i}/rgb.mp4"
        os.makedirs(os.path.join(out, os.path.dirname(rel)))
        (os.link if link else shutil.copyfile)(os.path.join(src, anns[k]["videos"][0]["video_path"]),
                                               os.path.join(out, rel))
        ann = dict(anns[k], episode_id=str(i), videos=[{"video_path": rel}])
        with open(os.path.join(out, "annotation", "train", f"{i}.json"), "w") as f:
            json.dump(ann, f)
    json.dump({"episodes": episodes, "link": link}, open(done, "w"))
    print(f"generated {out} ({'hard links' if link else 'copies'}) in {time.perf_counter() - t0:.0f} s")
    return out


def measure(name: str, root: str, modes: list[str], workers, full: bool) -> None:
    from cosmos_predict2.data.bridge import BridgeActionDataset
    from cosmos_predict2.data.scan import scan

    t0 = time.perf_counter()
    datasets = [BridgeActionDataset(root, m, num_frames=13, video_size=(64, 80)) for m in modes]
    build = time.perf_counter() - t0
    groups = [(root, d.scan_checks()) for d in datasets]
    with tempfile.TemporaryDirectory() as cache:
        rows = [("cold", scan(groups, workers=workers, cache_folder=cache)),
                ("cached", scan(groups, workers=workers, cache_folder=cache))]
    if full:
        full_groups = [(root, BridgeActionDataset(root, m, num_frames=13, video_size=(64, 80), preflight="full")
                        .scan_checks()) for m in modes]
        rows.append(("cold, every frame decoded", scan(full_groups, workers=workers, cache_folder=None)))
    print(f"\n{name}: {root} ({' + '.join(modes)}; datasets built in {build:.2f} s)")
    for label, rep in rows:
        print(f"  {label:27s} {rep.seconds:7.2f} s  {rep.checks / max(rep.seconds, 1e-9):8.0f} files/s  "
              f"({rep.checks} files, {rep.scanned} opened, {rep.cache_hits} from cache, "
              f"{f'{rep.workers} processes' if rep.workers > 1 else 'in-process'}, {len(rep.problems)} problems)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "cp2_scan_bench"))
    p.add_argument("--sets", nargs="+", default=["160", "5000"], choices=["160", "5000"])
    p.add_argument("--workers", type=int, default=None, help="scan processes (default: the scan's own choice)")
    p.add_argument("--link", action="store_true", help="5000 set: hard-link the mp4 files instead of copying")
    p.add_argument("--full", action="store_true", help="also time a cold scan that decodes every frame")
    a = p.parse_args(argv)
    os.makedirs(a.root, exist_ok=True)
    if "160" in a.sets:
        measure("synthetic_160", synthetic_160(a.root), ["train", "val"], a.workers, a.full)
    if "5000" in a.sets:
        measure("bridge_5000", bridge_5000(a.root, a.link), ["train"], a.workers, a.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
