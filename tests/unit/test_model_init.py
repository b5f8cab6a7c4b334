"""Init units (models/init.py) and the deterministic, sharding-independent initialisation built on them."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from cosmos_predict2.models.action_dit import (ActionChunkConditionedMinimalV1LVGDiT, ActionConditionedMinimalV1LVGDiT,
                                               SingleActionConditionedDiT)
from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.init import iter_init_units, unit_seed
from cosmos_predict2.models.presets import net_kwargs
from cosmos_predict2.parallel.materialize import canonical_name, init_parameters_
from cosmos_predict2.models.lora import inject_lora

SMALL = dict(num_blocks=2, model_channels=32, num_heads=2, adaln_lora_dim=8)
NETS = {
    "base": lambda: MiniTrainDIT(**net_kwargs("tiny", **SMALL)),
    "p25_proj_extra_pos": lambda: MiniTrainDIT(**net_kwargs("tiny_p25", extra_per_block_abs_pos_emb=True, **SMALL)),
    "no_adaln_lora": lambda: MiniTrainDIT(**net_kwargs("tiny", use_adaln_lora=False, **SMALL)),
    "clip_action": lambda: ActionConditionedMinimalV1LVGDiT(**net_kwargs("tiny", **SMALL)),
    "chunk_action_fourier": lambda: ActionChunkConditionedMinimalV1LVGDiT(
        **net_kwargs("tiny", concat_condition_frame=True, **SMALL), action_features="cumulative_fourier"),
    "single_action": lambda: SingleActionConditionedDiT(**net_kwargs("tiny", **SMALL)),
}


def _build(kind: str, lora: bool, device=None):
    with torch.device(device) if device else torch.device("cpu"):
        net = NETS[kind]()
        if lora:
            inject_lora(net, rank=4, alpha=4)
    return net


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("kind", sorted(NETS))
def test_every_parameter_in_exactly_one_unit(kind, lora):
    net = _build(kind, lora)
    names = [n for u in iter_init_units(net) for n in u.full_names()]
    assert sorted(names) == sorted(dict(net.named_parameters()))
    assert len(names) == len(set(names))


@pytest.mark.parametrize("kind", sorted(NETS))
def test_materialised_init_equals_eager_unit_init(kind):
    """init_parameters_ on a meta net == each unit of an eager net initialised under its own seed."""
    seed = 11
    meta = _build(kind, True, "meta")
    template = copy.deepcopy(meta)
    meta.to_empty(device="cpu")
    init_parameters_(meta, template, seed, torch.device("cpu"))
    eager = _build(kind, True)
    for unit in iter_init_units(eager):
        torch.manual_seed(unit_seed(seed, unit.name))
        unit.init()
    for (name, a), b in zip(meta.state_dict().items(), eager.state_dict().values()):
        assert torch.equal(a, b), name


def test_init_matches_the_documented_distributions():
    net = _build("chunk_action_fourier", True, "meta")
    template = copy.deepcopy(net)
    net.to_empty(device="cpu")
    init_parameters_(net, template, 0, torch.device("cpu"))
    sd = {canonical_name(k): v for k, v in net.state_dict().items()}  # checkpoint keys (no PEFT base_layer)
    assert not sd["blocks.0.adaln_modulation_mlp.2.weight"].any()  # AdaLN output linears start at zero
    assert not sd["final_layer.adaln_modulation.2.weight"].any()
    assert torch.equal(sd["t_embedding_norm.weight"], torch.ones(32))
    assert not sd["blocks.1.self_attn.q_proj.lora_B.default.weight"].any()  # LoRA B = 0: the net is unchanged
    a = sd["blocks.1.self_attn.q_proj.lora_A.default.weight"]  # LoRA A: Kaiming-uniform(a=sqrt(5)), bound 1/sqrt(fan_in)
    assert a.any() and a.abs().max() <= 1 / math.sqrt(a.shape[1])
    w = sd["blocks.0.mlp.layer1.weight"]  # truncated normal, std 1/sqrt(fan_in), cut at 3 std
    std = 1 / math.sqrt(w.shape[1])
    assert w.abs().max() <= 3 * std + 1e-7 and abs(w.std().item() - std) < 0.15 * std
    bound = 1 / math.sqrt(sd["action_embedder_B_D.fc1.weight"].shape[1])  # nn.Linear default for the action MLPs
    assert sd["action_embedder_B_D.fc1.weight"].abs().max() <= bound


def test_unit_seeds_and_canonical_names():
    assert unit_seed(0, "blocks.0") == unit_seed(0, "blocks.0") != unit_seed(1, "blocks.0") != unit_seed(0, "blocks.1")
    assert canonical_name("blocks.3._checkpoint_wrapped_module.mlp.layer1.weight") == "blocks.3.mlp.layer1.weight"
    assert canonical_name("_orig_mod.x_embedder.proj.1.weight") == "x_embedder.proj.1.weight"
