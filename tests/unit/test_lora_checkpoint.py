"""LoRA / DoRA checkpoints: upstream key names in and out, PEFT's own key layouts, DoRA magnitudes in the
meta-device materialisation path. References: PEFT used directly the way upstream uses it, and upstream's
checkpoint renaming (``base_layer.`` dropped)."""

from __future__ import annotations

import copy
from collections import OrderedDict

import pytest
import torch
import torch.distributed.checkpoint as dcp
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, inject_adapter_in_model
from torch import nn

from cosmos_predict2.checkpoint import state as ckstate
from cosmos_predict2.checkpoint.weights import load_weights, match_weights
from cosmos_predict2.lazy_config import instantiate
from cosmos_predict2.models.init import iter_init_units, unit_seed
from cosmos_predict2.models.lora import checkpoint_key, inject_lora
from cosmos_predict2.parallel.materialize import canonical_name, canonical_parameters, init_parameters_
from cosmos_predict2.pipelines.video2world_model import Video2WorldModel
from tests.unit.test_world_model import make_batch, make_config

TARGETS = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"


def _toy():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(q_proj=nn.Linear(4, 4), mlp=nn.Sequential(OrderedDict(
        layer1=nn.Linear(4, 8), layer2=nn.Linear(8, 4)))))


@pytest.mark.parametrize("use_dora", [False, True])
def test_checkpoint_keys_of_peft_layouts(use_dora):
    wrapped = "blocks.3._checkpoint_wrapped_module.mlp.layer1.base_layer.weight"
    assert canonical_name(wrapped) == "blocks.3.mlp.layer1.weight"
    assert checkpoint_key("net.blocks.0.q_proj.lora_A.default.weight") == "net.blocks.0.q_proj.lora_A.default.weight"
    ours = _toy()
    inject_lora(ours, rank=2, alpha=2, target_modules="q_proj,mlp.layer1,mlp.layer2", use_dora=use_dora)
    adapters = {k for k in canonical_parameters(ours) if "lora_" in k}
    # PEFT's adapter files: `base_model.model.` prefix, no adapter name
    config = LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj", "mlp.layer1", "mlp.layer2"], use_dora=use_dora)
    peft_file = get_peft_model_state_dict(get_peft_model(_toy(), config))
    assert all(k.startswith("base_model.model.") for k in peft_file)
    assert {checkpoint_key(k) for k in peft_file} == adapters
    # PEFT's full model state dict (what Predict2 saves): `base_layer.` in the base weights' names
    injected = inject_adapter_in_model(config, _toy())
    assert {checkpoint_key(k) for k in injected.state_dict()} == set(canonical_parameters(ours))
    assert any("base_layer" in k for k in injected.state_dict())


def _upstream_state_dicts(cfg: dict, use_dora: bool) -> dict[str, torch.Tensor]:
    """Model weights of an upstream LoRA run: the net built plainly, PEFT injected as upstream does (adapters
    upcast to float32), adapters trained (random here), ``net_ema`` a different copy; raw PEFT keys."""
    out = {}
    for prefix, seed in (("net", 5), ("net_ema", 6)):
        torch.manual_seed(seed)
        net = instantiate(cfg["net"])
        config = LoraConfig(r=cfg["lora_rank"], lora_alpha=cfg["lora_alpha"], init_lora_weights=True,
                            target_modules=TARGETS.split(","), use_dora=use_dora)
        net = inject_adapter_in_model(config, net)
        g = torch.Generator().manual_seed(seed + 10)
        with torch.no_grad():
            for p in net.parameters():
                if p.requires_grad:
                    p.data = p.to(torch.float32)
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if p.ndim == 1 else 0.0))
        out.update({f"{prefix}.{k}": v.detach().clone() for k, v in net.state_dict().items()})
    return out


@pytest.mark.parametrize("layout,use_dora", [("predict2p5_dcp", False), ("predict2_pt", False),
                                             ("predict2p5_dcp", True)])
