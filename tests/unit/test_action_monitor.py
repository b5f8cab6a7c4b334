"""The action-sensitivity monitor (cosmos_predict2/trainer/action_monitor.py): its losses against a direct call of
the model's loss on the same batch, actions and noise; its sample choice and derangement; its noise rule; its
config node; and its verdict on trained models.

"Ignores its actions": the tiny recipe trained a few dozen steps on the synthetic Bridge scene
(cosmos_predict2/data/synthetic.py) with its training actions zeroed, scored on held-out episodes with their own
actions. "Uses its actions": the same recipe and number of steps on :class:`action_latents.ActionLatents`, latents
whose future frames only the actions predict. On the Bridge scene the tiny net needs hundreds of iterations before
it uses its actions on held-out episodes (BENCHMARKS.md), more than a unit test can afford.
"""

from __future__ import annotations

import json
import logging
import math
import os
import types

import numpy as np
import pytest
import torch
from action_latents import ActionLatents, tiny_action_config

from cosmos_predict2.lazy_config import instantiate
from cosmos_predict2.inference.action_modes import derangement
from cosmos_predict2.trainer.action_monitor import (ActionSensitivityMonitor, gap_stats,
                                                    select_samples)

STEPS = 30


def _monitor(trainer):
    return next(c for c in trainer.callbacks if isinstance(c, ActionSensitivityMonitor))


def _train(cfg, zero_training_actions: bool = False):
    """Build with the real launcher and train (one process); with ``zero_training_actions`` the training
    dataset's actions are zeros (the validation dataset, the monitor's, keeps its own)."""
    from cosmos_predict2.trainer.launch import build
    from cosmos_predict2.utils import distributed as du

    try:
        trainer = build(cfg)
        if zero_training_actions:
            dataset = trainer.dataloader_train.dataset
            load = dataset._load
            dataset._load = lambda i: {**(s := load(i)), "action": torch.zeros_like(s["action"])}
        trainer.train()
    finally:
        du.destroy_distributed()
    return trainer


# ----------------------------------------------------------------------------- exactness
def test_losses_equal_the_models_own_loss_on_the_same_batch_actions_and_noise(tmp_path):
    from cosmos_predict2.data.loader import build_dataloader

    torch.manual_seed(0)
    model = instantiate(tiny_action_config(max_iter=1).model).train()  # default init: the actions move the output
    loader = build_dataloader(ActionLatents(n=12, episodes=6), batch_size=2, num_workers=0)
    trainer = types.SimpleNamespace(model=model, device=torch.device("cpu"), dims=None, dataloader_val=None,
                                    dataloader_train=loader, iteration=0, max_iter=10, job_dir=str(tmp_path))
    monitor = ActionSensitivityMonitor(every_n=1, seed=7)
    monitor.on_train_start(trainer)
    assert monitor.active  # the tiny recipe's conditioner uses actions
    rng = torch.get_rng_state()
    stats = monitor.check(trainer, 3)
    assert torch.equal(torch.get_rng_state(), rng) and model.training  # RNG streams and train mode restored

    batch, perm, keys = monitor.batch, monitor.perm, monitor.keys
    assert len(keys) == 4 == len(set(keys))  # the training batch size 2, raised to 4; 4 different episodes
    assert list(batch["__key__"]) == keys
    assert all(perm[i] != i and keys[perm[i]] != keys[i] for i in range(4)) and sorted(perm) == [0, 1, 2, 3]

    per_sample = {}
    for name, actions in (("true", batch["action"]), ("shuffled", batch["action"][perm]),
                          ("zero", torch.zeros_like(batch["action"]))):
        with torch.no_grad():
            loss, out = model.training_step({**batch, "action": actions}, 3,
                                            generator=torch.Generator().manual_seed(7), augment=False)
        assert stats[name] == pytest.approx(loss.item(), rel=1e-6)
        per_sample[name] = out["loss_per_sample"].double().numpy()
    assert len({round(stats[k], 6) for k in ("true", "shuffled", "zero")}) == 3  # the actions matter here
    d = per_sample["shuffled"] - per_sample["true"]
    assert stats["gap"] == pytest.approx(d.mean(), rel=1e-6, abs=1e-9)
    assert stats["gap_se"] == pytest.approx(d.std(ddof=1) / math.sqrt(4), rel=1e-5)
    assert stats["zero_gap"] == pytest.approx(per_sample["zero"].mean() - per_sample["true"].mean(), abs=1e-6)

    again = monitor.check(trainer, 4)  # same batch, same noise: the same numbers
    assert [again[k] for k in ("true", "shuffled", "zero")] == [stats[k] for k in ("true", "shuffled", "zero")]


