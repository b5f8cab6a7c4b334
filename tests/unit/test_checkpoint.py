"""Checkpointers on one process: clean keys, atomic publication, interrupted saves, keep-last-k, init weights."""

from __future__ import annotations

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))
from trainer_toy import tiny_net_config, toy_config  # noqa: E402

from cosmos_predict2.checkpoint.base import read_latest  # noqa: E402
from cosmos_predict2.lazy_config import instantiate  # noqa: E402


def _build(root, **kw):
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(root)
    from cosmos_predict2.trainer.launch import build

    return build(toy_config(str(root), **kw))


def _ckdir(root, name="toy"):
    return os.path.join(str(root), "p", "g", name, "checkpoints")


def test_keys_have_no_wrapper_prefixes(group, tmp_path):
    from cosmos_predict2.checkpoint import state

    trainer = _build(tmp_path, activation_checkpointing="block_wise", precision="bfloat16", ckpt="standard",
                     max_iter=1, save_iter=1)
    trainer.train()
    plain = instantiate(tiny_net_config())
    expected = {f"net.{k}" for k in plain.state_dict()} | {f"net_ema.{k}" for k in plain.state_dict()}
    assert set(state.model_state_dict(trainer.model)) == expected
    full = torch.load(os.path.join(_ckdir(tmp_path), "model", "iter_000000001.pt"), weights_only=True)
    assert set(full) == expected
    assert all(v.dtype == torch.float32 for v in full.values())  # fp32 masters, not the bf16 compute copy
    assert read_latest(_ckdir(tmp_path)) == "iter_000000001.pt"


def fail_optim_saves(monkeypatch):
    """Make every DCP write of an ``optim`` part fail like a full disk; returns the real writer."""
    from cosmos_predict2.checkpoint import dcp as dcp_mod

    real = dcp_mod._save_part

    def failing(state, path, process_group=None):
        if path.endswith("optim"):
            raise OSError("disk full (simulated)")
        return real(state, path, process_group)

    monkeypatch.setattr(dcp_mod, "_save_part", failing)
    return real


def test_interrupted_dcp_save_keeps_previous(group, tmp_path, monkeypatch):
    from cosmos_predict2.checkpoint import dcp as dcp_mod

    trainer = _build(tmp_path, max_iter=2, save_iter=2)
    trainer.train()
    real = fail_optim_saves(monkeypatch)
    trainer.max_iter = 4
    trainer.train_step()
    with pytest.raises(OSError):
        trainer.save()
    ck = _ckdir(tmp_path)
    assert read_latest(ck) == "iter_000000002"
    assert not os.path.exists(os.path.join(ck, "iter_000000003"))
    assert os.path.exists(os.path.join(ck, "iter_000000003.tmp", "model", ".metadata"))  # half-written
    monkeypatch.setattr(dcp_mod, "_save_part", real)
    resumed = _build(tmp_path, max_iter=4, save_iter=2)
    assert resumed.iteration == 2
    assert not os.path.exists(os.path.join(ck, "iter_000000003.tmp"))  # removed at relaunch (logged)


def test_interrupted_standard_save_keeps_previous(group, tmp_path, monkeypatch):
    from cosmos_predict2.checkpoint import standard

    trainer = _build(tmp_path, max_iter=2, save_iter=2, ckpt="standard")
    trainer.train()
    real = standard._atomic_save

    def failing(obj, path):
        if os.sep + "trainer" + os.sep in path:
            raise OSError("killed (simulated)")
        return real(obj, path)

    monkeypatch.setattr(standard, "_atomic_save", failing)
    trainer.train_step()
    with pytest.raises(OSError):
        trainer.save()
    assert read_latest(_ckdir(tmp_path)) == "iter_000000002.pt"
    monkeypatch.setattr(standard, "_atomic_save", real)
    assert _build(tmp_path, max_iter=4, save_iter=2, ckpt="standard").iteration == 2


def test_keep_last_k_and_end_save(group, tmp_path):
    trainer = _build(tmp_path, max_iter=5, save_iter=2, keep_last_k=2)
    trainer.train()
    ck = _ckdir(tmp_path)
    assert sorted(n for n in os.listdir(ck) if n.startswith("iter_")) == ["iter_000000004", "iter_000000005"]
    assert read_latest(ck) == "iter_000000005"
    metrics = open(os.path.join(str(tmp_path), "p", "g", "toy", "metrics.jsonl")).read().splitlines()
    assert len(metrics) == 5 and '"loss"' in metrics[0]


