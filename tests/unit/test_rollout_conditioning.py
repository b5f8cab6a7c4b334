"""OwnRolloutConditioning: two-chunk windows, the conditioning frame it builds against the inference rollout's
own chunk generation, ground-truth clips before ``start_iteration``, and its use by Video2WorldModel."""

from __future__ import annotations

import pytest
import torch

from cosmos_predict2.data.bridge import BridgeActionDataset
from cosmos_predict2.diffusion.rollout_conditioning import OwnRolloutConditioning, split_two_chunk_window
from cosmos_predict2.inference.action_rollout import generate_chunk
from cosmos_predict2.inference.loading import build_inference_model
from cosmos_predict2.tokenizers.common import video_to_uint8
from tests.data_fixtures import bridge_dir

B, H, W = 3, 64, 80


@pytest.fixture(scope="module")
def model():
    m, _ = build_inference_model("tiny_action_conditioned_bridge", None, allow_random=True, device="cpu",
                                 overrides=["model.config.precision=float32"])
    return m


def two_chunk_batch(seed=0, n=12):
    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 256, (B, 3, 2 * n + 1, H, W), generator=g, dtype=torch.uint8)
    action = torch.randn(B, 2 * n, 7, generator=g)
    return {"video": video, "action": action, "fps": torch.full((B,), 4.0), "padding_mask": torch.zeros(B, 1, H, W),
            "num_frames": torch.full((B,), 2 * n + 1), "__key__": [f"ep{i}" for i in range(B)]}


def test_split_two_chunk_window():
    video = torch.arange(25).view(1, 1, 25, 1, 1).expand(2, 3, 25, 4, 4)
    action = torch.arange(24.0).view(1, 24, 1).expand(2, 24, 7)
    (v1, a1), (v2, a2) = split_two_chunk_window(video, action, 12)
    assert v1[0, 0, :, 0, 0].tolist() == list(range(13)) and v2[0, 0, :, 0, 0].tolist() == list(range(12, 25))
    assert a1[0, :, 0].tolist() == list(range(12)) and a2[0, :, 0].tolist() == list(range(12, 24))
    with pytest.raises(ValueError, match="dataloader_train.dataset.num_frames=25"):
        split_two_chunk_window(video[:, :, :13], action[:, :12], 12)


def test_second_chunk_of_a_window_is_the_single_chunk_window_it_overlaps():
    """Chunk 2 of the window at frame s is exactly the one-chunk training sample at frame s + n (same frames,
    same actions), so both chunks are ordinary training clips."""
    n = 5
    two = BridgeActionDataset(bridge_dir(), mode="train", num_frames=2 * n + 1, video_size=[32, 48])
    one = BridgeActionDataset(bridge_dir(), mode="train", num_frames=n + 1, video_size=[32, 48])
    index_of = {s: i for i, s in enumerate(one.samples)}
    for i in (0, 3, len(two) - 1):
        ep, start = two.samples[i]
        w = two[i]
        (v1, a1), (v2, a2) = split_two_chunk_window(w["video"][None], w["action"][None], n)
        first, second = one[index_of[(ep, start)]], one[index_of[(ep, start + n)]]
        torch.testing.assert_close(v1[0], first["video"], rtol=0, atol=0)
        torch.testing.assert_close(v2[0], second["video"], rtol=0, atol=0)
        torch.testing.assert_close(a1[0], first["action"], rtol=0, atol=1e-6)
        torch.testing.assert_close(a2[0], second["action"], rtol=0, atol=1e-6)


