"""video_io: frame-exact random access (decord and PyAV agree), info, writer, errors; resize helper."""

import numpy as np
import pytest
import torch

from cosmos_predict2.data import video_io
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.resize import frames_to_video, resize_video
from cosmos_predict2.data.video_io import read_frames, video_info, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    rng = np.random.default_rng(0)
    frames = np.zeros((20, 32, 48, 3), np.uint8)
    for t in range(20):  # a bright square moving 2 px per frame over a noisy background: frames are distinct
        frames[t] = rng.integers(0, 60, size=(32, 48, 3))
        frames[t, 8:16, 2 * t : 2 * t + 8] = 255
    path = str(tmp_path_factory.mktemp("vid") / "clip.mp4")
    write_video(path, frames, fps=5, quality=10)
    return path, frames


def test_random_access_matches_between_backends(clip):
    path, frames = clip
    assert video_info(path) == (20, 5.0, 32, 48)
    idx = [13, 2, 19, 2, 0]
    a = read_frames(path, idx)
    video_io.set_backend("pyav")
    try:
        b = read_frames(path, idx)
        assert video_info(path)[:1] == (20,)
    finally:
        video_io.set_backend("auto")
    assert a.shape == (5, 32, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    err = np.abs(a.astype(int) - frames[idx]).mean(axis=(1, 2, 3))
    assert (err < 12).all()
    # the right frame: closer to its source than to the neighbouring frames
    for k, i in enumerate(idx):
        others = [j for j in (i - 1, i + 1) if 0 <= j < 20]
        assert all(err[k] < np.abs(a[k].astype(int) - frames[j]).mean() for j in others)


def test_errors_name_the_file(clip, tmp_path):
    path, _ = clip
    with pytest.raises(DataError, match="has 20 frames but frame 25 was requested"):
        read_frames(path, [3, 25])
    video_io.set_backend("pyav")
    try:
        with pytest.raises(DataError, match="20 decodable frames but frame 25"):
            read_frames(path, [25])
    finally:
        video_io.set_backend("auto")
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        video_info(str(bad))
    with pytest.raises(ValueError, match="even"):
        write_video(str(tmp_path / "odd.mp4"), np.zeros((2, 31, 48, 3), np.uint8))


def test_resize_helpers():
    x = torch.arange(3 * 2 * 8 * 12, dtype=torch.float32).reshape(3, 2, 8, 12).remainder(256).to(torch.uint8)
    y = resize_video(x, (4, 6))
    ref = torch.nn.functional.interpolate(x.permute(1, 0, 2, 3).float(), size=(4, 6), mode="bilinear",
                                          antialias=True).round().permute(1, 0, 2, 3)
    assert y.shape == (3, 2, 4, 6) and y.dtype == torch.uint8 and torch.equal(y.float(), ref)
    const = torch.full((3, 1, 16, 16), 77, dtype=torch.uint8)
    assert resize_video(const, (5, 7)).eq(77).all()
    f = np.random.default_rng(0).integers(0, 255, (2, 8, 12, 3), dtype=np.uint8)
    v = frames_to_video(f, (8, 12))
    assert v.is_contiguous() and torch.equal(v, torch.from_numpy(f).permute(3, 0, 1, 2))
    assert frames_to_video(f, (4, 6)).shape == (3, 2, 4, 6)