# ----------------------------------------------------------------------------- pieces
def test_samples_come_from_distinct_episodes_and_shuffling_is_a_derangement():
    ds = ActionLatents(n=40, episodes=5)
    for rank in range(2):
        chosen = select_samples(ds, 8, seed=3, dp_rank=rank, dp=2)
        assert len(chosen) == 5 and len({ds.sample_key(i) for i in chosen}) == 5  # only 5 episodes exist
    assert select_samples(ds, 3, seed=3, dp_rank=0, dp=2) != select_samples(ds, 3, seed=3, dp_rank=1, dp=2)
    assert select_samples(ds, 3, seed=3) == select_samples(ds, 3, seed=3)  # fixed
    for n in range(2, 9):
        for seed in range(5):
            perm = derangement(n, seed)
            assert sorted(perm) == list(range(n)) and all(p != i for i, p in enumerate(perm))
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1)


def test_a_batch_of_one_episode_turns_the_monitor_off(tmp_path, caplog):
    from cosmos_predict2.data.loader import build_dataloader

    model = torch.nn.Linear(1, 1)
    model.conditioner = types.SimpleNamespace(use_action=True)
    loader = build_dataloader(ActionLatents(n=8, episodes=1), batch_size=2, num_workers=0)
    trainer = types.SimpleNamespace(model=model, device=torch.device("cpu"), dims=None, dataloader_val=None,
                                    dataloader_train=loader, iteration=0, max_iter=10, job_dir=str(tmp_path))
    monitor = ActionSensitivityMonitor(every_n=1)
    monitor.on_train_start(trainer)
    with caplog.at_level(logging.WARNING):
        metrics = {}
        monitor.on_before_metrics(trainer, 1, metrics)
    assert metrics == {} and not monitor.active and "at least 2 episodes" in caplog.text
    monitor = ActionSensitivityMonitor(every_n=1)
    monitor.on_train_start(types.SimpleNamespace(model=torch.nn.Linear(1, 1), iteration=0))
    assert not monitor.active  # a model without actions: inert


def test_noise_rule():
    rng = np.random.default_rng(0)
    true = rng.uniform(1, 2, 16)
    for shift, k, rel, within in ((0.0, 2.0, 0.0, True), (0.5, 2.0, 0.0, False), (0.5, 2.0, 0.5, True),
                                  (0.02, 2.0, 0.0, None)):
        d = shift + rng.normal(0, 0.1, 16)
        shuffled, zero = true + d, true + 0.3
        stats = gap_stats([16, true.sum(), shuffled.sum(), zero.sum(), d.sum(), (d * d).sum()], k, rel)
        se = d.std(ddof=1) / 4
        assert stats["gap"] == pytest.approx(d.mean()) and stats["gap_se"] == pytest.approx(se)
        assert stats["shuffled"] == pytest.approx(shuffled.mean()) and stats["zero_gap"] == pytest.approx(0.3)
        expected = d.mean() <= k * se or d.mean() <= rel * true.mean()
        assert stats["within_noise"] == expected and (within is None or expected == within)


# ----------------------------------------------------------------------------- trained models
@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset

    out = str(tmp_path_factory.mktemp("bridge"))
    write_bridge_dataset(out, episodes=12, seed=0, cfg=SyntheticConfig(frames=13), split_ratio=(0.5, 0.5, 0.0))
    return out