def test_training_checkpoint_as_load_path_weights_only(group, tmp_path):
    """A DCP training checkpoint given as checkpoint.load_path initialises net and EMA net from it (weights only)."""
    trainer = _build(tmp_path / "a", max_iter=1, save_iter=1)
    trainer.train()
    dcp_dir = os.path.join(_ckdir(tmp_path / "a"), "iter_000000001")
    key = "blocks.0.self_attn.q_proj.weight"
    trained = trainer.model.net.state_dict()[key].full_tensor()
    trained_ema = trainer.model.net_ema.state_dict()[key].full_tensor()
    fresh = _build(tmp_path / "b", ckpt="dummy", max_iter=1, load_path=dcp_dir)
    assert fresh.iteration == 0
    assert torch.equal(fresh.model.net.state_dict()[key].full_tensor(), trained)
    assert torch.equal(fresh.model.net_ema.state_dict()[key].full_tensor(), trained_ema)


def test_nan_loss_stops_with_iteration_and_keys(group, tmp_path):
    from cosmos_predict2.trainer.trainer import NonFiniteLossError

    trainer = _build(tmp_path, ckpt="dummy", max_iter=8, nan_index=5, batch_size=2)
    with pytest.raises(NonFiniteLossError, match=r"iteration \d+.*sample_005"):
        trainer.train()


def test_nan_loss_inside_a_logging_interval_names_its_iteration_and_batch(group, tmp_path):
    """With trainer.logging_iter=4 the check runs once per interval and before each save: the run stops by the next
    of those, names the iteration and the __key__ of the bad micro-batch, and saves nothing after it."""
    import re

    from cosmos_predict2.trainer.launch import build
    from cosmos_predict2.trainer.trainer import NonFiniteLossError

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(tmp_path)
    cfg = toy_config(str(tmp_path), max_iter=8, save_iter=3, nan_index=5, batch_size=1, grad_accum=2)
    cfg.trainer.logging_iter = 4
    trainer = build(cfg)
    with pytest.raises(NonFiniteLossError, match=r"batch __key__s with the bad loss: \['sample_005'\]") as err:
        trainer.train()
    bad = int(re.search(r"at iteration (\d+);", str(err.value)).group(1))
    assert trainer.iteration == min(i for i in (3, 4, 6, 8) if i >= bad)  # the next save or logging step
    saved = read_latest(_ckdir(tmp_path))
    assert saved is None or int(saved[len("iter_"):]) < bad


def test_load_path_initialises_weights_through_the_launcher(group, tmp_path):
    torch.manual_seed(7)
    src = instantiate(tiny_net_config())
    path = str(tmp_path / "init.pt")
    torch.save({f"net.{k}": v for k, v in src.state_dict().items()}, path)
    trainer = _build(tmp_path / "job", ckpt="dummy", max_iter=1, load_path=path)
    key = "blocks.1.mlp.layer1.weight"
    assert torch.equal(trainer.model.net.state_dict()[key].full_tensor(), src.state_dict()[key])
    assert torch.equal(trainer.model.net_ema.state_dict()[key].full_tensor(), src.state_dict()[key])


def test_launch_exit_codes(tmp_path, capsys, monkeypatch):
    """User errors -> one line + exit 2; a NaN loss -> exit 3; a library ValueError keeps its traceback."""
    from cosmos_predict2.trainer import launch as launch_mod

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    monkeypatch.delenv("COSMOS_DEBUG", raising=False)
    cfg = toy_config(str(tmp_path), ckpt="dummy", max_iter=1)
    cfg.model_parallel.context_parallel_size = 3  # 2 heads are not divisible by 3
    assert launch_mod.launch(cfg) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "context_parallel_size=3" in err[0]
    assert launch_mod.launch(toy_config(str(tmp_path), ckpt="dummy", max_iter=2, nan_index=1, batch_size=8)) == 3
    assert "sample_001" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise ValueError("inside a library")

    monkeypatch.setattr(torch.optim.AdamW, "__init__", broken)
    with pytest.raises(ValueError, match="inside a library"):
        launch_mod.launch(toy_config(str(tmp_path), ckpt="dummy", max_iter=1))