def test_upstream_lora_checkpoint_loads_and_trains(tmp_path, layout, use_dora):
    cfg = make_config("p2", ema=True, train_architecture="lora", use_dora=use_dora)
    raw = _upstream_state_dicts(cfg, use_dora)
    upstream = {k.replace("base_layer.", ""): v for k, v in raw.items()}  # Predict2.5's DCP ModelWrapper renaming
    if layout == "predict2p5_dcp":
        path = tmp_path / "iter_000000100" / "model"
        dcp.save({k: v.clone() for k, v in upstream.items()}, checkpoint_id=str(path))
    else:  # Predict2: torch.save of the model state dict, PEFT names as they are
        (tmp_path / "model").mkdir()
        path = tmp_path / "model" / "iter_000000100.pt"
        torch.save(raw, path)

    model = Video2WorldModel(cfg, init_device="meta")  # as the trainer builds it
    match = match_weights(model, str(path), require_all=True)  # a whole training checkpoint: nothing left out
    assert not match.new and not match.fold
    model.net.to_empty(device="cpu")
    model.net_ema.to_empty(device="cpu")
    load_weights(model, match)
    saved = ckstate.model_state_dict(model)
    assert set(saved) == set(upstream)  # our checkpoint keys are upstream's
    for k, v in upstream.items():
        assert torch.equal(saved[k], v), k

    base = {n: p.detach().clone() for n, p in canonical_parameters(model.net).items() if not p.requires_grad}
    adapters = {n: p.detach().clone() for n, p in canonical_parameters(model.net).items() if p.requires_grad}
    assert adapters and all("lora_" in n for n in adapters)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = make_batch()
    for it in range(3):
        torch.manual_seed(it)
        loss, _ = model.training_step(batch, it)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    after = canonical_parameters(model.net)
    changed = {n for n, v in adapters.items() if not torch.equal(after[n], v)}
    assert any(".lora_A." in n for n in changed) and any(".lora_B." in n for n in changed)
    assert not use_dora or any(".lora_magnitude_vector." in n for n in changed)
    assert all(torch.equal(after[n], v) for n, v in base.items())


def _dora_net(device):
    cfg = make_config("p2", train_architecture="lora", use_dora=True)
    with torch.device(device):
        net = instantiate(cfg["net"])
        inject_lora(net, rank=4, alpha=8, target_modules=TARGETS, use_dora=True)
    return net


def test_dora_magnitudes_in_the_materialisation_path(tmp_path):
    # random initialisation: equals the eager net initialised unit by unit under the same seeds; m = ||W|| per row
    meta = _dora_net("meta")
    template = copy.deepcopy(meta)
    meta.to_empty(device="cpu")
    init_parameters_(meta, template, 3, torch.device("cpu"))
    eager = _dora_net("cpu")
    for unit in iter_init_units(eager):
        torch.manual_seed(unit_seed(3, unit.name))
        unit.init()
    for (name, a), b in zip(meta.state_dict().items(), eager.state_dict().values()):
        assert torch.equal(a, b), name
    params = canonical_parameters(meta)
    m, w = params["blocks.0.mlp.layer1.lora_magnitude_vector.default.weight"], params["blocks.0.mlp.layer1.weight"]
    torch.testing.assert_close(m, w.norm(dim=1))
    # base weights from a file: the new adapters leave the loaded net unchanged
    cfg = make_config("p2")
    torch.manual_seed(9)
    plain = instantiate(cfg["net"])
    torch.save({f"net.{k}": v for k, v in plain.state_dict().items()}, tmp_path / "base.pt")
    model = nn.Module()
    model.net = _dora_net("meta")
    template = copy.deepcopy(model.net)
    match = match_weights(model, str(tmp_path / "base.pt"))
    assert any("lora_magnitude_vector" in n for n in match.new)
    model.net.to_empty(device="cpu")
    init_parameters_(model.net, template, 0, torch.device("cpu"), only=match.needs_init("net"))
    load_weights(model, match)
    x = torch.randn(1, 16, 2, 4, 4)
    args = (x, torch.rand(1, 2), torch.randn(1, 3, 32))
    kw = dict(condition_video_input_mask_B_C_T_H_W=torch.zeros(1, 1, 2, 4, 4), padding_mask=torch.zeros(1, 1, 4, 4))
    with torch.no_grad():
        torch.testing.assert_close(model.net(*args, **kw), plain(*args, **kw))
