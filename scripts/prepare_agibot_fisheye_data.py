"""Prepare AgiBotWorld-Alpha fisheye clips for video-text post-training.

    # 1) download task tars (gated dataset: accept the licence on Hugging Face, `huggingface-cli login`),
    #    extract them and keep only the camera mp4 of every episode
    python scripts/prepare_agibot_fisheye_data.py [--task_ids 327] [--data_dir datasets/agibot]
    # clean an existing download only (keep videos/<camera>.mp4 of each episode)
    python scripts/prepare_agibot_fisheye_data.py --delete-only
    # 2) cut 5 s windows (7.5 s tail rule) and split train / val by episode id
    python scripts/prepare_agibot_fisheye_data.py --split-only --val_episode_ids 685393

Source tree: ``<data_dir>/observations/<task>/<episode>/videos/<camera>.mp4``.
Output: ``<output_dir>/{train,val}/videos/task_<t>_episode_<e>_window_<w>_frame_<s>-<e>.mp4``
(default output_dir ``datasets/agibot_<camera>``), plus ``metas/<clip>.txt`` when a captions jsonl
(fields video_clip, caption, episode_id) is given. Windows are cut with imageio-ffmpeg's ffmpeg.
A source tree without any ``<camera>.mp4`` (wrong --data_dir / --task_ids / --camera), unknown
--val_episode_ids or a missing --captions_jsonl is one ``error:`` line and exit code 2, before anything is
cut or deleted.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tarfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm

from cosmos_predict2.data.agibot import cut_clip, split_windows, window_name
from cosmos_predict2.data.video_io import video_info

REPO_ID = "agibot-world/AgiBotWorld-Alpha"


def download(data_dir: str, task_ids: list[str]) -> None:
    from huggingface_hub import snapshot_download

    patterns = [p for t in task_ids for p in (f"observations/{t}/*.tar", f"task_info/task_{t}.json")]
    snapshot_download(repo_id=REPO_ID, repo_type="dataset", allow_patterns=patterns, local_dir=data_dir)


def extract(data_dir: str, task_ids: list[str], keep_tar: bool) -> int:
    tars = [p for t in task_ids for p in sorted(glob.glob(os.path.join(data_dir, "observations", t, "*.tar")))]
    for p in tqdm(tars, desc="extract", unit="tar"):
        with tarfile.open(p) as tf:
            tf.extractall(os.path.dirname(p), filter="data")
        if not keep_tar:
            os.remove(p)
    return len(tars)


def episode_dirs(data_dir: str, task_id: str) -> list[str]:
    return sorted(d for d in glob.glob(os.path.join(data_dir, "observations", task_id, "*")) if os.path.isdir(d))


def clean(data_dir: str, task_ids: list[str], camera: str) -> int:
    """Keep only <episode>/videos/<camera>.mp4; returns the number of episodes kept."""
    kept = 0
    for t in task_ids:
        for ep in tqdm(episode_dirs(data_dir, t), desc=f"clean task {t}", unit="ep"):
            for entry in os.listdir(ep):
                path = os.path.join(ep, entry)
                if entry != "videos":
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            vdir = os.path.join(ep, "videos")
            for f in os.listdir(vdir) if os.path.isdir(vdir) else []:
                if f != f"{camera}.mp4":
                    p = os.path.join(vdir, f)
                    shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
            kept += os.path.isfile(os.path.join(vdir, f"{camera}.mp4"))
    return kept


def split(data_dir: str, out_dir: str, task_ids: list[str], camera: str, val_ids: set[str], window_s: float,
          min_last_s: float, captions_jsonl: str | None = None) -> dict:
    """Cut every episode video into windows under out_dir/{train,val}/videos. Returns counts."""
    jobs = []
    for t in task_ids:
        for ep in episode_dirs(data_dir, t):
            src = os.path.join(ep, "videos", f"{camera}.mp4")
            if not os.path.isfile(src):
                print(f"warning: {src} missing, episode skipped")
                continue
            n, fps, _, _ = video_info(src)
            eid = os.path.basename(ep)
            part = "val" if eid in val_ids else "train"
            for w, (s, e) in enumerate(split_windows(n, fps or 30.0, window_s, min_last_s)):
                jobs.append((src, os.path.join(out_dir, part, "videos", window_name(t, eid, w, s, e)), s, e))
    counts = {"train": 0, "val": 0}
    for src, dst, s, e in tqdm(jobs, desc="cut windows", unit="clip"):
        cut_clip(src, dst, s, e)
        counts[os.path.basename(os.path.dirname(os.path.dirname(dst)))] += 1
    if captions_jsonl:
        counts["captions"] = write_captions(out_dir, captions_jsonl, val_ids)
    return counts


def write_captions(out_dir: str, jsonl: str, val_ids: set[str]) -> int:
    """metas/<video_clip>.txt from a jsonl; reports clips without caption and captions without clip."""
    n = 0
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            part = "val" if str(row.get("episode_id")) in val_ids else "train"
            clip = os.path.splitext(os.path.basename(row["video_clip"]))[0]
            os.makedirs(os.path.join(out_dir, part, "metas"), exist_ok=True)
            with open(os.path.join(out_dir, part, "metas", clip + ".txt"), "w", encoding="utf-8") as g:
                g.write(row["caption"].strip())
            n += 1
    for part in ("train", "val"):
        vids = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(out_dir, part, "videos", "*.mp4"))}
        caps = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(out_dir, part, "metas", "*.txt"))}
        if vids - caps:
            print(f"warning: {len(vids - caps)} {part} clips have no caption, e.g. {sorted(vids - caps)[:3]}")
        if caps - vids:
            print(f"warning: {len(caps - vids)} {part} captions have no clip, e.g. {sorted(caps - vids)[:3]}")
    return n


class InputError(Exception):
    """A missing / unusable input: one line naming it and the fix (exit code 2)."""


def check_source(data_dir: str, task_ids: list[str], camera: str) -> list[str]:
    """Episode folders that hold ``videos/<camera>.mp4``; InputError when there are none (nothing to do)."""
    eps = [ep for t in task_ids for ep in episode_dirs(data_dir, t)]
    tasks = task_ids[0] if len(task_ids) == 1 else "{" + ",".join(task_ids) + "}"
    where = os.path.join(data_dir, "observations", tasks)
    if not eps:
        raise InputError(f"no episode folders under {where}/ (expected <data_dir>/observations/<task>/<episode>/videos/"
                         f"{camera}.mp4): download them first (run without --split-only / --delete-only) or pass "
                         f"--data_dir / --task_ids of an existing download")
    with_cam = [ep for ep in eps if os.path.isfile(os.path.join(ep, "videos", f"{camera}.mp4"))]
    if not with_cam:
        found = sorted({os.path.splitext(os.path.basename(f))[0]
                        for ep in eps for f in glob.glob(os.path.join(ep, "videos", "*.mp4"))})
        seen = f"cameras found: {', '.join(found[:8])}" if found else "no videos/*.mp4 found at all"
        raise InputError(f"none of the {len(eps)} episodes under {where}/ has videos/{camera}.mp4: "
                         f"pass --camera NAME ({seen})")
    return with_cam


def main(argv=None) -> int:
    try:
        return _main(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task_ids", nargs="+", default=["327"])
    p.add_argument("--data_dir", default="datasets/agibot")
    p.add_argument("--output_dir", default=None, help="default datasets/agibot_<camera>")
    p.add_argument("--camera", default="head_center_fisheye_color")
    p.add_argument("--keep_tar", action="store_true")
    p.add_argument("--delete-only", dest="delete_only", action="store_true")
    p.add_argument("--split-only", dest="split_only", action="store_true")
    p.add_argument("--window-size", dest="window_size", type=float, default=5.0, help="seconds")
    p.add_argument("--min-last-window", dest="min_last_window", type=float, default=7.5, help="seconds")
    p.add_argument("--val_episode_ids", nargs="*", default=[])
    p.add_argument("--captions_jsonl", default=None, help="default datasets/agibot_<camera>.jsonl if present")
    a = p.parse_args(argv)
    out = a.output_dir or f"datasets/agibot_{a.camera}"
    if a.split_only:
        eps = check_source(a.data_dir, a.task_ids, a.camera)
        if a.captions_jsonl and not os.path.isfile(a.captions_jsonl):
            raise InputError(f"--captions_jsonl {a.captions_jsonl} does not exist; pass the captions file or leave "
                             f"the flag out")
        unknown = sorted(set(map(str, a.val_episode_ids)) - {os.path.basename(ep) for ep in eps})
        if unknown:
            raise InputError(f"--val_episode_ids {' '.join(unknown)}: no such episode with videos/{a.camera}.mp4 under "
                             f"{a.data_dir}/observations/ (e.g. {', '.join(os.path.basename(e) for e in eps[:3])})")
        jsonl = a.captions_jsonl or (f"datasets/agibot_{a.camera}.jsonl" if os.path.isfile(f"datasets/agibot_{a.camera}.jsonl") else None)
        counts = split(a.data_dir, out, a.task_ids, a.camera, set(map(str, a.val_episode_ids)), a.window_size,
                       a.min_last_window, jsonl)
        if not counts.get("train", 0) + counts.get("val", 0):
            raise InputError(f"no clips cut from the {len(eps)} episode videos ({a.camera}.mp4) under "
                             f"{a.data_dir}/observations/: they hold no frames; re-download or re-extract them")
        print(f"done: {counts.get('train', 0)} train and {counts.get('val', 0)} val clips in {out}"
              + (f"; {counts['captions']} captions" if "captions" in counts else ""))
        return 0
    if not a.delete_only:
        download(a.data_dir, a.task_ids)
        n = extract(a.data_dir, a.task_ids, a.keep_tar)
        print(f"extracted {n} tar files")
    check_source(a.data_dir, a.task_ids, a.camera)  # before deleting: a wrong --camera would empty every episode
    kept = clean(a.data_dir, a.task_ids, a.camera)
    print(f"done: {kept} episodes with {a.camera}.mp4 in {a.data_dir}/observations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
