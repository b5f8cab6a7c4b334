"""The one weight loader (checkpoint/weights.py), single process, against independent references: torch's own
``load_state_dict`` on the same file, LoRA folding computed here in float64, files written by DCP and safetensors."""

from __future__ import annotations

import copy
import os

import pytest
import torch

from cosmos_predict2.checkpoint.random_weights import random_dit_state_dict
from cosmos_predict2.checkpoint.weights import CheckpointError, load_weights, match_weights, read_state_dict
from cosmos_predict2.lazy_config import L, instantiate
from cosmos_predict2.models.key_maps import is_non_learned_key
from cosmos_predict2.models.presets import net_kwargs
from cosmos_predict2.parallel.materialize import init_parameters_
from cosmos_predict2.models.lora import inject_lora

CHUNK_DIT = "cosmos_predict2.models.action_dit.ActionChunkConditionedMinimalV1LVGDiT"
ACTION = ["action_embedder_B_D", "action_embedder_B_3D"]


def net_node(**kw):
    return L(CHUNK_DIT)(**net_kwargs("tiny", num_blocks=2, model_channels=32, num_heads=2, adaln_lora_dim=8, **kw),
                        action_dim=7, num_action_per_chunk=12, temporal_compression_ratio=4)


class World(torch.nn.Module):
    """``net`` (+ ``net_ema``) built on meta and initialised like the trainer does."""

    def __init__(self, ema=True, lora=False, seed=0, **kw):
        super().__init__()
        with torch.device("meta"):
            self.net = instantiate(net_node(**kw))
            if lora:
                inject_lora(self.net, rank=4, alpha=4)
        template = copy.deepcopy(self.net)
        if ema:
            self.net_ema = copy.deepcopy(self.net).requires_grad_(False)
            self.net_ema.to_empty(device="cpu")
        self.net.to_empty(device="cpu")
        init_parameters_(self.net, template, seed, torch.device("cpu"))
        if ema:
            self.net_ema.load_state_dict(self.net.state_dict())


def reference_net(sd, **kw):
    """An eagerly built net loaded with torch's own strict load_state_dict (non-learned entries dropped)."""
    net = instantiate(net_node(**kw))
    net.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("net.") and not is_non_learned_key(k)})
    return net


def released_file(tmp_path, name="model.pt", seed=3, **kw):
    sd = random_dit_state_dict(net_node(**kw), seed=seed)
    path = str(tmp_path / name)
    torch.save(sd, path)
    return path, sd


def assert_same(net, ref):
    for (k, a), b in zip(net.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k


def test_released_layout_loads_like_load_state_dict(tmp_path):
    path, sd = released_file(tmp_path)
    assert any(is_non_learned_key(k) for k in sd) and all(v.dtype == torch.bfloat16 for k, v in sd.items()
                                                          if k.endswith(".weight"))
    model = World()
    report = load_weights(model, path)
    assert report.loaded == len(dict(model.net.named_parameters()))
    assert report.ignored == 3 + 4 + 1 + 2 * 4  # RoPE tables, counters, TE state of t_embedding_norm and q/k norms
    assert report.ema == "EMA net = copy of the net" and not report.new
    ref = reference_net(sd)
    assert_same(model.net, ref)
    assert_same(model.net_ema, ref)
    x = torch.randn(1, 16, 4, 4, 4)
    args = (x, torch.rand(1, 4), torch.randn(1, 3, 32))
    kw = dict(action=torch.randn(1, 12, 7), condition_video_input_mask_B_C_T_H_W=torch.zeros(1, 1, 4, 4, 4))
    torch.testing.assert_close(model.net(*args, **kw), ref(*args, **kw), rtol=0, atol=0)


def test_file_that_does_not_fit_names_keys_and_fix(tmp_path):
    path, sd = released_file(tmp_path)
    base = {k: v for k, v in sd.items() if "action_embedder" not in k}
    torch.save(base, tmp_path / "base.pt")
    with pytest.raises(CheckpointError, match=r"8 learned weights of the net are not in the file.*action_embedder.*"
                                              r"new_modules=\[action_embedder_B_D,action_embedder_B_3D\]"):
        match_weights(World(), str(tmp_path / "base.pt"), what="model.config.model_manager_config.dit_path")
    # declared new: they keep their initialisation (copied into the EMA net), the rest is loaded
    model = World()
    before = {k: v.clone() for k, v in model.net.state_dict().items() if "action_embedder" in k}
    report = load_weights(model, str(tmp_path / "base.pt"), new_modules=ACTION)
    assert sorted(report.new) == sorted(f"net.{k}" for k in before)
    for k, v in before.items():
        assert torch.equal(model.net.state_dict()[k], v) and torch.equal(model.net_ema.state_dict()[k], v)
    assert torch.equal(model.net.state_dict()["blocks.1.mlp.layer2.weight"], sd["net.blocks.1.mlp.layer2.weight"].float())
    with pytest.raises(CheckpointError, match="new_modules: \\['action_embeder'\\] name no module"):
        match_weights(World(), str(tmp_path / "base.pt"), new_modules=["action_embeder"])
    # an extra learned module in the file (a Predict2.5 text projection) and a shape mismatch
    extra = dict(sd, **{"net.crossattn_proj.0.weight": torch.zeros(32, 48), "net.crossattn_proj.0.bias": torch.zeros(32)})
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match="2 learned weights in the file are not in the net.*crossattn_proj.*"
                                              "use_crossattn_projection=True"):
        match_weights(World(), str(tmp_path / "extra.pt"))
    wrong = dict(sd, **{"net.action_embedder_B_D.fc1.weight": torch.zeros(128, 84)})
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match=r"1 shapes differ \(action_embedder_B_D.fc1.weight: file \(128, 84\) vs "
                                              r"net \(128, 28\)\).*chunk net 4 per latent frame \(4x7=28\)"):
        match_weights(World(), str(tmp_path / "wrong.pt"))
    with pytest.raises(CheckpointError, match="does not exist"):
        match_weights(World(), str(tmp_path / "nope.pt"))


