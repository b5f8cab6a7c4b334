"""FSDP, HSDP and context parallelism on 2 gloo ranks reproduce a single process (fp32)."""

from __future__ import annotations

import copy

import pytest
import torch

from dist_helpers import run_ranks, single_process_group

pytestmark = pytest.mark.distributed


def _train_variants(rank: int, world: int, root: str) -> dict:
    import torch.distributed as dist

    from cosmos_predict2.trainer.launch import build
    from trainer_toy import toy_config
    import os

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = root
    out = {}
    variants = {
        "fsdp": dict(fsdp_shard_size=-1, batch_size=1),              # shard 2
        "hsdp": dict(fsdp_shard_size=1, batch_size=1),               # replicate 2 x shard 1
        "cp": dict(cp=2, batch_size=2, fsdp_shard_size=-1),          # both ranks see the same 2 samples
        "cp_ac": dict(cp=2, batch_size=2, activation_checkpointing="predict2_2b_720"),
        "fsdp_accum": dict(fsdp_shard_size=-1, batch_size=1, grad_accum=2),  # global batch 4
    }
    for name, kw in variants.items():
        trainer = build(toy_config(root, name=name, ckpt="dummy", max_iter=3, **kw))
        p = next(trainer.model.net.parameters())
        out[name] = {"losses": trainer.train(), "placements": str(p.placements), "local": tuple(p.to_local().shape),
                     "global": tuple(p.shape), "dp": trainer.dims.dp, "ema_sq": _ema_sq(trainer.model)}
        dist.barrier()
    return out


def _ema_sq(model) -> float:
    """Sum of squares of the (gathered) EMA weights: the EMA update must match on shards."""
    total = 0.0
    for p in model.net_ema.parameters():
        full = p.full_tensor() if hasattr(p, "full_tensor") else p
        total += float((full.double() ** 2).sum())
    return total


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Single process, global batch 2 (and 4), no sharding beyond a 1-rank mesh."""
    import os

    from cosmos_predict2.trainer.launch import build
    from trainer_toy import toy_config

    root = str(tmp_path_factory.mktemp("ref"))
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = root
    out = {}
    with single_process_group():
        for batch in (2, 4):
            trainer = build(toy_config(root, name=f"ref{batch}", ckpt="dummy", max_iter=3, batch_size=batch))
            out[batch] = {"losses": trainer.train(), "ema_sq": _ema_sq(trainer.model)}
    return out


def _all_checks(rank: int, world: int, root: str) -> dict:
    """One 2-rank spawn for every check of this module (process start-up dominates on 2 cores)."""
    return {"train": _train_variants(rank, world, root), "cp_net": _cp_net(rank, world)}


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    return run_ranks(_all_checks, 2, str(tmp_path_factory.mktemp("two_ranks")))


def test_fsdp_hsdp_cp_match_single_process(reference, two_ranks):
    results = [r["train"] for r in two_ranks]
    for rank, res in enumerate(results):
        for name, r in res.items():
            ref = reference[4 if name == "fsdp_accum" else 2]
            assert r["losses"] == pytest.approx(ref["losses"], rel=2e-5, abs=1e-6), (rank, name, r["losses"], ref)
            assert r["ema_sq"] == pytest.approx(ref["ema_sq"], rel=1e-5), (rank, name)
    reference = reference[2]["losses"]
    r0 = results[0]
    assert "Shard(dim=0)" in r0["fsdp"]["placements"] and r0["fsdp"]["local"][0] * 2 == r0["fsdp"]["global"][0]
    assert r0["hsdp"]["placements"].startswith("(Replicate()") and r0["hsdp"]["local"] == r0["hsdp"]["global"]
    assert r0["fsdp"]["dp"] == 2 and r0["hsdp"]["dp"] == 2 and r0["cp"]["dp"] == 1
    assert reference[-1] < reference[0]  # it actually trains


def _cp_net(rank: int, world: int) -> dict:
    import torch.distributed as dist

    from cosmos_predict2.parallel.mesh import build_parallel_dims

    dims = build_parallel_dims(world, 2, 2)  # world 2: one CP group; world 4: CP sub-groups {0,1} and {2,3}

    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.parallel.activation_checkpoint import apply_activation_checkpointing
    from cosmos_predict2.parallel.context_parallel import UlyssesAttention, apply_context_parallel
    from trainer_toy import tiny_net_config

    out = {}
    for ac in ("none", "block_wise"):
        torch.manual_seed(0)
        net = instantiate(tiny_net_config(num_heads=2))
        with torch.no_grad():  # non-zero adaLN outputs so every path carries signal
            for name, p in net.named_parameters():
                if p.abs().sum() == 0:
                    p.normal_(0, 0.02)
        ref = copy.deepcopy(net)
        apply_context_parallel(net, dims.cp_group, 2, dims.cp_rank)
        apply_activation_checkpointing(net, ac)
        assert all(isinstance(b.self_attn.attn_op if ac == "none" else b._checkpoint_wrapped_module.self_attn.attn_op,
                              UlyssesAttention) for b in net.blocks)
        g = torch.Generator().manual_seed(1)
        x = torch.randn(2, 16, 4, 16, 16, generator=g)
        t = torch.rand(2, 4, generator=g)
        ctx = torch.randn(2, 8, 16, generator=g)
        y_ref = ref(x, t, ctx)
        y = net(x, t, ctx)
        (y_ref ** 2).mean().backward()
        (y ** 2).mean().backward()
        grad_err = 0.0
        ref_grads = dict(ref.named_parameters())
        for name, p in net.named_parameters():
            name = name.replace("_checkpoint_wrapped_module.", "")
            gsum = p.grad.clone()
            dist.all_reduce(gsum, group=dims.cp_group)  # FSDP averages over dp x cp; each rank holds cp x its share
            grad_err = max(grad_err, (gsum / 2 - ref_grads[name].grad).abs().max().item())
        out[ac] = {"out_err": (y - y_ref).abs().max().item(), "grad_err": grad_err,
                   "grad_scale": max(p.grad.abs().max().item() for p in ref.parameters())}
    return out


def test_context_parallel_net_output_and_grads_match(two_ranks):
    for res in (r["cp_net"] for r in two_ranks):
        for ac, r in res.items():
            assert r["out_err"] < 1e-5, (ac, r)
            assert r["grad_err"] < 1e-5 * max(1.0, r["grad_scale"]), (ac, r)


@pytest.mark.slow
def test_context_parallel_on_sub_groups_of_4_ranks():
    """CP groups that are not the whole world (replicate 2 x cp 2): collectives must use group ranks."""
    for res in run_ranks(_cp_net, 4):
        for ac, r in res.items():
            assert r["out_err"] < 1e-5, (ac, r)
            assert r["grad_err"] < 1e-5 * max(1.0, r["grad_scale"]), (ac, r)
