"""The memory plan: parameter counts against a closed-form count of the DiT (every registered experiment), the
activation estimate against the tensors autograd really saves, the dry run's plan output, the fit check."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config, load_config_module
from cosmos_predict2.configs.registry import experiment_aliases, registered_options
from cosmos_predict2.trainer import memory_plan as mp

load_config_module(DEFAULT_CONFIG_FILE)()
EXPERIMENTS = sorted(n for n in registered_options("experiment") if n not in experiment_aliases())


def dit_param_count(net: dict) -> int:
    """Parameters of a (action-conditioned) MiniTrainDIT from its config alone (upstream's layer list)."""
    D, n, heads = net["model_channels"], net["num_blocks"], net["num_heads"]
    lora, use_lora = net.get("adaln_lora_dim", 256), net.get("use_adaln_lora", True)
    p, pt = net.get("patch_spatial", 2), net.get("patch_temporal", 1)
    c_in = net.get("in_channels", 16) * (1 + int(net.get("concat_condition_frame", False)))
    c_in += int(net.get("use_condition_mask", True)) + int(net.get("concat_padding_mask", True))
    ctx, hidden, head = net.get("crossattn_emb_channels", 1024), int(D * net.get("mlp_ratio", 4.0)), D // heads
    adaln = (lambda k: D * lora + lora * k * D) if use_lora else (lambda k: D * k * D)
    total = c_in * p * p * pt * D                                          # patch embedding
    total += D * D + (0 if use_lora else D) + D * (3 * D if use_lora else D)  # timestep embedding
    total += D                                                              # its RMSNorm
    if net.get("use_crossattn_projection", False):
        total += net["crossattn_proj_in_channels"] * ctx + ctx
    if net.get("extra_per_block_abs_pos_emb", False):
        total += (net["max_frames"] // pt + net["max_img_h"] // p + net["max_img_w"] // p) * D
    block = 4 * D * D + 2 * head                                            # self-attention + q/k norms
    block += 2 * D * D + 2 * ctx * D + 2 * head                             # cross-attention
    block += 2 * D * hidden + 3 * adaln(3)                                  # MLP, three AdaLN modulations
    total += n * block + D * p * p * pt * net.get("out_channels", 16) + adaln(2)  # final layer
    target = net["_target_"].rsplit(".", 1)[-1]
    if target != "MiniTrainDIT":
        from cosmos_predict2.models.action_features import features_per_step

        a, k = net["action_dim"], net.get("num_action_per_chunk", 12)
        inputs = {"ActionConditionedMinimalV1LVGDiT": a * k, "SingleActionConditionedDiT": a,
                  "ActionConditionalVideoExtendGeneralDIT": a,  # Predict1: same layer list, its own names
                  "ActionChunkConditionedMinimalV1LVGDiT": features_per_step(net.get("action_features", "raw"), a)
                  * net.get("temporal_compression_ratio", 4)}[target]
        h = net.get("hidden_dim_in_action_embedder") or 4 * D
        total += (inputs * h + h + h * D + D) + (inputs * h + h + h * 3 * D + 3 * D)
    return total


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_plan_counts_the_experiments_net(name):
    config = compose_config(DEFAULT_CONFIG_FILE, [f"experiment={name}"])
    plan = mp.build_memory_plan(config, 32)
    net = dict(config.model.config.net)
    assert plan.num_params == dit_param_count(net) == plan.trainable_params
    group = plan.shard_group
    assert plan.params_bytes_per_rank >= 4 * plan.num_params / group
    assert plan.params_bytes_per_rank <= 4 * (plan.num_params / group + plan.largest_unit_params)
    assert plan.optimizer_bytes_per_rank == 2 * plan.grads_bytes_per_rank == 2 * plan.params_bytes_per_rank
    assert plan.ema_bytes_per_rank == (plan.params_bytes_per_rank if config.model.config.ema.enabled else 0)
    assert plan.activation_bytes_per_rank_estimate > 0 and plan.tokens_per_sample > 0


def test_lora_plan_trains_adapters_only():
    config = compose_config(DEFAULT_CONFIG_FILE, ["experiment=predict2_video2world_training_2b_groot_gr1_480",
                                                  "model.config.train_architecture=lora"])
    plan = mp.build_memory_plan(config, 8)
    r, D, n = 16, 2048, 28
    adapters = n * (4 * r * (D + D) + 2 * r * (D + D) + 2 * r * (1024 + D) + r * (D + 4 * D) + r * (4 * D + D))
    assert plan.num_params == dit_param_count(dict(config.model.config.net)) + adapters
    assert plan.trainable_params == adapters and plan.grads_bytes_per_rank < plan.params_bytes_per_rank / 50


def _saved_bytes_per_token(dtype: torch.dtype, D: int = 256) -> float:
    """Bytes autograd saves per token in one DiT block (slope over two sequence lengths; shared RoPE tables and
    parameters excluded): the independent measurement the plan's SAVED_PER_TOKEN['none'] is checked against."""
    from cosmos_predict2.models.dit import Block
    from cosmos_predict2.models.layers import rope3d_cos_sin

    block = Block(D, D, 2).to(dtype)

    def measure(T: int) -> int:
        seen: dict = {}
        rope = rope3d_cos_sin(T, 8, 8, D // 2, (1.0, 1.0, 1.0), torch.device("cpu"))
        skip = {p.untyped_storage().data_ptr() for p in block.parameters()} | {r.untyped_storage().data_ptr()
                                                                                for r in rope}

        def pack(t):
            if t.untyped_storage().data_ptr() not in skip:
                seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        x = torch.randn(1, T, 64, D, dtype=dtype, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            block(x, torch.randn(1, T, D, dtype=dtype), torch.randn(1, 7, D, dtype=dtype), rope,
                  torch.randn(1, T, 3 * D, dtype=dtype))
        return sum(seen.values())

    return (measure(4) - measure(2)) / (2 * 64)


def test_activation_estimate_matches_saved_tensors():
    bf16 = _saved_bytes_per_token(torch.bfloat16) / (256 * 2)
    fp32 = _saved_bytes_per_token(torch.float32) / (256 * 4)
    assert abs(bf16 - mp.SAVED_PER_TOKEN["none"]) / mp.SAVED_PER_TOKEN["none"] < 0.1, bf16
    assert 0.75 < fp32 / mp.SAVED_PER_TOKEN["none"] < 1.0, fp32  # fp32: no extra fp32 copies, the plan is high


def test_dryrun_prints_and_writes_the_14b_plan(tmp_path, capsys, monkeypatch):
    from scripts.train import main

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    name = "predict2_video2world_training_14b_agibot_head_center_fisheye_color"
    assert main(["--dryrun", "--world-size", "32", "--", f"experiment={name}"]) == 0
    out = capsys.readouterr().out
    assert "memory plan per rank: world 32 = replicate 1 x FSDP group 32 (context parallel 8)" in out
    assert "preflight: 3 file(s) this run needs are missing" in out and "hf download nvidia/Cosmos-Predict2-14B" in out
    plan = json.load(open(tmp_path / "posttraining" / "video2world" / "14b_agibot_head_center_fisheye_color" /
                          "memory_plan.json"))
    config = compose_config(DEFAULT_CONFIG_FILE, [f"experiment={name}"])
    assert plan["num_params"] == dit_param_count(dict(config.model.config.net))
    for key in ("params_bytes_per_rank", "grads_bytes_per_rank", "optimizer_bytes_per_rank", "ema_bytes_per_rank",
                "activation_bytes_per_rank_estimate", "total_bytes_per_rank"):
        assert plan[key] > 0, key
    assert math.isclose(plan["params_bytes_per_rank"], 4 * plan["num_params"] / 32, rel_tol=0.01)


def test_fit_check_names_the_knobs(monkeypatch):
    config = compose_config(DEFAULT_CONFIG_FILE, ["experiment=action_conditional_predict2_video2world_2b_training"])
    plan = mp.build_memory_plan(config, 2)
    cpu = torch.device("cpu")
    monkeypatch.setattr(mp, "_host_available", lambda: 4 * 2**30)  # 4 GiB per rank: the 2B build cannot fit
    with pytest.raises(mp.MemoryPlanError, match=r"the build needs about .* GiB of host memory per rank but 4.0 GiB.*"
                                                 r"more ranks.*LoRA"):
        mp.check_memory_plan(plan, config, cpu, build_only=True)
    monkeypatch.setattr(mp, "_host_available", lambda: 12 * 2**30)  # builds, but cannot train on this host
    assert mp.check_memory_plan(plan, config, cpu, build_only=True) == []
    with pytest.raises(mp.MemoryPlanError, match="parameters, gradients, optimizer state and EMA need 15.1 GiB"):
        mp.check_memory_plan(plan, config, cpu)
    monkeypatch.setattr(mp, "_host_available", lambda: 20 * 2**30)  # state fits, activations may not
    warnings = mp.check_memory_plan(plan, config, cpu)
    assert len(warnings) == 1 and "activation_checkpointing=block_wise" in warnings[0] and "context_parallel" in warnings[0]
    assert os.environ.get("LOCAL_WORLD_SIZE") in (None, "1")
