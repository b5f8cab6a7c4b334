"""Video2WorldModel end to end on CPU with the tiny DiT and the tiny tokenizer, for every formulation."""

import os

import pytest
import torch

from cosmos_predict2.lazy_config import L
from cosmos_predict2.models.presets import net_kwargs
from cosmos_predict2.pipelines.video2world_model import Video2WorldModel

OBJ = "cosmos_predict2.diffusion.objectives"
SMP = "cosmos_predict2.diffusion.samplers"
FORMULATIONS = {
    "p2": (L(f"{OBJ}.RectifiedFlowEDMObjective")(high_sigma_ratio=0.0), L(f"{SMP}.RectifiedFlowAB2Sampler")(num_steps=4, guidance=0.0)),
    "p25": (L(f"{OBJ}.RectifiedFlowObjective")(shift=5.0), L(f"{SMP}.FlowUniPCSampler")(num_steps=4, guidance=0.0)),
    "p1": (L(f"{OBJ}.EDMObjective")(), L(f"{SMP}.EDMSampler")(num_steps=4, guidance=0.0)),
}
B, T_PIX, HW = 2, 9, 32  # -> latents (2, 16, 3, 4, 4)


def make_config(kind="p25", ema=True, **over):
    objective, sampler = FORMULATIONS[kind]
    net = L("cosmos_predict2.models.dit.MiniTrainDIT")(**net_kwargs("tiny", num_blocks=1, model_channels=32,
                                                                   num_heads=2, adaln_lora_dim=8,
                                                                   timestep_scale=0.001 if kind == "p25" else 1.0))
    cfg = dict(
        net=net,
        tokenizer=L("cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer")(),
        conditioner=L("cosmos_predict2.diffusion.conditioner.VideoConditioner")(
            text_dropout_rate=0.0, use_video_condition_dropout_rate=0.0),
        objective=objective, sampler=sampler,
        ema=dict(enabled=ema, rate=0.10, iteration_shift=0),
        text_encoder=dict(kind="none", embed_dim=32),
        model_manager_config=dict(dit_path="", load_ema_to_reg=False),
        precision="float32", state_t=3, state_ch=16,
        min_num_conditional_frames=1, max_num_conditional_frames=1, conditional_frames_probs=None,
        train_architecture="base", lora_rank=4, lora_alpha=4,
        lora_target_modules="q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2",
        input_video_key="video", input_latent_key="latent",
    )
    cfg.update(over)
    return cfg


def make_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    # a smooth moving pattern so the latents are structured
    t = torch.arange(T_PIX).view(1, 1, T_PIX, 1, 1).float()
    y = torch.linspace(-1, 1, HW).view(1, 1, 1, HW, 1)
    x = torch.linspace(-1, 1, HW).view(1, 1, 1, 1, HW)
    phase = torch.rand(B, 3, 1, 1, 1, generator=g) * 3
    video = torch.sin(3 * x + 2 * y + 0.3 * t + phase) * 0.8
    return {"video": ((video + 1) * 127.5).round().clamp(0, 255).to(torch.uint8),
            "t5_text_embeddings": torch.randn(B, 5, 32, generator=g), "fps": torch.full((B,), 4.0),
            "padding_mask": torch.zeros(B, 1, HW, HW)}


def fixed_loss(model, batch, seeds=(11, 12, 13, 14)):
    vals = []
    with torch.no_grad():
        for s in seeds:
            torch.manual_seed(s)
            vals.append(model.training_step(batch, 0)[0].item())
    return sum(vals) / len(vals)


@pytest.mark.parametrize("kind", ["p2", "p25", "p1"])
def test_training_reduces_loss_on_fixed_batch(kind):
    torch.manual_seed(0)
    model = Video2WorldModel(make_config(kind))
    batch = make_batch()
    batch["latent"] = model.encode(batch["video"])  # cached latents path
    keys = model.state_dict().keys()
    allowed = ("net.", "net_ema.", "logvar.") if kind == "p1" else ("net.", "net_ema.")
    assert all(k.startswith(allowed) for k in keys) and any(k.startswith("net_ema.") for k in keys)
    assert (kind == "p1") == any(k.startswith("logvar.") for k in keys)
    before = fixed_loss(model, batch)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=0.0)
    for it in range(20):
        torch.manual_seed(100 + it)
        loss, out = model.training_step(batch, it)
        assert torch.isfinite(loss) and out["x0"].shape == (B, 16, 3, 4, 4)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.ema_update(it)
    after = fixed_loss(model, batch)
    assert after < 0.75 * before, (before, after)


def test_video_path_equals_cached_latents():
    torch.manual_seed(0)
    model = Video2WorldModel(make_config("p2", ema=False))
    batch = make_batch()
    torch.manual_seed(5)
    l_video = model.training_step(batch, 0)[0]
    torch.manual_seed(5)
    l_latent = model.training_step({**batch, "latent": model.encode(batch["video"])}, 0)[0]
    torch.testing.assert_close(l_video, l_latent)


