"""Trainer loop on one process: gradient accumulation, validation, bf16 mixed precision, async DCP,
activation-checkpoint policies, metrics/config files."""

from __future__ import annotations

import copy
import json
import math
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))
from trainer_toy import tiny_net_config, toy_config  # noqa: E402

from cosmos_predict2.lazy_config import L, instantiate  # noqa: E402


def _build(root, config=None, **kw):
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(root)
    from cosmos_predict2.trainer.launch import build

    return build(config if config is not None else toy_config(str(root), **kw))


def test_grad_accumulation_equals_larger_batch(group, tmp_path):
    big = _build(tmp_path / "a", ckpt="dummy", max_iter=3, batch_size=2).train()
    accum = _build(tmp_path / "b", ckpt="dummy", max_iter=3, batch_size=1, grad_accum=2).train()
    assert accum == pytest.approx(big, rel=1e-5)


def test_validation_metrics_and_files(group, tmp_path):
    import gc

    cfg = toy_config(str(tmp_path), max_iter=4, save_iter=4)
    cfg.trainer.callbacks["gc"] = L("cosmos_predict2.trainer.callbacks.ManualGarbageCollection")(every_n=2)
    # optional loggers: without tensorboard / wandb installed they warn and the run goes on
    cfg.trainer.callbacks["wandb"] = L("cosmos_predict2.trainer.callbacks.WandbLogger")()
    cfg.trainer.tensorboard, cfg.job.wandb_mode = True, "offline"
    cfg.dataloader_val = cfg.dataloader_train
    cfg.trainer.run_validation, cfg.trainer.validation_iter, cfg.trainer.max_val_iter = True, 2, 2
    losses = _build(tmp_path, cfg).train()
    job = os.path.join(str(tmp_path), "p", "g", "toy")
    records = [json.loads(line) for line in open(os.path.join(job, "metrics.jsonl"))]
    val = [r for r in records if r["split"] == "val"]
    train = [r for r in records if r["split"] == "train"]
    assert [r["iteration"] for r in val] == [2, 4] and all(r["num_batches"] == 2 for r in val)
    assert [r["loss"] for r in train] == pytest.approx(losses)
    for key in ("lr", "grad_norm", "samples_per_s", "iter_per_s", "tflops_per_device", "peak_memory_gib", "ema_beta"):
        assert key in train[-1], key
    assert os.path.exists(os.path.join(job, "config.yaml"))
    from matplotlib.image import imread

    assert imread(os.path.join(job, "loss_curve.png")).ndim == 3  # plotted from metrics.jsonl at the end
    assert gc.isenabled()  # ManualGarbageCollection re-enables automatic GC at the end


def test_bf16_mixed_precision_keeps_fp32_masters(group, tmp_path):
    fp32 = _build(tmp_path / "a", ckpt="dummy", max_iter=2).train()
    trainer = _build(tmp_path / "b", ckpt="dummy", max_iter=2, precision="bfloat16")
    bf16 = trainer.train()
    assert all(p.dtype == torch.float32 for p in trainer.model.net.parameters())
    assert all(p.dtype == torch.float32 for p in trainer.model.net_ema.parameters())
    assert bf16 == pytest.approx(fp32, rel=2e-2) and bf16 != fp32  # bf16 compute, close to fp32


def test_async_dcp_save_is_published_and_resumable(group, tmp_path):
    cfg = toy_config(str(tmp_path), max_iter=4, save_iter=2)
    cfg.checkpoint.dcp_async_mode_enabled = True
    full = _build(tmp_path, cfg).train()
    ck = os.path.join(str(tmp_path), "p", "g", "toy", "checkpoints")
    assert open(os.path.join(ck, "latest_checkpoint.txt")).read().strip() == "iter_000000004"
    assert sorted(n for n in os.listdir(ck) if n.startswith("iter_")) == ["iter_000000002", "iter_000000004"]
    cfg2 = toy_config(str(tmp_path), max_iter=6, save_iter=2)
    resumed = _build(tmp_path, cfg2)
    assert resumed.iteration == 4 and len(resumed.train()) == 2
    assert len(full) == 4


