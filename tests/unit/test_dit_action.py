"""Action-conditioned DiTs: checkpoint compatibility with the base net and where actions enter."""

import math

import pytest
import torch

from cosmos_predict2.models.action_dit import (
    ActionChunkConditionedMinimalV1LVGDiT,
    ActionConditionedMinimalV1LVGDiT,
    SingleActionConditionedDiT,
)
from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.presets import net_kwargs

ACTION_KEYS = sorted(
    f"action_embedder_{path}.{fc}.{kind}" for path in ("B_D", "B_3D") for fc in ("fc1", "fc2") for kind in ("weight", "bias")
)


def _batch(B=2, T=4, H=4, W=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 16, T, H, W, generator=g)
    t = torch.rand(B, T, generator=g)
    ctx = torch.randn(B, 3, 32, generator=g)
    cond = torch.zeros(B, 1, T, H, W)
    cond[:, :, 0] = 1.0
    return x, t, ctx, cond


def _nontrivial(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "adaln_modulation" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return net


@pytest.mark.parametrize(
    "cls", [ActionConditionedMinimalV1LVGDiT, ActionChunkConditionedMinimalV1LVGDiT, SingleActionConditionedDiT]
)
def test_base_state_dict_loads_with_only_action_keys_missing(cls):
    base = MiniTrainDIT(**net_kwargs("tiny"))
    net = cls(**net_kwargs("tiny"))
    result = net.load_state_dict(base.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ACTION_KEYS
    assert result.unexpected_keys == []


def test_action_embedder_shapes():
    D = 64
    clip = ActionConditionedMinimalV1LVGDiT(**net_kwargs("tiny")).state_dict()
    assert clip["action_embedder_B_D.fc1.weight"].shape == (4 * D, 84)
    assert clip["action_embedder_B_D.fc2.weight"].shape == (D, 4 * D)
    assert clip["action_embedder_B_3D.fc2.weight"].shape == (3 * D, 4 * D)
    chunk = ActionChunkConditionedMinimalV1LVGDiT(**net_kwargs("tiny")).state_dict()
    assert chunk["action_embedder_B_D.fc1.weight"].shape == (4 * D, 28)
    single = SingleActionConditionedDiT(**net_kwargs("tiny")).state_dict()
    assert single["action_embedder_B_3D.fc1.weight"].shape == (4 * D, 7)


def test_clip_action_enters_before_t_norm_and_into_adaln_lora():
    """Reference: the base net with a forward hook adding the two action embeddings to the t-embedder output."""
    torch.manual_seed(0)
    net = _nontrivial(ActionConditionedMinimalV1LVGDiT(**net_kwargs("tiny", crossattn_emb_channels=32))).eval()
    base = MiniTrainDIT(**net_kwargs("tiny", crossattn_emb_channels=32)).eval()
    base.load_state_dict(net.state_dict(), strict=False)
    x, t, ctx, cond = _batch()
    action = torch.randn(2, 12, 7)
    with torch.no_grad():
        a = action.reshape(2, 1, 84)
        add_D, add_3D = net.action_embedder_B_D(a), net.action_embedder_B_3D(a)

        def hook(_module, _inputs, output):
            emb, lora = output
            return emb + add_D, lora + add_3D

        handle = base.t_embedder[1].register_forward_hook(hook)
        expected = base(x, t, ctx, cond)
        handle.remove()
        got = net(x, t, ctx, cond, action=action)
        plain = base(x, t, ctx, cond)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (got - plain).abs().max() > 1e-4  # the action does change the prediction


def test_chunk_action_per_latent_frame_and_masked_on_conditioning_frames():
    torch.manual_seed(0)
    net = ActionChunkConditionedMinimalV1LVGDiT(**net_kwargs("tiny", crossattn_emb_channels=32)).eval()
    action = torch.randn(2, 12, 7)
    cond_mask_B_T = torch.tensor([[1.0, 0, 0, 0], [1.0, 1.0, 0, 0]])
    with torch.no_grad():
        emb_D, emb_3D = net._extra_embeddings(action, cond_mask_B_T, 4, torch.float32)
        assert emb_D.shape == (2, 4, 64) and emb_3D.shape == (2, 4, 192)
        assert torch.all(emb_D[:, 0] == 0) and torch.all(emb_3D[:, 0] == 0)  # frame 0: zero embedding
        assert torch.all(emb_D[1, 1] == 0)  # sample 1 conditions on 2 frames: no action on frame 1
        for k in range(3):  # frame k+1 gets actions 4k..4k+3 (4 x 7 = 28 values)
            chunk = action[0, 4 * k: 4 * k + 4].reshape(28)
            torch.testing.assert_close(emb_D[0, k + 1], net.action_embedder_B_D(chunk))
            torch.testing.assert_close(emb_3D[0, k + 1], net.action_embedder_B_3D(chunk))
    x, t, ctx, cond = _batch()
    out = net(x, t, ctx, cond, action=action)
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="actions of dim 7"):
        net(x, t, ctx, cond, action=torch.randn(2, 8, 7))  # 8 actions do not fit 3 latent frames x 4


def test_single_action_uses_both_paths():
    """Upstream P1 drops the D-path by accident; here a net with a dead 3D path still reacts to the action."""
    torch.manual_seed(0)
    # non-zero AdaLN output layers: at init they are zero, which hides the D-path by construction
    net = _nontrivial(SingleActionConditionedDiT(**net_kwargs("tiny", crossattn_emb_channels=32))).eval()
    with torch.no_grad():
        net.action_embedder_B_3D.fc2.weight.zero_()
        net.action_embedder_B_3D.fc2.bias.zero_()
    x, t, ctx, cond = _batch()
    with torch.no_grad():
        out_a = net(x, t, ctx, cond, action=torch.randn(2, 7))
        out_b = net(x, t, ctx, cond, action=torch.randn(2, 1, 7))
    assert (out_a - out_b).abs().max() > 1e-4


def test_missing_action_is_a_clear_error():
    net = ActionConditionedMinimalV1LVGDiT(**net_kwargs("tiny", crossattn_emb_channels=32))
    x, t, ctx, cond = _batch()
    with pytest.raises(ValueError, match="needs `action`"):
        net(x, t, ctx, cond)
    with pytest.raises(ValueError, match="takes no `action`"):
        MiniTrainDIT(**net_kwargs("tiny"))(x, t, ctx, cond, action=torch.zeros(2, 12, 7))


def test_cumulative_fourier_features_match_a_float64_loop():
    from cosmos_predict2.models.action_features import action_step_features, features_per_step

    periods = (24.0, 6.0)
    action = torch.randn(2, 12, 7, dtype=torch.float64)
    feats = action_step_features(action, "cumulative_fourier", periods)
    assert feats.shape == (2, 12, features_per_step("cumulative_fourier", 7, periods)) == (2, 12, 7 + 6 + 12)
    for b in range(2):
        pose = [0.0] * 6
        for n in range(12):
            pose = [p + float(action[b, n, i]) for i, p in enumerate(pose)]  # running sum since the clip start
            phases = [2 * math.pi / period * pose[i] for i in range(3) for period in periods]
            want = [*action[b, n].tolist(), *pose, *map(math.sin, phases), *map(math.cos, phases)]
            torch.testing.assert_close(feats[b, n], torch.tensor(want, dtype=torch.float64))
    assert action_step_features(action, "raw") is action
    with pytest.raises(ValueError, match="action_features must be one of"):
        features_per_step("cumsum", 7)


def test_chunk_net_with_cumulative_features_embeds_each_frame_from_the_whole_clip_so_far():
    torch.manual_seed(0)
    net = ActionChunkConditionedMinimalV1LVGDiT(**net_kwargs("tiny", crossattn_emb_channels=32),
                                                action_features="cumulative_fourier").eval()
    assert net.action_embedder_B_D.fc1.weight.shape[1] == 4 * (7 + 6 + 24)
    action = torch.randn(2, 12, 7)
    changed = action.clone()
    changed[:, 1] += 1.0  # a step inside latent frame 1 moves every later pose
    cond_mask_B_T = torch.tensor([[1.0, 0, 0, 0]] * 2)
    with torch.no_grad():
        emb, _ = net._extra_embeddings(action, cond_mask_B_T, 4, torch.float32)
        emb2, _ = net._extra_embeddings(changed, cond_mask_B_T, 4, torch.float32)
    assert torch.all(emb[:, 0] == 0)
    assert ((emb2 - emb)[:, 1:].abs().amax(-1) > 1e-4).all()  # frames 1, 2 and 3 all see it
    x, t, ctx, cond = _batch()
    assert net(x, t, ctx, cond, action=action).shape == x.shape
    with pytest.raises(ValueError, match="actions of dim 7"):
        net(x, t, ctx, cond, action=torch.randn(2, 12, 6))
    for bad in ([], [12.0, 0.0]):  # an empty list must not fall back to the defaults silently
        with pytest.raises(ValueError, match="action_fourier_periods must be one or more positive"):
            ActionChunkConditionedMinimalV1LVGDiT(**net_kwargs("tiny"), action_features="cumulative_fourier",
                                                  action_fourier_periods=bad)


def test_clip_net_rejects_chunk_only_action_features_clearly():
    with pytest.raises(ValueError, match="action_features=raw"):
        ActionConditionedMinimalV1LVGDiT(**net_kwargs("tiny"), action_features="cumulative_fourier")


@pytest.mark.parametrize("width", [10, 20])
def test_every_action_net_takes_any_action_width(width):
    """The data's action width (e.g. single-arm 10-d, dual-arm 20-d) sizes the embedders of all three variants;
    each action value reaches the output, and the old width is a clear error."""
    D = 64
    kw = net_kwargs("tiny", crossattn_emb_channels=32)
    x, t, ctx, cond = _batch()
    nets = {"clip": (ActionConditionedMinimalV1LVGDiT(action_dim=width, **kw), (2, 12, width), 12 * width),
            "chunk": (ActionChunkConditionedMinimalV1LVGDiT(action_dim=width, **kw), (2, 12, width), 4 * width),
            "single": (SingleActionConditionedDiT(action_dim=width, **kw), (2, width), width)}
    for name, (net, shape, fan_in) in nets.items():
        assert net.state_dict()["action_embedder_B_D.fc1.weight"].shape == (4 * D, fan_in), name
        net = _nontrivial(net).eval()
        a = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        b = a.clone()
        b[..., width - 1] += 1.0  # only the last action dimension changes
        with torch.no_grad():
            assert (net(x, t, ctx, cond, action=a) - net(x, t, ctx, cond, action=b)).abs().max() > 1e-5, name
        with pytest.raises(ValueError):
            net(x, t, ctx, cond, action=torch.randn(*shape[:-1], 7))