def test_warns_on_a_model_trained_with_its_actions_zeroed(bridge, tmp_path, caplog, monkeypatch):
    """The tiny recipe on the synthetic Bridge scene, its training actions zeroed; the monitor scores held-out
    episodes with their own actions."""
    from cosmos_predict2.configs.base.config import make_config
    from cosmos_predict2.configs.compose import apply_overrides

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = apply_overrides(make_config(), [
        "experiment=tiny_action_conditioned_bridge", "job.name=zeroed", f"trainer.max_iter={STEPS}", "ckpt_type=dummy",
        "model.config.precision=float32", "~trainer.callbacks.rollout_eval", "trainer.logging_iter=10",
        "trainer.progress_bar=False", "trainer.run_validation=True", "trainer.validation_iter=1000000",
        f"dataloader_train.dataset.dataset_dir={bridge}", f"dataloader_val.dataset.dataset_dir={bridge}",
        "dataloader_train.batch_size=4", "dataloader_train.num_workers=0", "dataloader_val.num_workers=0",
        "scheduler.warm_up_steps=[1]", "trainer.callbacks.action_monitor.every_n=10",
        "trainer.callbacks.action_monitor.warn_after=20"])
    with caplog.at_level(logging.INFO):
        trainer = _train(cfg, zero_training_actions=True)
    monitor = _monitor(trainer)
    keys = {split: {d.sample_key(i) for i in range(len(d))}
            for split, d in (("train", trainer.dataloader_train.dataset), ("val", trainer.dataloader_val.dataset))}
    assert set(monitor.keys) <= keys["val"] and not keys["val"] & keys["train"]  # held-out episodes
    assert [h["iteration"] for h in monitor.history] == [10, 20, 30]
    assert all(h["within_noise"] for h in monitor.history[1:])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and "NOT using its actions" in r.getMessage()]
    assert [w.split(" at iteration ")[1].split(",")[0] for w in warnings] == ["20", "30"]  # from warn_after on
    assert any(r.levelno == logging.WARNING and "action monitor at iteration 30" in r.getMessage()
               for r in caplog.records)  # the end-of-run summary
    lines = [json.loads(line) for line in open(os.path.join(trainer.job_dir, "metrics.jsonl"))]
    assert [r["iteration"] for r in lines if "action_monitor/gap" in r] == [10, 20, 30]
    last = lines[-1]
    assert last["action_monitor/true"] == pytest.approx(monitor.history[-1]["true"])
    assert {f"action_monitor/{k}" for k in ("true", "shuffled", "zero", "gap", "gap_se", "zero_gap")} <= set(last)
    assert any("act Δ" in r.getMessage() for r in caplog.records)  # the metrics log line


def test_silent_on_a_model_trained_with_its_actions(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with caplog.at_level(logging.WARNING):
        trainer = _train(tiny_action_config(STEPS, every_n=10, warn_after=20))
    monitor = _monitor(trainer)
    assert [h["iteration"] for h in monitor.history] == [10, 20, 30]
    assert not any(h["within_noise"] for h in monitor.history[1:])
    assert monitor.history[-1]["gap"] > 4 * monitor.history[-1]["gap_se"]
    assert "NOT using its actions" not in caplog.text


def test_config_node_and_switches():
    from cosmos_predict2.configs.base.config import make_config
    from cosmos_predict2.configs.compose import apply_overrides

    node = apply_overrides(make_config(), ["experiment=tiny_action_conditioned_bridge"]).trainer.callbacks
    assert node.action_monitor._target_ == "cosmos_predict2.trainer.action_monitor.ActionSensitivityMonitor"
    off = apply_overrides(make_config(), ["experiment=tiny_action_conditioned_bridge",
                                          "trainer.callbacks.action_monitor=null"]).trainer.callbacks
    assert off.action_monitor is None
    zero = apply_overrides(make_config(), ["experiment=tiny_action_conditioned_bridge",
                                           "trainer.callbacks.action_monitor.every_n=0"]).trainer.callbacks
    monitor = instantiate(zero.action_monitor)
    monitor.on_train_start(types.SimpleNamespace(model=types.SimpleNamespace(
        conditioner=types.SimpleNamespace(use_action=True)), iteration=0))
    assert not monitor.active
    with pytest.raises(ValueError, match="trainer.callbacks.action_monitor"):
        ActionSensitivityMonitor(batch_size=1)
