"""VideoConditioner: masks, frame-count sampling, dropout statistics, inference variants, errors."""

import pytest
import torch

from cosmos_predict2.diffusion.conditioner import VideoConditioner

B, T = 4, 5


def _batch(B=B, action=False):
    b = {"t5_text_embeddings": torch.randn(B, 6, 8) + 3.0, "fps": torch.full((B,), 16.0),
         "padding_mask": torch.zeros(B, 1, 16, 16)}
    if action:
        b["action"] = torch.randn(B, 12, 7)
    return b


def test_mask_and_net_kwargs():
    x = torch.randn(B, 16, T, 2, 2)
    cond = VideoConditioner(text_dropout_rate=0.0)(_batch(), x, num_conditional_frames=2)
    assert cond.condition_mask_B_1_T_1_1.shape == (B, 1, T, 1, 1)
    assert cond.condition_mask_B_1_T_1_1[:, 0, :, 0, 0].tolist() == [[1, 1, 0, 0, 0]] * B
    torch.testing.assert_close(cond.condition_state_B_C_T_H_W, x * cond.condition_mask_B_1_T_1_1)
    kw = cond.net_kwargs(2, 2, torch.float32)
    assert kw["condition_video_input_mask_B_C_T_H_W"].shape == (B, 1, T, 2, 2)
    assert "action" not in kw and kw["crossattn_emb_B_N_D"].shape == (B, 6, 8)
    cond = VideoConditioner(use_action=True)(_batch(action=True), x, num_conditional_frames=1, training=False)
    assert cond.net_kwargs(2, 2, torch.float32)["action"].shape == (B, 12, 7)


def test_num_conditional_frames_sampling():
    g = torch.Generator().manual_seed(0)
    n = VideoConditioner.sample_num_conditional_frames(4000, 1, 2, generator=g)
    assert set(n.tolist()) == {1, 2} and abs(n.float().mean().item() - 1.5) < 0.05
    n = VideoConditioner.sample_num_conditional_frames(4000, 0, 0, {0: 0.5, 1: 0.25, 2: 0.25}, generator=g)
    freq = torch.bincount(n, minlength=3).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.5, 0.25, 0.25]), atol=0.03)
    x = torch.randn(B, 16, T, 2, 2)
    cond = VideoConditioner()(_batch(), x, min_num_conditional_frames=1, max_num_conditional_frames=3,
                              generator=torch.Generator().manual_seed(1))
    per_sample = cond.condition_mask_B_1_T_1_1.sum(dim=(1, 2, 3, 4))
    assert torch.equal(per_sample.long(), cond.num_conditional_frames_B)
    with pytest.raises(ValueError, match="conditional latent frames"):
        VideoConditioner()(_batch(), x, num_conditional_frames=T + 1)
    with pytest.raises(ValueError, match="min_num_conditional_frames"):
        VideoConditioner.sample_num_conditional_frames(2, 3, 1)


def test_dropout_rates_and_inference():
    n = 4000
    x = torch.randn(n, 16, 2, 1, 1)
    conditioner = VideoConditioner(text_dropout_rate=0.2, use_video_condition_dropout_rate=0.3)
    cond = conditioner(_batch(n), x, num_conditional_frames=1, generator=torch.Generator().manual_seed(0))
    dropped_text = (cond.crossattn_emb_B_N_D.abs().sum(dim=(1, 2)) == 0).float().mean().item()
    assert abs(dropped_text - 0.2) < 0.03
    assert abs((~cond.use_video_condition_B).float().mean().item() - 0.3) < 0.03
    state = cond.condition_state_B_C_T_H_W
    assert torch.all(state[~cond.use_video_condition_B] == 0)
    assert torch.equal(cond.condition_mask_B_1_T_1_1[:, 0, :, 0, 0].sum(1), torch.ones(n))  # mask kept
    # inference: no dropout; uncond drops text only
    b = _batch()
    c, u = conditioner.for_inference(b, x[:B], num_conditional_frames=1)
    assert torch.equal(c.crossattn_emb_B_N_D, b["t5_text_embeddings"]) and torch.all(u.crossattn_emb_B_N_D == 0)
    assert torch.equal(u.condition_state_B_C_T_H_W, c.condition_state_B_C_T_H_W)
    assert c.use_video_condition_B.all()
    neg = torch.full((6, 8), 0.5)
    _, u = conditioner.for_inference(b, x[:B], 1, negative_text_embeddings=neg)
    assert torch.all(u.crossattn_emb_B_N_D == 0.5)
    empty = torch.full((6, 8), -1.0)
    c2 = VideoConditioner(text_dropout_rate=1.0, use_empty_string=True, empty_string_embedding=empty)(b, x[:B], num_conditional_frames=1)
    assert torch.all(c2.crossattn_emb_B_N_D == -1.0)


def test_errors():
    x = torch.randn(B, 16, T, 2, 2)
    with pytest.raises(ValueError, match="t5_text_embeddings"):
        VideoConditioner()({}, x)
    with pytest.raises(ValueError, match="action"):
        VideoConditioner(use_action=True)(_batch(), x, num_conditional_frames=1)
    with pytest.raises(ValueError, match="empty-string"):
        VideoConditioner(text_dropout_rate=1.0, use_empty_string=True)(_batch(), x, num_conditional_frames=1)
    with pytest.raises(ValueError, match="text_dropout_rate"):
        VideoConditioner(text_dropout_rate=1.5)


def test_all_zero_text_becomes_one_token_with_the_same_net_output():
    from cosmos_predict2.models.dit import MiniTrainDIT
    from cosmos_predict2.models.presets import net_kwargs

    x = torch.randn(2, 16, 3, 4, 4)
    zero_text = {"t5_text_embeddings": torch.zeros(2, 512, 32)}
    cond = VideoConditioner(text_dropout_rate=0.0)(zero_text, x, num_conditional_frames=1, training=False)
    assert cond.crossattn_emb_B_N_D.shape == (2, 1, 32)
    some_text = {"t5_text_embeddings": torch.zeros(2, 512, 32)}
    some_text["t5_text_embeddings"][1, 3, 0] = 1.0  # one non-zero value anywhere keeps every token
    cond_text = VideoConditioner(text_dropout_rate=0.0)(some_text, x, num_conditional_frames=1, training=False)
    assert cond_text.crossattn_emb_B_N_D.shape == (2, 512, 32)

    # why collapsing is exact: cross-attention over N copies of one token equals attention over that token
    torch.manual_seed(0)
    net = MiniTrainDIT(**net_kwargs("tiny")).eval()
    token = torch.randn(2, 1, 32)
    with torch.no_grad():
        t = torch.rand(2, 3)
        torch.testing.assert_close(net(x, t, token), net(x, t, token.expand(2, 512, 32)), rtol=1e-4, atol=1e-5)
