"""Asynchronous DCP saves are published the moment their background write is complete, and a relaunch settles
what an interrupted run left: a complete ``iter_N.tmp`` is verified and published, an incomplete one removed —
each with a log line."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))
from dist_helpers import single_process_group  # noqa: E402

from cosmos_predict2.checkpoint.base import read_latest, write_latest  # noqa: E402
from tests.unit.test_checkpoint import _build, _ckdir, fail_optim_saves  # noqa: E402


def _wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_async_save_is_published_when_its_write_finishes(group, tmp_path):
    trainer = _build(tmp_path, max_iter=3, save_iter=100, async_save=True)
    ck = _ckdir(tmp_path)
    trainer.train_step()
    trainer.train_step()
    trainer.save()  # returns once the state is staged; the shards are written in the background
    future = trainer.checkpointer._pending
    # published by the background write itself: no further save, step or finalize is needed
    assert _wait_for(lambda: read_latest(ck) == "iter_000000002")
    assert not os.path.exists(os.path.join(ck, "iter_000000002.tmp"))
    assert _wait_for(future.done)  # the thread logs after publishing: it may still be finishing that line
    trainer.train_step()  # training goes on meanwhile
    trainer.checkpointer.finalize()
    resumed = _build(tmp_path, max_iter=4, save_iter=100, async_save=True)
    assert resumed.iteration == 2


@pytest.fixture(scope="module")
def saved_job(tmp_path_factory) -> str:
    """A finished 4-iteration run with checkpoints at 2 and 4 (copied by each test)."""
    root = tmp_path_factory.mktemp("saved")
    with single_process_group():
        _build(root, max_iter=4, save_iter=2).train()
    return str(root)


def _saved_run(root, saved_job: str) -> str:
    shutil.copytree(os.path.join(saved_job, "p"), os.path.join(str(root), "p"))
    return _ckdir(root)


def test_relaunch_publishes_a_complete_tmp_and_resumes_from_it(group, tmp_path, caplog, saved_job):
    ck = _saved_run(tmp_path, saved_job)
    # the state a kill leaves between the end of a background write and its publication
    os.replace(os.path.join(ck, "iter_000000004"), os.path.join(ck, "iter_000000004.tmp"))
    write_latest(ck, "iter_000000002")
    with caplog.at_level(logging.INFO):
        resumed = _build(tmp_path, max_iter=6, save_iter=2)
    assert resumed.iteration == 4 and read_latest(ck) == "iter_000000004"
    assert any("publishing" in r.getMessage() and "iter_000000004" in r.getMessage() for r in caplog.records)
    assert not os.path.exists(os.path.join(ck, "iter_000000004.tmp"))


@pytest.mark.parametrize("damage", ["no_metadata", "truncated_shard", "no_trainer_state", "no_optim_shard"])
def test_relaunch_removes_an_incomplete_tmp_with_a_log_line(group, tmp_path, caplog, damage, saved_job):
    ck = _saved_run(tmp_path, saved_job)
    tmp = os.path.join(ck, "iter_000000004.tmp")
    os.replace(os.path.join(ck, "iter_000000004"), tmp)
    write_latest(ck, "iter_000000002")
    if damage == "no_metadata":
        os.remove(os.path.join(tmp, "optim", ".metadata"))
    elif damage == "truncated_shard":
        shard = os.path.join(tmp, "model", "__0_0.distcp")
        with open(shard, "r+b") as f:
            f.truncate(os.path.getsize(shard) // 2)
    elif damage == "no_trainer_state":
        os.remove(os.path.join(tmp, "trainer", "state.pt"))
    else:
        os.remove(os.path.join(tmp, "optim", "__0_0.distcp"))
    with caplog.at_level(logging.INFO):
        resumed = _build(tmp_path, max_iter=6, save_iter=2)
    assert resumed.iteration == 2 and read_latest(ck) == "iter_000000002"
    removed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("removing " + tmp)]
    assert len(removed) == 1, [r.getMessage() for r in caplog.records]
    assert not os.path.exists(tmp)


def test_relaunch_removes_a_stale_tmp_and_restores_an_interrupted_resave(group, tmp_path, caplog, saved_job):
    ck = _saved_run(tmp_path, saved_job)
    shutil.copytree(os.path.join(ck, "iter_000000002"), os.path.join(ck, "iter_000000002.tmp"))  # older than latest
    os.replace(os.path.join(ck, "iter_000000004"), os.path.join(ck, "iter_000000004.old"))  # re-save cut short
    with caplog.at_level(logging.INFO):
        resumed = _build(tmp_path, max_iter=6, save_iter=2)
    assert resumed.iteration == 4
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("restoring") and "iter_000000004.old" in m for m in messages)
    assert any(m.startswith("removing") and "iter_000000002.tmp" in m and "not newer" in m for m in messages)
    assert sorted(e for e in os.listdir(ck) if e.startswith("iter_")) == ["iter_000000002", "iter_000000004"]


def test_a_failed_background_write_is_raised_and_never_published(group, tmp_path, monkeypatch):
    trainer = _build(tmp_path, max_iter=4, save_iter=2, async_save=True)
    trainer.train()
    fail_optim_saves(monkeypatch)
    trainer.max_iter = 5
    trainer.train_step()
    trainer.save()
    with pytest.raises(OSError, match="disk full"):
        trainer.checkpointer.finalize()
    assert read_latest(_ckdir(tmp_path)) == "iter_000000004"
    assert torch.load(os.path.join(_ckdir(tmp_path), "iter_000000004", "trainer", "state.pt"),
                      weights_only=True)["iteration"] == 4