def test_launch_summaries_relaunch_and_build_only(tmp_path, capsys, monkeypatch):
    """Training logs the memory plan and writes ``memory_plan.json`` next to ``config.yaml``; the end-of-run
    line names the checkpoint and the convert command; a relaunch with nothing left to do says so; --build-only
    stops before the first step; clearing the base weights on purpose is logged loudly."""
    import json

    from cosmos_predict2.trainer.launch import LaunchOptions, launch
    from scripts.train import random_init_requested

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    assert launch(toy_config(str(tmp_path), max_iter=2, save_iter=2)) == 0
    out = capsys.readouterr().out
    ck = os.path.join(_ckdir(tmp_path), "iter_000000002")
    assert "done: iteration 2 (2 this run)" in out and f"convert_distcp_to_pt.py {ck}/model {ck}" in out
    assert "memory plan per rank: world 1 = replicate 1 x FSDP group 1" in out and "activations (estimate)" in out
    job = os.path.dirname(_ckdir(tmp_path))
    assert os.path.isfile(os.path.join(job, "config.yaml"))
    with open(os.path.join(job, "memory_plan.json")) as f:
        plan = json.load(f)
    num_params = sum(p.numel() for p in instantiate(tiny_net_config()).parameters())
    assert plan["num_params"] == num_params and plan["params_bytes_per_rank"] == 4 * num_params  # fp32, 1 rank
    assert plan["ema_bytes_per_rank"] == 4 * num_params and plan["optimizer_bytes_per_rank"] == 8 * num_params
    assert launch(toy_config(str(tmp_path), max_iter=2, save_iter=2)) == 0
    out = capsys.readouterr().out
    assert f"nothing to do: {ck} is at iteration 2, trainer.max_iter=2" in out and "done:" not in out
    options = LaunchOptions(build_only=True, random_init=True)
    assert launch(toy_config(str(tmp_path), name="fresh", ckpt="dummy", max_iter=5), options) == 0
    out = capsys.readouterr().out
    assert "build-only rank 0/1: device cpu" in out and "peak host RSS" in out
    assert "training from RANDOM weights" in out
    assert not os.path.exists(os.path.join(str(tmp_path), "p", "g", "fresh", "metrics.jsonl"))  # no step ran
    assert random_init_requested(["experiment=x", "model.config.model_manager_config.dit_path=''"])
    assert random_init_requested(["model.config.pipe_config.model_manager_config.dit_path="])
    assert not random_init_requested(["model.config.model_manager_config.dit_path=a.pt"])


def test_an_iteration_over_timeout_period_stops_the_run(tmp_path, capsys, monkeypatch):
    """trainer.timeout_period (upstream's per-iteration watchdog): a stuck iteration ends the run with one line
    naming it and exit code 3; iterations within the limit are unaffected."""
    import time

    from cosmos_predict2.trainer import launch as launch_mod
    from cosmos_predict2.trainer.trainer import Trainer

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    monkeypatch.delenv("COSMOS_DEBUG", raising=False)
    real_step = Trainer.train_step

    def stuck_at_third(self):
        if self.iteration == 2:
            time.sleep(5)
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", stuck_at_third)
    cfg = toy_config(str(tmp_path), ckpt="dummy", max_iter=4)
    cfg.trainer.timeout_period = 2
    assert launch_mod.launch(cfg) == 3
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err == ["error: iteration 3 took more than trainer.timeout_period=2 s; a rank or the data may be stuck "
                   "(raise trainer.timeout_period if steps are legitimately this slow)"]
    import signal

    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None) and signal.alarm(0) == 0  # nothing left armed


def _resume(root, **kw):
    """Train 2 iterations (saved), then build the same job with max_iter 4 and the given checkpoint settings."""
    first = _build(root, max_iter=2, save_iter=2)
    first.train()
    cfg = toy_config(str(root), max_iter=4, save_iter=2)
    for key, value in kw.items():
        setattr(cfg.checkpoint, key, value)
    from cosmos_predict2.trainer.launch import build

    return first, build(cfg)