def test_conditioning_frame_is_the_rollouts_last_generated_frame(model):
    batch = two_chunk_batch()
    out, draw = OwnRolloutConditioning(prob=1.0)(model, batch, iteration=0, generator=torch.Generator().manual_seed(4))
    assert draw.own_B.all() and draw.second_B.all()
    (_, _), (video2, action2) = split_two_chunk_window(batch["video"], batch["action"], 12)
    torch.testing.assert_close(out["video"], video2, rtol=0, atol=0)
    torch.testing.assert_close(out["action"], action2, rtol=0, atol=0)
    assert out["num_frames"].tolist() == [13] * B and out["__key__"] == batch["__key__"]
    gt = model.encode(video2)  # (B, C, 4, h, w)
    torch.testing.assert_close(out["latent"][:, :, 1:], gt[:, :, 1:], rtol=0, atol=0)  # targets stay ground truth
    assert (out["latent"][:, :, 0] - gt[:, :, 0]).abs().mean() > 0.1  # frame 0: the prediction, not the GT
    # sample 0 (first in the batch: same noise as a batch of one) against the inference rollout's first chunk
    frames = generate_chunk(model, batch["video"][0, :, 0].permute(1, 2, 0).numpy(), batch["action"][0, :12].numpy(),
                            seed=draw.seed)  # uint8 (13, H, W, 3)
    last = torch.from_numpy(frames[-1]).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1.0  # (1, 3, 1, H, W)
    torch.testing.assert_close(out["latent"][:1, :, :1], model.encode(last), rtol=0, atol=2e-2)


def test_ground_truth_clips_before_start_iteration(model):
    batch = two_chunk_batch(seed=1)
    rc = OwnRolloutConditioning(prob=1.0, start_iteration=100)
    out, draw = rc(model, batch, iteration=99, generator=torch.Generator().manual_seed(0))
    assert not draw.own_B.any()
    (v1, a1), (v2, a2) = split_two_chunk_window(batch["video"], batch["action"], 12)
    for i in range(B):
        second = bool(draw.second_B[i])
        torch.testing.assert_close(out["video"][i], (v2 if second else v1)[i], rtol=0, atol=0)
        torch.testing.assert_close(out["action"][i], (a2 if second else a1)[i], rtol=0, atol=0)
    torch.testing.assert_close(out["latent"], model.encode(out["video"]), rtol=0, atol=0)
    # both chunks are drawn over many samples; the same generator seed draws the same choice
    draws = [rc(model, two_chunk_batch(seed=s), 99, torch.Generator().manual_seed(s))[1].second_B for s in range(6)]
    assert 0 < int(torch.cat(draws).sum()) < 6 * B
    again = rc(model, batch, 99, torch.Generator().manual_seed(0))[1]
    assert torch.equal(again.second_B, draw.second_B)


def test_video_to_uint8():
    x = torch.tensor([-1.5, -1.0, 0.0, 0.004, 1.0, 2.0])
    levels = video_to_uint8(x)
    assert levels.dtype == torch.uint8
    torch.testing.assert_close(levels.float(), torch.tensor([0.0, 0.0, 128.0, 128.0, 255.0, 255.0]), rtol=0, atol=1e-4)


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="prob=1.5"):
        OwnRolloutConditioning(prob=1.5)
    with pytest.raises(ValueError, match="start_iteration=-1"):
        OwnRolloutConditioning(start_iteration=-1)
    with pytest.raises(ValueError, match="num_steps=0"):
        OwnRolloutConditioning(num_steps=0)


def test_model_uses_it_in_training_only(model):
    assert model.rollout_conditioning is None  # off in the recipe (BENCHMARKS.md section 1)
    model.rollout_conditioning = OwnRolloutConditioning(prob=1.0)
    try:
        batch = two_chunk_batch(seed=2)
        loss, out = model.training_step(batch, 0, torch.Generator().manual_seed(0))
        loss.backward()
        assert torch.isfinite(loss) and float(out["own_rollout_fraction"]) == 1.0
        assert out["x0"].shape[2] == 4  # one 13-frame chunk
        grads = [p.grad for p in model.net.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        model.net.zero_grad(set_to_none=True)
        (v1, a1), _ = split_two_chunk_window(batch["video"], batch["action"], 12)
        one_chunk = {**batch, "video": v1, "action": a1}
        vloss, vout = model.validation_step(one_chunk, 0, torch.Generator().manual_seed(0))
        assert torch.isfinite(vloss) and "own_rollout_fraction" not in vout
        with pytest.raises(ValueError, match="num_frames=25"):
            model.training_step(one_chunk, 0)
    finally:
        model.rollout_conditioning = None
