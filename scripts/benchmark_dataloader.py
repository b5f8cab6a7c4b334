"""Dataloader throughput vs raw decoding of the same clips, in one run.

    python -m scripts.benchmark_dataloader [--num_workers 2] [--samples 96] [--height 256 --width 320]
        [--bridge_dir DIR] [--video_text_dir DIR] [--num_frames 13] [--batch_size 1]

Without --bridge_dir / --video_text_dir, synthetic datasets of the given size are generated in a
temporary folder. For each loader it measures:
  raw   = samples/s decoding exactly the same windows single-threaded with video_io.read_frames;
  load  = samples/s of build_dataloader(num_workers=N) after the first batch (worker start excluded);
  ratio = load / (N * raw)   (goal >= 0.9: the loader adds little over pure decoding).
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
import torch
from tqdm import tqdm

from cosmos_predict2.data.bridge import BridgeActionDataset, bridge_video_path
from cosmos_predict2.data.loader import build_dataloader
from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset, write_video_text_dataset
from cosmos_predict2.data.video_io import clear_reader_cache, read_frames, video_info, write_video
from cosmos_predict2.data.video_text import VideoTextDataset


def bridge_clips(ds: BridgeActionDataset, indices) -> list[tuple[str, list[int]]]:
    out = []
    for i in indices:
        ep_idx, start = ds.samples[i]
        ep = ds.episodes[ep_idx]
        path = bridge_video_path(ds.dataset_dir, ep["path"], ep["ann"], ds.cam_ids[0], ds.layout)
        out.append((path, [start + k * ds.sequence_interval for k in range(ds.num_frames)]))
    return out


def video_text_clips(ds: VideoTextDataset, indices) -> list[tuple[str, list[int]]]:
    out = []
    for i in indices:
        e = ds.entries[i]
        n = video_info(e["video"])[0]
        start = int(np.random.default_rng(i).integers(n - ds.num_frames + 1))
        out.append((e["video"], list(range(start, start + ds.num_frames))))
    return out


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_rate(clips_per_worker: list[list[tuple[str, list[int]]]]) -> tuple[float, float]:
    """Single-thread read_frames of each worker's clips in that worker's order, with a fresh reader cache
    per worker (as the workers have): (samples/s wall, samples/CPU-s)."""
    n, wall, cpu = 0, 0.0, 0.0
    for clips in clips_per_worker:
        clear_reader_cache()
        c0, t0 = _proc_cpu(os.getpid()), time.perf_counter()
        for path, idx in clips:
            read_frames(path, idx)
        wall += time.perf_counter() - t0
        cpu += _proc_cpu(os.getpid()) - c0
        n += len(clips)
    clear_reader_cache()
    return n / wall, n / max(cpu, 1e-3)


def loader_round(ds, num_workers: int, batch_size: int, samples: int):
    """One timed pass of a fresh loader: (samples/s wall, samples/CPU-s of main + workers, per-worker indices).

    The first batch (worker start-up) is excluded; the indices returned are the samples timed, split by the
    worker that loaded them (batch j goes to worker j % num_workers)."""
    ld = build_dataloader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=True, seed=0)
    order = ld.sampler._order()
    it = iter(ld)
    next(it)
    base = getattr(ld, "_iterator", None)  # the multi-process iterator holding the workers
    pids = [os.getpid()] + [w.pid for w in getattr(base, "_workers", [])]
    assert len(pids) == 1 + num_workers, "could not find the worker processes"
    n_batches = -(-samples // batch_size)
    c0, t0 = sum(map(_proc_cpu, pids)), time.perf_counter()
    for _ in range(n_batches):
        next(it)
    dt, cpu = time.perf_counter() - t0, sum(map(_proc_cpu, pids)) - c0
    per_worker = [[] for _ in range(max(num_workers, 1))]
    for j in range(1, n_batches + 1):
        per_worker[j % max(num_workers, 1)] += order[j * batch_size : (j + 1) * batch_size]
    del it, base, ld
    n = n_batches * batch_size
    return n / dt, n / max(cpu, 1e-3), per_worker


def _texturize(root: str, seed: int = 0) -> None:
    """Re-encode every mp4 under `root` with a moving high-frequency texture added, so that decoding costs
    about what real camera footage costs (the flat synthetic scenes decode unusually fast)."""
    import glob

    rng = np.random.default_rng(seed)
    for path in sorted(glob.glob(os.path.join(root, "**", "*.mp4"), recursive=True)):
        if os.path.islink(path):  # replicated copies point at an original that is textured once
            continue
        n, fps, h, w = video_info(path)
        frames = read_frames(path, range(n)).astype(np.int16)
        noise = rng.integers(-40, 41, size=(h, w + 2 * n, 3), dtype=np.int16)
        for t in range(n):
            frames[t] += noise[:, 2 * t : 2 * t + w]
        clear_reader_cache()
        write_video(path, np.clip(frames, 0, 255).astype(np.uint8), fps=fps or 4)


def _replicate_video_text(vdir: str, total: int) -> None:
    """Symlinked copies of the generated videos/captions so one epoch holds `total` samples."""
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(vdir, "videos")))
    for k in range(len(names), total):
        src = names[k % len(names)]
        os.symlink(os.path.abspath(os.path.join(vdir, "videos", src + ".mp4")),
                   os.path.join(vdir, "videos", f"copy{k:05d}.mp4"))
        os.symlink(os.path.abspath(os.path.join(vdir, "metas", src + ".txt")),
                   os.path.join(vdir, "metas", f"copy{k:05d}.txt"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_workers", type=int, default=2)
    p.add_argument("--samples", type=int, default=96, help="samples timed per loader")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--num_frames", type=int, default=13)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--frames", type=int, default=40, help="frames per generated episode")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best kept)")
    p.add_argument("--content", choices=["synthetic", "textured"], default="synthetic",
                   help="generated data only: textured adds camera-like high-frequency detail (decode cost)")
    p.add_argument("--bridge_dir", default=None)
    p.add_argument("--video_text_dir", default=None)
    a = p.parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="bench_data_")
    cfg = SyntheticConfig(height=a.height, width=a.width, frames=a.frames)
    size = [a.height, a.width]
    bdir, vdir = a.bridge_dir, a.video_text_dir
    with tqdm(total=(bdir is None) * a.episodes + (vdir is None) * a.episodes, desc="generate", unit="ep") as bar:
        if bdir is None:
            bdir = os.path.join(tmp.name, "bridge")
            write_bridge_dataset(bdir, a.episodes, 0, cfg, (1, 0, 0), progress=bar.update)
        if vdir is None:
            vdir = os.path.join(tmp.name, "vt")
            write_video_text_dataset(vdir, a.episodes, 0, cfg, progress=bar.update)
            _replicate_video_text(vdir, a.samples + 2 * a.batch_size)
    if a.content == "textured":
        for d in {bdir, vdir} - {a.bridge_dir, a.video_text_dir}:
            _texturize(d)
    datasets = {
        "bridge": BridgeActionDataset(bdir, "train", num_frames=a.num_frames, video_size=size),
        "video_text": VideoTextDataset(vdir, a.num_frames, size, mode="val", load_t5_embeddings=False),
    }
    torch.set_num_threads(1)
    rows = []
    for name, ds in datasets.items():
        samples = min(a.samples, (len(ds) // a.batch_size - 1) * a.batch_size)
        if samples < a.samples:
            print(f"note: {name} has {len(ds)} samples; timing {samples} per round")
        clipper = bridge_clips if name == "bridge" else video_text_clips
        raws, loads = [], []
        for _ in range(a.rounds):  # interleave loader and raw rounds; keep the best of each (shared CPUs)
            lw, lc, per_worker = loader_round(ds, a.num_workers, a.batch_size, samples)
            loads.append((lw, lc))
            raws.append(raw_rate([clipper(ds, idx) for idx in per_worker]))
        raw_w, raw_c = max(r[0] for r in raws), max(r[1] for r in raws)
        load_w, load_c = max(r[0] for r in loads), max(r[1] for r in loads)
        rows.append((name, raw_w, load_w, load_w / (max(a.num_workers, 1) * raw_w), raw_c, load_c, load_c / raw_c))
    content = a.content if a.bridge_dir is None else "given"
    print(f"\ncontent: {content}; clips: {a.num_frames} frames at {a.height}x{a.width}, batch {a.batch_size}, "
          f"{a.num_workers} workers, {a.samples} samples x {a.rounds} rounds (best), {os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'loader':<12}{'raw/s (1 thread)':>18}{'loader/s':>10}{'ratio':>7}"
          f"{'raw/CPU-s':>11}{'loader/CPU-s':>14}{'CPU ratio':>11}")
    for name, rw, lw, r, rc, lc, cr in rows:
        print(f"{name:<12}{rw:>18.1f}{lw:>10.1f}{r:>7.2f}{rc:>11.1f}{lc:>14.1f}{cr:>11.2f}")
    print("ratio = loader samples/s / (workers x single-thread raw decode samples/s); goal >= 0.90.\n"
          "CPU ratio = samples per CPU-second of the loader (main + workers) / of raw decoding: the loader's "
          "own overhead, independent of other load on the machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