def _weights(trainer):
    return {k: v.full_tensor() for k, v in trainer.model.net.state_dict().items()}


def test_keys_not_to_resume_skips_those_parts(group, tmp_path):
    first, full = _resume(tmp_path / "all")
    assert full.iteration == 2 and full.scheduler.last_epoch == 2 and len(full.optimizer.state) > 0
    _, fresh_opt = _resume(tmp_path / "opt", keys_not_to_resume=["optim", "scheduler"])
    assert fresh_opt.iteration == 2 and fresh_opt.scheduler.last_epoch == 0 and len(fresh_opt.optimizer.state) == 0
    assert all(torch.equal(a, b) for a, b in zip(_weights(fresh_opt).values(), _weights(first).values()))
    _, restart = _resume(tmp_path / "trainer", keys_not_to_resume=["trainer"])
    assert restart.iteration == 0 and restart.scheduler.last_epoch == 2 and len(restart.optimizer.state) > 0
    _, new_net = _resume(tmp_path / "model", keys_not_to_resume=["model"])
    scratch = _build(tmp_path / "scratch", ckpt="dummy", max_iter=4)
    assert new_net.iteration == 2
    assert all(torch.equal(a, b) for a, b in zip(_weights(new_net).values(), _weights(scratch).values()))
    assert not all(torch.equal(a, b) for a, b in zip(_weights(new_net).values(), _weights(first).values()))


def test_keys_not_to_resume_trainer_relaunch_is_not_nothing_to_do(group, tmp_path):
    """A finished job relaunched without its trainer state counts from 0 again instead of stopping."""
    _build(tmp_path, max_iter=2, save_iter=2).train()
    cfg = toy_config(str(tmp_path), max_iter=2, save_iter=2)
    cfg.checkpoint.keys_not_to_resume = ["trainer"]
    from cosmos_predict2.trainer.launch import build

    trainer = build(cfg)
    assert trainer is not None and trainer.iteration == 0


def test_only_load_scheduler_state_from_load_path(group, tmp_path):
    from cosmos_predict2.checkpoint.weights import CheckpointError
    from cosmos_predict2.trainer.launch import build

    source = _build(tmp_path / "a", max_iter=2, save_iter=2)
    source.train()
    dcp_dir = os.path.join(_ckdir(tmp_path / "a"), "iter_000000002")
    cfg = toy_config(str(tmp_path / "b"), ckpt="dummy", max_iter=4, load_path=dcp_dir)
    cfg.checkpoint.only_load_scheduler_state = True
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(tmp_path / "b")
    trainer = build(cfg)
    assert trainer.iteration == 0 and trainer.scheduler.last_epoch == 2 and len(trainer.optimizer.state) == 0
    assert all(torch.equal(a, b) for a, b in zip(_weights(trainer).values(), _weights(source).values()))
    weights_file = str(tmp_path / "w.pt")
    torch.save({f"net.{k}": v for k, v in _weights(source).items()}, weights_file)
    cfg = toy_config(str(tmp_path / "c"), ckpt="dummy", max_iter=4, load_path=weights_file)
    cfg.checkpoint.only_load_scheduler_state = True
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(tmp_path / "c")
    with pytest.raises(CheckpointError, match="only_load_scheduler_state=True needs checkpoint.load_path to be a "
                                              "training checkpoint"):
        build(cfg)


def test_keep_last_k_never_deletes_checkpoints_beyond_the_published_iteration(tmp_path):
    """After a restart of the iteration count (keys_not_to_resume=[trainer]) the older run's later-numbered
    checkpoints stay; pruning keeps the last k up to the new one."""
    from types import SimpleNamespace

    from cosmos_predict2.checkpoint.base import Checkpointer, iter_name

    ck = Checkpointer(SimpleNamespace(keep_last_k=2), checkpoint_dir=str(tmp_path))
    for it in (2, 4, 6, 1000, 2000):
        os.makedirs(os.path.join(str(tmp_path), iter_name(it)))
    ck.publish(iter_name(6))
    assert ck.saved_iterations() == [4, 6, 1000, 2000] and read_latest(str(tmp_path)) == iter_name(6)
