"""The real CLI with a video that breaks after the launch-time checks (``preflight=off`` stands in for "the file
changed after the scan"), read by a DataLoader worker process:

- ``on_bad_sample=error`` (default): exit 2, stderr ends with one line naming the file, the sample's __key__
  and the iteration; no traceback, no "Caught DataError";
- ``on_bad_sample=skip``: the run finishes, ``bad_samples.jsonl`` lists every skipped sample, the log warns;
(the skip budget's stop line is asserted in tests/unit/test_bad_samples.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
BATCH = 4
FIX = "(fix: re-encode or remove the file; or skip bad samples with dataloader_train.dataset.on_bad_sample=skip)"


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory) -> str:
    from cosmos_predict2.data.synthetic import write_bridge_dataset

    out = str(tmp_path_factory.mktemp("bridge_clean"))
    write_bridge_dataset(out, episodes=6, seed=0)
    return out


def _broken_copy(clean: str, dst: str, episodes: list[str]) -> dict:
    """A copy of the data whose train videos of `episodes` are cut to a third; the experiment's sample order."""
    from cosmos_predict2.data.bridge import BridgeActionDataset
    from cosmos_predict2.data.loader import ResumableDistributedSampler

    shutil.copytree(clean, dst)
    ds = BridgeActionDataset(dst, num_frames=13, video_size=[64, 80])  # the tiny experiment's windows
    for ep in episodes:
        path = os.path.join(dst, "videos", "train", ep, "rgb.mp4")
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 3])
    order = list(ResumableDistributedSampler(len(ds), seed=0))  # trainer.seed=0, one rank
    return {"order": order, "key": [ds.sample_key(i) for i in range(len(ds))],
            "video": {ep: os.path.join(dst, "videos", "train", ep, "rgb.mp4") for ep in episodes}}


def _run(data: str, out_root: str, name: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [PY, "-m", "scripts.train", "--", "experiment=tiny_action_conditioned_bridge",
           f"dataloader_train.dataset.dataset_dir={data}", f"dataloader_val.dataset.dataset_dir={data}",
           "dataloader_train.dataset.preflight=off", "dataloader_train.num_workers=1",
           f"dataloader_train.batch_size={BATCH}", "model.config.precision=float32", "trainer.logging_iter=1",
           "trainer.progress_bar=False", "checkpoint.save_iter=1000", f"job.name={name}", *extra]
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=out_root, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.pop("COSMOS_DEBUG", None)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _job_dir(out_root: str, name: str) -> str:
    return os.path.join(out_root, "cosmos_predict2_tiny", "action_conditioned", name)


def _last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def _skips(info: dict, bad_keys: set, max_iter: int) -> list[tuple[int, int]]:
    """(iteration, index) of every sample the skip policy drops in the first `max_iter` iterations."""
    out, it, batches = [], 1, [info["order"][i:i + BATCH] for i in range(0, len(info["order"]), BATCH)]
    for batch in batches:
        bad = [i for i in batch if info["key"][i] in bad_keys]
        out += [(it, i) for i in bad]
        it += len(bad) < len(batch)
        if it > max_iter:
            return out
    raise AssertionError("test data too small for max_iter")


def test_decode_error_in_a_worker_is_one_line_with_key_and_iteration(clean_data, tmp_path):
    info = _broken_copy(clean_data, str(tmp_path / "data"), ["1"])
    first = next(pos for pos, i in enumerate(info["order"]) if info["key"][i] == "1")
    index, iteration = info["order"][first], first // BATCH + 1
    res = _run(str(tmp_path / "data"), str(tmp_path), "error", f"trainer.max_iter={iteration + 2}")
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "Caught DataError" not in res.stderr, res.stderr[-3000:]
    line = _last_line(res.stderr)
    video = info["video"]["1"]
    assert line.startswith(f"error: {video}: cannot decode video ("), line
    assert line.endswith(f" (sample __key__='1', dataset index {index}, iteration {iteration}) {FIX}"), line
    assert f"iter {iteration}/" not in res.stdout and (iteration == 1 or f"iter {iteration - 1}/" in res.stdout)


def test_skip_policy_finishes_and_lists_the_skipped_samples(clean_data, tmp_path):
    info = _broken_copy(clean_data, str(tmp_path / "data"), ["1"])
    expected = _skips(info, {"1"}, max_iter=3)
    assert 0 < len(expected) <= 10  # within the skip budget
    res = _run(str(tmp_path / "data"), str(tmp_path), "skip", "trainer.max_iter=3",
               "dataloader_train.dataset.on_bad_sample=skip")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    lines = [json.loads(x) for x in open(os.path.join(_job_dir(str(tmp_path), "skip"), "bad_samples.jsonl"))]
    assert [(r["iteration"], r["index"]) for r in lines] == expected
    assert {(r["rank"], r["key"], r["path"], r["split"]) for r in lines} == {(0, "1", info["video"]["1"], "train")}
    assert all(r["error"].startswith(f"{info['video']['1']}: cannot decode video (") for r in lines)
    assert res.stdout.count("skipping bad sample __key__='1'") == len(expected)
    assert "done: iteration 3" in res.stdout
