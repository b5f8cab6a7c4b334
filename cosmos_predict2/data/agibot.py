"""AgiBotWorld preparation helpers: time windows and ffmpeg cutting (used by the agibot script)."""

from __future__ import annotations

import os
import re
import subprocess

from cosmos_predict2.data.errors import DataError


def split_windows(num_frames: int, fps: float, window_s: float = 5.0, min_last_window_s: float = 7.5) -> list[tuple[int, int]]:
    """Cut [0, num_frames) into windows of `window_s` seconds: [(start, end_exclusive), ...].

    Tail rule: when the remainder is at most window + min_last_window, a remainder of at most
    `min_last_window_s` becomes one last window; a longer one is split into one `window_s` window
    plus the rest. So no window is shorter than needed to avoid tiny clips, and none exceeds
    `min_last_window_s`.
    """
    if num_frames <= 0:
        return []
    w = max(1, int(round(window_s * fps)))
    m = int(round(min_last_window_s * fps))
    out, start = [], 0
    while start < num_frames:
        rem = num_frames - start
        if rem <= w + m:
            if rem <= m:
                out.append((start, num_frames))
            else:
                out += [(start, start + w), (start + w, num_frames)]
            break
        out.append((start, start + w))
        start += w
    return out


def window_name(task_id: str, episode_id: str, index: int, start: int, end_exclusive: int) -> str:
    """`task_<tid>_episode_<eid>_window_<w>_frame_<start>-<end>.mp4` (end inclusive)."""
    return f"task_{task_id}_episode_{episode_id}_window_{index}_frame_{start}-{end_exclusive - 1}.mp4"


_NAME_RE = re.compile(r"task_(?P<task>[^_]+)_episode_(?P<episode>[^_]+)_window_(?P<w>\d+)_frame_(?P<s>\d+)-(?P<e>\d+)")


def parse_window_name(name: str) -> dict:
    m = _NAME_RE.match(os.path.basename(name))
    if not m:
        raise ValueError(f"not a window file name: {name}")
    return {"task": m["task"], "episode": m["episode"], "window": int(m["w"]), "start": int(m["s"]), "end": int(m["e"])}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def cut_clip(src: str, dst: str, start: int, end_exclusive: int, crf: int = 18) -> None:
    """Re-encode frames [start, end) of `src` to `dst` (libx264, yuv420p), frame-exact (trim by frame number)."""
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", src,
           "-vf", f"trim=start_frame={start}:end_frame={end_exclusive},setpts=PTS-STARTPTS",
           "-an", "-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p", dst]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise DataError(src, f"ffmpeg failed cutting frames {start}-{end_exclusive - 1}: {r.stderr.strip()[-300:]}")
