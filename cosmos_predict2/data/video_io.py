"""Video reading (decord first, PyAV fallback) and writing (imageio + libx264).

Reading is frame-exact random access: ``read_frames(path, [37, 5, 60])`` returns exactly those
frames, in that order, as uint8 (T, H, W, 3). Readers are cached per process (so each DataLoader
worker keeps its own open files); the cache is dropped automatically after a fork. Checking a file without
reading it: :func:`probe_frames` (packets counted, first frame decoded) or :func:`decode_all_count` (every frame).

Every failure is raised as :class:`~cosmos_predict2.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections import OrderedDict
from typing import Sequence

import numpy as np

from cosmos_predict2.data.errors import DataError

log = logging.getLogger(__name__)

try:  # decord is optional: PyAV is the fallback.
    import decord

    decord.bridge.set_bridge("native")
    decord.logging.set_level(decord.logging.QUIET)  # a bad file is our one-line DataError, not ffmpeg's log lines
    _HAVE_DECORD = True
except Exception:  # pragma: no cover - depends on the install
    decord = None
    _HAVE_DECORD = False

_CACHE_SIZE = 16
_cache: "OrderedDict[str, object]" = OrderedDict()
_cache_pid = os.getpid()
_decord_threads = 1
# Readers inherited through fork are never closed in the child: destroying a decord reader whose
# decoder threads lived in the parent can deadlock. They are parked here instead.
_inherited: list = []


_backend = os.environ.get("COSMOS_VIDEO_BACKEND", "auto")  # auto (decord, PyAV fallback) | decord | pyav


def set_backend(name: str) -> None:
    """Reader backend: "auto" (decord, falling back to PyAV), "decord" or "pyav" (env COSMOS_VIDEO_BACKEND)."""
    global _backend
    if name not in ("auto", "decord", "pyav"):
        raise ValueError(f"video backend must be auto, decord or pyav, got {name!r}")
    _backend = name
    clear_reader_cache()


def _use_decord() -> bool:
    return _HAVE_DECORD and _backend != "pyav"


def set_decoder_threads(n: int) -> None:
    """Threads per decord reader (1 suits DataLoader workers; more suits a single main process)."""
    global _decord_threads
    _decord_threads = int(n)
    clear_reader_cache()


def clear_reader_cache() -> None:
    """Close every cached reader of this process."""
    if os.getpid() != _cache_pid:
        _inherited.extend(_cache.values())
    _cache.clear()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null while a native library call runs (Python's own stderr is flushed
    first and restored after)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (e.g. captured): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _cached_decord(path: str):
    """A decord VideoReader for `path`, opened once per process (LRU of 16)."""
    global _cache_pid
    if os.getpid() != _cache_pid:  # forked worker: never share (nor close) the parent's readers
        _inherited.extend(_cache.values())
        _cache.clear()
        _cache_pid = os.getpid()
    vr = _cache.get(path)
    if vr is not None:
        _cache.move_to_end(path)
        return vr
    with _native_stderr_silenced():  # decord logs its own "ERROR opening" line; a failure is our DataError
        vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=_decord_threads)
    _cache[path] = vr
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return vr


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise DataError(path, "video file does not exist")
    if os.path.getsize(path) == 0:
        raise DataError(path, "video file is empty (0 bytes)")


def _pyav_info(path: str) -> tuple[int, float, int, int]:
    import av

    with av.open(path) as container:
        if not container.streams.video:
            raise DataError(path, "no video stream in file")
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        n = 0
        h = w = 0
        for frame in container.decode(stream):
            if n == 0:
                h, w = frame.height, frame.width
            n += 1
    return n, fps, h, w


def _pyav_read(path: str, indices: Sequence[int]) -> np.ndarray:
    """Sequential decode up to max(indices); keeps only the requested frames."""
    import av

    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    with av.open(path) as container:
        if not container.streams.video:
            raise DataError(path, "no video stream in file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoded = 0
        for i, frame in enumerate(container.decode(stream)):
            decoded = i + 1
            if i in wanted:
                got[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
    missing = sorted(wanted - set(got))
    if missing:
        raise DataError(path, f"video has {decoded} decodable frames but frame {missing[-1]} was requested",
                        "the video is truncated or shorter than its annotation / the requested window; check it with scripts/validate_dataset.py")
    return np.stack([got[int(i)] for i in indices])


def video_info(path: str | os.PathLike) -> tuple[int, float, int, int]:
    """(num_frames, fps, height, width) of a video; fps is 0.0 when the container does not say."""
    path = str(path)
    _check_file(path)
    if _use_decord():
        try:
            vr = _cached_decord(path)
            h, w = vr[0].shape[:2] if len(vr) > 0 else (0, 0)
            return len(vr), float(vr.get_avg_fps() or 0.0), int(h), int(w)
        except DataError:
            raise
        except Exception as e:  # decord failed: try PyAV before giving up
            log.debug("decord could not open %s (%s); trying PyAV", path, e)
    try:
        return _pyav_info(path)
    except DataError:
        raise
    except Exception as e:
        raise DataError(path, f"cannot decode video ({type(e).__name__}: {e})",
                        "re-encode or remove the file") from e


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> np.ndarray:
    """Frames `indices` of the video at `path` as uint8 (T, H, W, 3), in the order given."""
    path = str(path)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("read_frames needs at least one frame index")
    if min(indices) < 0:
        raise DataError(path, f"negative frame index {min(indices)} requested")
    _check_file(path)
    if _use_decord():
        try:
            vr = _cached_decord(path)
            n = len(vr)
            if max(indices) >= n:
                raise DataError(path, f"video has {n} frames but frame {max(indices)} was requested",
                                "the video is truncated or shorter than its annotation / the requested window; check it with scripts/validate_dataset.py")
            frames = vr.get_batch(indices).asnumpy()
            if frames.shape[0] != len(indices):
                raise RuntimeError(f"decord returned {frames.shape[0]} of {len(indices)} frames")
            return np.ascontiguousarray(frames, dtype=np.uint8)
        except DataError:
            raise
        except Exception as e:  # corrupt for decord: PyAV may still decode it
            if os.getpid() == _cache_pid:
                _cache.pop(path, None)
            log.debug("decord failed on %s (%s); trying PyAV", path, e)
    try:
        return _pyav_read(path, indices)
    except DataError:
        raise
    except Exception as e:
        raise DataError(path, f"cannot decode video ({type(e).__name__}: {e})",
                        "re-encode or remove the file") from e


def read_frames_at_times(path: str | os.PathLike, times_s: Sequence[float], tolerance_s: float = 1e-4) -> np.ndarray:
    """The frames shown at ``times_s`` (seconds from the start of the file, as frame timestamps) as uint8
    (T, H, W, 3), in the order given: frame-exact access by presentation time, for files that hold several
    episodes one after another (LeRobot v3.0). A time with no frame within ``tolerance_s`` is a DataError
    naming the time."""
    import av

    path = str(path)
    times = [float(t) for t in times_s]
    if not times:
        raise ValueError("read_frames_at_times needs at least one time")
    _check_file(path)
    want = sorted(set(times))
    got: dict[float, tuple[float, np.ndarray]] = {}  # requested time -> (frame time, frame)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise DataError(path, "no video stream in file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            tb = float(stream.time_base)
            start = int(max(0.0, want[0] - tolerance_s) / tb)
            if start > 0:
                container.seek(start, stream=stream, backward=True, any_frame=False)
            j = 0
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = frame.pts * tb
                while j < len(want) and t > want[j] + tolerance_s:
                    j += 1  # passed this time without a match: reported below
                if j >= len(want):
                    break
                for k in range(j, len(want)):
                    if abs(t - want[k]) > tolerance_s:
                        break
                    if want[k] not in got or abs(t - want[k]) < abs(got[want[k]][0] - want[k]):
                        got[want[k]] = (t, frame.to_ndarray(format="rgb24"))
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - PyAV raises several classes
        raise DataError(path, f"cannot decode video ({type(e).__name__}: {e})", "re-encode or remove the file") from e
    missing = [t for t in want if t not in got]
    if missing:
        raise DataError(path, f"no frame within {tolerance_s:g} s of timestamp {missing[0]:.6f} s "
                              f"({len(missing)} of {len(want)} requested times unmatched)",
                        "the timestamps in the data do not match the video's frames; re-encode the video or fix "
                        "the timestamps (or raise the tolerance)")
    return np.stack([got[t][1] for t in times])


def decode_all_count(path: str | os.PathLike) -> tuple[int, int, int]:
    """Decode every frame with PyAV (robust full check). Returns (num_frames, H, W); DataError if broken."""
    path = str(path)
    _check_file(path)
    try:
        n, _, h, w = _pyav_info(path)
    except DataError:
        raise
    except Exception as e:
        raise DataError(path, f"cannot decode video ({type(e).__name__}: {e})",
                        "re-encode or remove the file") from e
    if n == 0:
        raise DataError(path, "video has no decodable frames")
    return n, h, w


def _demux_count(path: str) -> tuple[int, int, int]:
    """Count the video packets (no decode) and decode only the first frame; see :func:`probe_frames`."""
    import av

    with av.open(path) as container:
        if not container.streams.video:
            raise DataError(path, "no video stream in file")
        stream = container.streams.video[0]
        codec = stream.codec_context
        codec.thread_count = 1
        listed = int(stream.frames or 0)  # the container index's count (0 when it has none)
        n, first = 0, None
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            n += 1
            if packet.is_corrupt:
                raise DataError(path, f"video is truncated: packet {n} of {listed or '?'} is cut short",
                                "re-encode or re-copy the file")
            if first is None:
                first = next(iter(codec.decode(packet)), None)
        if first is None and n:
            first = next(iter(codec.decode(None)), None)  # a decoder with delay returns it on flush
    if listed and n != listed:
        raise DataError(path, f"video is truncated: the container lists {listed} frames but only {n} are in the file",
                        "re-encode or re-copy the file")
    if n == 0 or first is None:
        raise DataError(path, "video has no decodable frames", "re-encode or remove the file")
    return n, int(first.height), int(first.width)


def probe_frames(path: str | os.PathLike, full_decode: bool = False) -> tuple[int, int, int]:
    """(num_frames, H, W) of a video, checked; DataError naming the file if it is unusable.

    Default: demux every packet of the video stream without decoding (one packet is one frame: the exact
    count the readers see; a truncated file has fewer packets than its index lists, a cut-short packet, or
    no index at all) and decode the first frame only (the codec works). ~10-20x cheaper than
    ``full_decode=True`` (:func:`decode_all_count`), which is needed only to find damage inside the compressed
    data of a later frame."""
    path = str(path)
    if full_decode:
        return decode_all_count(path)
    _check_file(path)
    try:
        return _demux_count(path)
    except DataError:
        raise
    except Exception as e:
        cut = _mp4_cut_box(path)
        if cut:
            raise DataError(path, f"video is truncated: its {cut}", "re-encode or re-copy the file") from e
        raise DataError(path, f"cannot decode video ({type(e).__name__}: {e})",
                        "re-encode or remove the file") from e


_MP4_FIRST_BOXES = ("ftyp", "moov", "mdat", "free", "skip", "wide", "pnot")


def _mp4_cut_box(path: str) -> str | None:
    """For an MP4/MOV file: which top-level box runs past the end of the file (a cut copy), else None."""
    if not path.lower().endswith((".mp4", ".mov", ".m4v")):
        return None
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos, names = 0, []
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            n, kind = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
            if n == 1 and len(head) == 16:
                n = int.from_bytes(head[8:16], "big")
            elif n == 0:
                n = size - pos
            if n < 8 or not kind.isprintable() or (pos == 0 and kind not in _MP4_FIRST_BOXES):
                return None  # not an MP4 box structure: damaged otherwise
            if pos + n > size:
                return f"'{kind}' box needs {pos + n} bytes but the file has {size}"
            names.append(kind)
            pos += n
    return "'moov' index box is missing (the file ends after the video data)" if "moov" not in names else None


def write_video(path: str | os.PathLike, frames_T_H_W_3: np.ndarray, fps: float = 16, quality: int = 8,
                threads: int | None = None) -> None:
    """Write uint8 (T, H, W, 3) frames as H.264 (yuv420p) mp4 with imageio's ffmpeg.

    H and W must be even (yuv420p). `quality` is imageio's 0-10 scale (10 = best).
    `threads=1` makes the bytes reproducible across machines.
    """
    import imageio.v2 as imageio

    frames = np.asarray(frames_T_H_W_3)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"write_video expects (T, H, W, 3) frames, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"write_video expects uint8 frames, got {frames.dtype}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"H and W must be even for yuv420p H.264, got {frames.shape[1]}x{frames.shape[2]}")
    os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    params = ["-threads", str(threads)] if threads else None
    writer = imageio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", quality=quality,
                                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
                                output_params=params)
    try:
        for f in frames:
            writer.append_data(f)
    finally:
        writer.close()