@pytest.mark.parametrize("policy", ["block_wise", "mm_only", "predict2_2b_720", "predict2_2b_720_aggressive",
                                    "predict2_14b_720", "predict2_14b_720_aggressive"])
def test_activation_checkpoint_policies_keep_gradients(policy):
    from cosmos_predict2.parallel.activation_checkpoint import apply_activation_checkpointing

    torch.manual_seed(0)
    ref = instantiate(tiny_net_config())
    net = copy.deepcopy(ref)
    apply_activation_checkpointing(net, policy)
    assert all(type(b).__name__ == "CheckpointWrapper" for b in net.blocks)
    g = torch.Generator().manual_seed(0)
    x, t, ctx = torch.randn(1, 16, 2, 16, 16, generator=g), torch.rand(1, 2, generator=g), torch.randn(1, 8, 16, generator=g)
    for m in (ref, net):
        (m(x, t, ctx) ** 2).mean().backward()
    ref_grads = dict(ref.named_parameters())
    for name, p in net.named_parameters():
        assert torch.allclose(p.grad, ref_grads[name.replace("_checkpoint_wrapped_module.", "")].grad, atol=1e-6)


def test_selective_policy_saves_the_right_ops():
    from torch.utils.checkpoint import CheckpointPolicy

    from cosmos_predict2.parallel.activation_checkpoint import _ATTN_OPS, _MM_OPS, _policy_fn

    class Ctx:
        is_recompute = False

    mm = next(iter(_MM_OPS))
    policy = _policy_fn(mm_mod=16, mm_above=8, attn_every=2)
    saved = [policy(Ctx, mm) == CheckpointPolicy.MUST_SAVE for _ in range(16)]
    assert saved == [False] * 8 + [True] * 7 + [False]  # counts 9..15 saved, 16 -> 0
    if _ATTN_OPS:
        attn = next(iter(_ATTN_OPS))
        assert [policy(Ctx, attn) == CheckpointPolicy.MUST_SAVE for _ in range(4)] == [False, True, False, True]
    assert policy(Ctx, torch.ops.aten.add.Tensor) == CheckpointPolicy.PREFER_RECOMPUTE


def test_unknown_policy_is_a_clear_error():
    from cosmos_predict2.parallel.activation_checkpoint import apply_activation_checkpointing

    with pytest.raises(ValueError, match="activation_checkpointing='nope'"):
        apply_activation_checkpointing(instantiate(tiny_net_config()), "nope")


def test_grad_clip_measures_and_clips():
    from cosmos_predict2.trainer.callbacks import clip_grad_norm

    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert float(clip_grad_norm([p], 1.0)) == pytest.approx(5.0)
    assert p.grad.norm().item() == pytest.approx(1.0, rel=1e-5)


def test_grad_clip_force_finite_zeroes_non_finite_entries_then_clips():
    from types import SimpleNamespace

    from cosmos_predict2.trainer.callbacks import GradClip

    inf, nan = float("inf"), float("nan")
    model = torch.nn.Module()
    model.a, model.b = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(2))
    for force_finite in (True, False):
        model.a.grad, model.b.grad = torch.tensor([3.0, nan, 4.0, inf]), torch.tensor([-inf, 0.0])
        trainer = SimpleNamespace(model=model, step_metrics={})
        GradClip(clip_norm=1.0, force_finite=force_finite).on_before_optimizer_step(trainer, 0)
        norm = trainer.step_metrics["grad_norm"]
        assert isinstance(norm, torch.Tensor) and norm.ndim == 0
        if force_finite:  # by hand: [3, 0, 4, 0] and [0, 0] have norm 5; clipped to norm 1: x / 5
            assert float(norm) == pytest.approx(5.0)
            assert torch.allclose(model.a.grad, torch.tensor([0.6, 0.0, 0.8, 0.0]), atol=1e-6)
            assert torch.equal(model.b.grad, torch.zeros(2))
        else:
            assert not torch.isfinite(norm)


