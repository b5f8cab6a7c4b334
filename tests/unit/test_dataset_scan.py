"""The up-front dataset scan (data/checks.py, data/scan.py, data/scan_cache.py, trainer/data_scan.py) on real
files: every bad file named, the cache answers unchanged files and rechecks changed ones, the pool agrees with
the in-process run, one verdict on every rank."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess

import numpy as np
import pytest

from cosmos_predict2.data.bridge import BridgeActionDataset
from cosmos_predict2.data.checks import Check, Problem, parse_preflight, run_check
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.scan import DatasetScanError, scan, scan_error
from cosmos_predict2.data.video_io import probe_frames
from cosmos_predict2.data.video_text import VideoTextDataset
from tests.data_fixtures import _tmp_root, copy_of, video_text_dir
from tests.scan_fixtures import EMB_DIM, break_json, shared_damaged_bridge

def _damaged() -> tuple[str, dict]:
    return shared_damaged_bridge("scan_damaged")


def _ds(root, **kw):
    kw.setdefault("load_t5_embeddings", True)
    return BridgeActionDataset(root, "train", num_frames=13, video_size=[32, 48], t5_embedding_dim=EMB_DIM, **kw)


def test_every_bad_file_is_named(tmp_path):
    root, info = _damaged()
    ds = _ds(root)  # a malformed 'action' field is not read: the dataset accepts it
    rep = scan([(root, ds.scan_checks())], cache_folder=str(tmp_path))
    texts = [str(p) for p in rep.problems]
    assert len(texts) == len(info["cases"]) == 8, texts
    for case, (path, text) in info["cases"].items():
        assert any(t.startswith(f"{path}: ") and text in t for t in texts), (case, texts)
    assert not os.path.exists(info["marker"])  # the evil pickle never ran
    assert rep.by_kind == {"bridge_annotation": 10, "video": 10, "embedding": 10}
    err = scan_error(rep.problems, rep.checks)
    assert isinstance(err, DataError) and str(err).startswith("dataset scan: 8 problems in the 30 files")


def test_faststart_truncation_and_full_decode(tmp_path):
    import imageio_ffmpeg

    src = os.path.join(_damaged()[0], "videos", "train", "9", "rgb.mp4")
    fs = str(tmp_path / "fs.mp4")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", src, "-c", "copy", "-movflags",
                    "+faststart", fs], check=True)
    assert probe_frames(fs) == probe_frames(src, full_decode=True) == (16, 32, 48)
    data = open(fs, "rb").read()
    open(fs, "wb").write(data[: len(data) - 200])  # index first, the last frame cut short
    with pytest.raises(DataError, match=r"video is truncated: packet 16 of 16 is cut short"):
        probe_frames(fs)
    damaged = str(tmp_path / "mid.mp4")  # junk inside a frame's compressed data: only a full decode sees it
    data = bytearray(open(src, "rb").read())
    data[len(data) // 2: len(data) // 2 + 2048] = bytes(2048)
    open(damaged, "wb").write(bytes(data))
    full = Check.make("video", damaged, min_frames=16, full_decode=True)
    assert "cannot decode video" in str(run_check(full))


def test_cache_answers_unchanged_files_and_rechecks_changed_ones(tmp_path, caplog):
    root = os.path.join(_tmp_root(), "scan_cache")
    shutil.copytree(video_text_dir(), root)
    cache = str(tmp_path / "cache")
    ds = VideoTextDataset(root, num_frames=8, video_size=[32, 48], load_t5_embeddings=False)
    groups = [(root, ds.scan_checks())]
    cold = scan(groups, cache_folder=cache)
    assert (cold.checks, cold.scanned, cold.cache_hits, cold.problems) == (6, 6, 0, [])
    warm = scan(groups, cache_folder=cache)
    assert (warm.scanned, warm.cache_hits) == (0, 6)
    video = os.path.join(root, "videos", "ep_0001.mp4")
    st = os.stat(video)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # touched: checked again
    assert scan(groups, cache_folder=cache).scanned == 1
    data = open(video, "rb").read()
    open(video, "wb").write(data[: len(data) // 2])  # rewritten: checked again, and now bad
    rep = scan(groups, cache_folder=cache)
    assert rep.scanned == 1 and [p.path for p in rep.problems] == [video]
    again = scan(groups, cache_folder=cache)  # a bad result is cached too
    assert again.scanned == 0 and again.problems == rep.problems
    assert scan(groups[:1], cache_folder=None).cache_hits == 0  # no cache
    # other parameters are another check
    longer = VideoTextDataset(root, num_frames=12, video_size=[32, 48], load_t5_embeddings=False).scan_checks()
    assert scan([(root, longer)], cache_folder=cache).scanned == 3
    # a damaged cache file is ignored, never trusted
    (path,) = again.cache_files
    open(path, "w").write('{"format": "cosmos_predict2.dataset_scan", "entr')
    with caplog.at_level(logging.WARNING):
        assert scan(groups, cache_folder=cache).scanned == 6
    assert "unreadable" in caplog.text
    data = json.load(open(path))
    key = next(iter(data["entries"]))
    data["entries"][key] = ["not", "an entry"]
    json.dump(data, open(path, "w"))
    assert scan(groups, cache_folder=cache).scanned == 1
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp")] == []  # atomic writes


def test_pool_gives_the_same_result(tmp_path):
    root, _ = _damaged()
    groups = [(root, _ds(root).scan_checks())]
    here = scan(groups, workers=0, cache_folder=None)
    pool = scan(groups, workers=2, cache_folder=None)
    assert pool.workers == 2 and pool.problems == here.problems and len(here.problems) == 8


def test_video_text_checks(tmp_path):
    root = copy_of(video_text_dir(), "scan_vt")
    os.makedirs(f"{root}/t5_xxl")
    import pickle

    for i in range(3):
        with open(f"{root}/t5_xxl/ep_{i:04d}.pickle", "wb") as f:
            pickle.dump([np.zeros((3, 8 if i else 4), np.float16)], f)
    open(f"{root}/metas/ep_0002.txt", "wb").write(b"\xff\xfe bad")
    ds = VideoTextDataset(root, num_frames=20, video_size=[32, 48], t5_embedding_dim=8)
    texts = [str(p) for p in scan([(root, ds.scan_checks())], cache_folder=None).problems]
    assert f"{root}/t5_xxl/ep_0000.pickle: embedding dim is 4 but t5_embedding_dim=8" in "\n".join(texts)
    assert sum("video has 16 frames but its windows need 20" in t for t in texts) == 3
    assert any(t.startswith(f"{root}/metas/ep_0002.txt: cannot read caption as UTF-8") for t in texts)


def test_preflight_values_and_error_format():
    assert [parse_preflight(v) for v in ("on", "OFF", "full", True, False, "false")] == \
        ["on", "off", "full", "on", "off", "off"]
    with pytest.raises(ValueError, match=r"preflight='maybe' is not one of on, off, full"):
        _ds(_damaged()[0], preflight="maybe")
    one = scan_error([Problem("/d/a.mp4", "video file is empty (0 bytes)")], 3)
    assert str(one) == "dataset scan: /d/a.mp4: video file is empty (0 bytes)" and one.print_once
    many = str(scan_error([Problem(f"/d/{i}.mp4", "bad", "fix it") for i in range(25)], 40, "/job/list.txt"))
    lines = many.splitlines()
    assert lines[0].startswith("dataset scan: 25 problems in the 40 files") and len(lines) == 22
    assert lines[1] == "  - /d/0.mp4: bad (fix: fix it)"
    assert lines[-1] == "  ... and 5 more (all of them: /job/list.txt)"


class _Loader:
    def __init__(self, dataset):
        self.dataset = dataset


def test_skip_policy_warns_and_off_skips(tmp_path, caplog, monkeypatch):
    from cosmos_predict2.trainer.data_scan import scan_loaders

    monkeypatch.setenv("COSMOS_DATASET_SCAN_CACHE", str(tmp_path / "cache"))
    root = copy_of(_damaged()[0], "scan_skip")
    bad_json = break_json(root)
    with caplog.at_level(logging.INFO):
        scan_loaders([("dataloader_train", _Loader(_ds(root, on_bad_sample="skip")))], str(tmp_path))
        assert "9 problems in datasets with on_bad_sample=skip" in caplog.text
        assert f"{bad_json}: invalid JSON" in caplog.text
        caplog.clear()
        scan_loaders([("dataloader_train", _Loader(_ds(root, preflight="off", on_bad_sample="skip")))], None)
    assert "dataset scan skipped for dataloader_train.dataset (preflight=off)" in caplog.text
    os.remove(bad_json)
    with pytest.raises(DatasetScanError) as ei:
        scan_loaders([("dataloader_train", _Loader(_ds(root)))], str(tmp_path))
    assert str(ei.value).startswith("dataset scan: 8 problems")
    assert len(open(tmp_path / "dataset_scan_problems.txt").read().splitlines()) == 8


def _two_ranks(rank, world_size, root, cache):
    import cosmos_predict2.data.scan as scan_module
    from cosmos_predict2.trainer.data_scan import scan_loaders

    os.environ["COSMOS_DATASET_SCAN_CACHE"] = cache
    calls = []
    real = scan_module.scan
    scan_module.scan = lambda *a, **kw: calls.append(1) or real(*a, **kw)
    try:
        scan_loaders([("dataloader_train", _Loader(_ds(root)))], None, progress=False)
    except DatasetScanError as err:
        return len(calls), str(err)
    return len(calls), None


def test_rank0_scans_every_rank_raises_the_same(tmp_path):
    from tests.distributed.dist_helpers import run_ranks

    root, info = _damaged()
    (calls0, err0), (calls1, err1) = run_ranks(_two_ranks, 2, root, str(tmp_path))
    assert (calls0, calls1) == (1, 0)
    assert err0 == err1 and err0.startswith("dataset scan: 8 problems")