def test_ema_rule(tmp_path):
    _, sd = released_file(tmp_path, seed=3)
    _, other = released_file(tmp_path, name="other.pt", seed=4)
    both = dict(sd, **{f"net_ema.{k[4:]}": v for k, v in other.items() if not is_non_learned_key(k)})
    torch.save(both, tmp_path / "both.pt")
    model = World()
    report = load_weights(model, str(tmp_path / "both.pt"))
    assert report.ema == "EMA net from net_ema.*"
    assert_same(model.net, reference_net(sd))
    assert_same(model.net_ema, reference_net(other))
    model = World()
    load_weights(model, str(tmp_path / "both.pt"), prefer_ema=True)  # load_ema_to_reg / --load_ema
    assert_same(model.net, reference_net(other))
    assert_same(model.net_ema, reference_net(other))
    model = World(ema=False)  # a file without EMA and prefer_ema: its net.* weights
    match = match_weights(model, str(tmp_path / "model.pt"), prefer_ema=True)
    assert any("no net_ema" in n for n in match.notes)
    load_weights(model, match)
    assert_same(model.net, reference_net(sd))


def test_lora_adapters_new_or_folded(tmp_path):
    path, sd = released_file(tmp_path)
    model = World(lora=True)
    adapters = {k: v.clone() for k, v in model.net.state_dict().items() if ".lora_" in k}
    report = load_weights(model, path)  # a base file: the adapters keep their initialisation (B = 0)
    assert sorted(report.new) == sorted(f"net.{k}" for k in adapters)
    assert all(torch.equal(model.net.state_dict()[k], v) for k, v in adapters.items())
    assert all(not v.any() for k, v in adapters.items() if ".lora_B." in k)
    with pytest.raises(CheckpointError, match="learned weights of the net are not in the file.*lora"):
        match_weights(World(lora=True), path, require_all=True)  # resuming a LoRA run needs its adapters
    # a file with adapters into a plain net: folded as W + B @ A (alpha = rank)
    g = torch.Generator().manual_seed(0)
    lora_sd = dict(sd)
    key = "blocks.0.self_attn.q_proj"
    A, B = torch.randn(4, 32, generator=g), torch.randn(32, 4, generator=g)
    lora_sd[f"net.{key}.lora_A.weight"], lora_sd[f"net.{key}.lora_B.weight"] = A, B
    torch.save(lora_sd, tmp_path / "lora.pt")
    model = World(ema=False)
    report = load_weights(model, str(tmp_path / "lora.pt"))
    assert report.folded == 1
    expected = (sd[f"net.{key}.weight"].double() + B.double() @ A.double()).float()
    torch.testing.assert_close(model.net.state_dict()[f"{key}.weight"], expected)


def test_other_sources_dcp_safetensors_wrappers(tmp_path):
    import torch.distributed.checkpoint as dcp
    from safetensors.torch import save_file

    path, sd = released_file(tmp_path)
    ref = reference_net(sd)
    learned = {k: v for k, v in sd.items() if not is_non_learned_key(k)}
    dcp.save({k: v.float().clone() for k, v in learned.items()}, checkpoint_id=str(tmp_path / "iter_000000010" / "model"))
    save_file({k: v.contiguous() for k, v in learned.items()}, str(tmp_path / "model.safetensors"))
    torch.save({"model": learned, "optimizer": {"step": torch.tensor(3)}}, tmp_path / "wrapped.pt")
    torch.save({k[4:]: v for k, v in learned.items()}, tmp_path / "bare.pt")
    for source in ("iter_000000010", "iter_000000010/model", "model.safetensors", "wrapped.pt", "bare.pt"):
        model = World()
        report = load_weights(model, str(tmp_path / source))
        assert report.loaded == len(learned), source
        assert_same(model.net, ref)
    full = read_state_dict(str(tmp_path / "iter_000000010"), progress=False)  # the converter's reading side
    assert sorted(full) == sorted(learned) and all(torch.equal(full[k], learned[k].float()) for k in learned)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        read_state_dict(str(tmp_path / "empty"))