@pytest.mark.parametrize("kind", ["p2", "p25", "p1"])
def test_generate_keeps_condition_frames_and_is_seeded(kind):
    torch.manual_seed(0)
    model = Video2WorldModel(make_config(kind)).eval()
    batch = make_batch()
    calls = []
    model.net.register_forward_hook(lambda *a: calls.append(1))
    a = model.generate(batch, seed=1, num_conditional_frames=1)
    n_evals = 4 if kind == "p25" else 5  # UniPC: one per step; Karras multistep: + final x0 pass
    assert len(calls) == n_evals
    b = model.generate(batch, seed=1, num_conditional_frames=1)
    c = model.generate(batch, seed=2, num_conditional_frames=1)
    gt = model.encode(batch["video"])
    assert a.shape == gt.shape and torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(a[:, :, :1], gt[:, :, :1], rtol=0, atol=1e-6)
    calls.clear()
    model.generate(batch, seed=1, guidance=2.0)
    assert len(calls) == 2 * n_evals
    assert model.decode(a).shape == batch["video"].shape


def test_predict1_generate_augments_conditioning_frames_with_the_initial_noise(monkeypatch):
    """Upstream Predict1 draws the initial noise and the conditioning-frame augmentation noise with the same
    seed and shape (arch_invariant_rand), and adds sigma 0.001 times it at every step, for both CFG branches."""
    torch.manual_seed(0)
    model = Video2WorldModel(make_config("p1", ema=False)).eval()
    batch = make_batch()
    seen = []
    real = model.objective.denoise

    def spy(*args, **kwargs):
        seen.append(kwargs.get("augment_noise"))
        return real(*args, **kwargs)

    monkeypatch.setattr(model.objective, "denoise", spy)
    a = model.generate(batch, seed=3, guidance=1.0, num_conditional_frames=1)
    expected = torch.randn(a.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)  # the sampler's
    assert len(seen) == 2 * 5 and all(n is not None and torch.equal(n, expected.float()) for n in seen)
    assert model.objective.inference_augment_sigma == 0.001
    monkeypatch.setattr(model.objective, "denoise", real)
    assert torch.equal(a, model.generate(batch, seed=3, guidance=1.0, num_conditional_frames=1))


def test_ema_power_update():
    torch.manual_seed(0)
    model = Video2WorldModel(make_config("p25"))
    assert abs(model.ema.gamma - 6.9372) < 1e-3
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    assert model.ema_update(0) == 0.0  # copy
    for (n, e), p in zip(model.net_ema.named_parameters(), model.net.parameters()):
        assert torch.equal(e, p)
    snap = {n: p.clone() for n, p in model.net_ema.named_parameters()}
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    beta = model.ema_update(5)
    assert abs(beta - (1 - 1 / 6) ** (model.ema.gamma + 1)) < 1e-12
    for (n, e), p in zip(model.net_ema.named_parameters(), model.net.parameters()):
        torch.testing.assert_close(e, beta * snap[n] + (1 - beta) * p)
        assert e.dtype == torch.float32


def test_meta_construction_allocates_nothing_and_keeps_components_real():
    model = Video2WorldModel(make_config("p1", ema=True, train_architecture="lora"), init_device="meta")
    assert all(p.is_meta for p in model.net.parameters()) and all(p.is_meta for p in model.net_ema.parameters())
    assert any(".lora_A." in n for n, _ in model.net.named_parameters())  # adapters built on meta too
    assert not any(p.is_meta for p in model.logvar.parameters())  # the objective's head is real
    eager = Video2WorldModel(make_config("p1", ema=True, train_architecture="lora"))
    assert [(n, p.shape) for n, p in model.named_parameters()] == [(n, p.shape) for n, p in eager.named_parameters()]


def test_lora_architecture_trains_only_adapters():
    torch.manual_seed(0)
    model = Video2WorldModel(make_config("p2", train_architecture="lora"))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert all(not n.startswith("net_ema.") for n in trainable)
    assert any("lora_A" in k for k in model.state_dict() if k.startswith("net_ema."))
    batch = make_batch()
    loss, _ = model.training_step(batch, 0)
    loss.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)


def test_config_errors():
    with pytest.raises(ValueError, match="state_t"):
        Video2WorldModel(make_config("p25", state_t=5)).training_step(make_batch(), 0)
    with pytest.raises(ValueError, match="sampler"):
        Video2WorldModel(make_config("p25", sampler=FORMULATIONS["p2"][1]))
    with pytest.raises(ValueError, match="train_architecture"):
        Video2WorldModel(make_config("p25", train_architecture="full"))
    model = Video2WorldModel(make_config("p25"))
    with pytest.raises(ValueError, match="video"):
        model.training_step({"t5_text_embeddings": torch.zeros(B, 1, 32)}, 0)
    assert model.precision_dtype == torch.float32
    assert not os.path.exists("nope")