def _inject_nan_grad(monkeypatch, at_iteration: int) -> None:
    """Make one gradient entry NaN in the step that completes ``at_iteration`` (after the backward passes)."""
    from cosmos_predict2.trainer.trainer import Trainer

    real = Trainer._sync_other_grads

    def sync(self):
        if self.iteration + 1 == at_iteration:
            grad = next(p.grad for p in self.model.net.parameters() if p.grad is not None)
            (grad.to_local() if hasattr(grad, "to_local") else grad).view(-1)[0] = float("nan")
        return real(self)

    monkeypatch.setattr(Trainer, "_sync_other_grads", sync)


def test_force_finite_steps_past_a_nan_gradient_and_without_it_the_run_stops(group, tmp_path, monkeypatch):
    from cosmos_predict2.trainer.trainer import NonFiniteLossError

    _inject_nan_grad(monkeypatch, at_iteration=2)
    for force_finite in (True, False):
        cfg = toy_config(str(tmp_path / str(force_finite)), ckpt="dummy", max_iter=4, save_iter=100)
        cfg.trainer.logging_iter = 4
        cfg.trainer.callbacks["grad_clip"] = L("cosmos_predict2.trainer.callbacks.GradClip")(
            clip_norm=1.0, force_finite=force_finite)
        trainer = _build(tmp_path / str(force_finite), cfg)
        if force_finite:
            losses = trainer.train()
            assert len(losses) == 4 and all(map(math.isfinite, losses))
            assert all(torch.isfinite(p.full_tensor()).all() for p in trainer.model.net.parameters())
        else:
            with pytest.raises(NonFiniteLossError, match="non-finite gradient norm nan at iteration 2;"):
                trainer.train()
            assert trainer.iteration == 4  # found at the logging step that reduces iterations 1-4


def test_ordinary_steps_do_not_wait_for_the_device(group, tmp_path, monkeypatch):
    """Between logging points a step reads no tensor on the host and runs no all-reduce: the loss, the gradient norm
    and the non-finite check are reduced once every trainer.logging_iter iterations (one read of one vector)."""
    import torch.distributed as dist

    import cosmos_predict2.data

    counts = {"reads": 0, "all_reduce": 0}
    # reads in torch (its CPU bookkeeping, e.g. the optimizer's step counts) and in the data pipeline (host tensors
    # before they reach the device, e.g. the sampler's order) are not waits for the device
    host_side = (os.path.dirname(torch.__file__), os.path.dirname(cosmos_predict2.data.__file__))

    def counting(name):
        real = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            if not sys._getframe(1).f_code.co_filename.startswith(host_side):
                counts["reads"] += 1
            return real(self, *args, **kwargs)
        return wrapper

    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    real_all_reduce = dist.all_reduce

    def all_reduce(*args, **kwargs):
        counts["all_reduce"] += 1
        return real_all_reduce(*args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    cfg = toy_config(str(tmp_path), ckpt="dummy", max_iter=8, save_iter=100)
    cfg.trainer.logging_iter = 4
    trainer = _build(tmp_path, cfg)
    per_step = []
    real_step = trainer.train_step

    def step():
        before = dict(counts)
        real_step()
        per_step.append({k: counts[k] - before[k] for k in counts})

    trainer.train_step = step
    losses = trainer.train()
    assert len(losses) == 8 and all(map(math.isfinite, losses))
    assert [s["reads"] for s in per_step] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert all(s["all_reduce"] == 0 for s in per_step)  # one rank; with more, one per logging step (+ data agreement)


def test_profiling_writes_a_chrome_trace_every_profile_freq_iterations(group, tmp_path):
    import gzip

    cfg = toy_config(str(tmp_path), ckpt="dummy", max_iter=5)
    cfg.trainer.profiling = dict(enable_profiling=True, profile_freq=4, with_stack=False)
    _build(tmp_path, cfg).train()
    trace_dir = os.path.join(str(tmp_path), "p", "g", "toy", "torch_trace")
    assert os.listdir(trace_dir) == ["iteration_4"]  # 3 warm-up iterations, the 4th traced; the 5th starts a cycle
    with gzip.open(os.path.join(trace_dir, "iteration_4", "rank0_trace.json.gz"), "rt") as f:
        trace = json.load(f)
    names = {e.get("name", "") for e in trace["traceEvents"]}
    assert any(n.startswith("aten::") for n in names) and "ProfilerStep#3" in names
