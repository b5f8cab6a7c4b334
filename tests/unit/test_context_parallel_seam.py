"""The nets' frame-sharding seam (models/frame_sharding.py) and the loud failures of parallel/context_parallel.py
when a net lacks it or its forward bypasses it (the numerics on 2 and 4 ranks: tests/distributed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.general_dit import ActionConditionalVideoExtendGeneralDIT
from cosmos_predict2.parallel.context_parallel import UlyssesAttention, apply_context_parallel

TINY_P2 = dict(max_img_h=32, max_img_w=32, max_frames=8, model_channels=32, num_blocks=2, num_heads=2,
               crossattn_emb_channels=16, adaln_lora_dim=8)
TINY_P1 = dict(max_img_h=32, max_img_w=32, max_frames=8, model_channels=32, num_blocks=2, num_heads=2,
               crossattn_emb_channels=16, adaln_lora_dim=8, block_config="FA-CA-MLP-FA")


class RecordingSharding:
    """A one-rank plan: records what the net splits and gathers, changes nothing."""

    def __init__(self) -> None:
        self.split_calls: list[tuple[tuple, int]] = []
        self.gather_calls: list[tuple[tuple, int]] = []
        self.wrapped: list[nn.Module] = []

    def split(self, x, dim):
        self.split_calls.append((tuple(x.shape), dim))
        return x

    def gather(self, x, dim):
        self.gather_calls.append((tuple(x.shape), dim))
        return x

    def wrap_self_attention(self, op):
        self.wrapped.append(op)
        return op


def _inputs(T: int = 4):
    g = torch.Generator().manual_seed(0)
    return dict(x_B_C_T_H_W=torch.randn(2, 16, T, 8, 8, generator=g), timesteps_B_T=torch.rand(2, T, generator=g),
                crossattn_emb_B_N_D=torch.randn(2, 3, 16, generator=g))


def test_context_parallel_refuses_a_net_without_the_seam():
    with pytest.raises(TypeError, match="Sequential has no frame-sharding seam .* would run unsharded"):
        apply_context_parallel(nn.Sequential(nn.Linear(4, 4)), None, 2, 0)
    assert apply_context_parallel(nn.Linear(4, 4), None, 1, 0) is not None  # cp 1: nothing to install


def test_forward_that_bypasses_the_seam_fails_loudly():
    class Unsharded(MiniTrainDIT):
        def forward(self, x_B_C_T_H_W, *args, **kwargs):
            return x_B_C_T_H_W

    net = apply_context_parallel(Unsharded(**TINY_P2), None, 2, 0)
    assert all(isinstance(b.self_attn.attn_op, UlyssesAttention) for b in net.blocks)
    with pytest.raises(RuntimeError, match=r"Unsharded.forward ran without splitting its frames .*splits 0, gathers 0"):
        net(**_inputs())
    with pytest.raises(RuntimeError, match="already installed"):
        apply_context_parallel(net, None, 2, 0)


def test_p2_net_splits_every_per_frame_input_along_its_frames():
    torch.manual_seed(0)
    net = MiniTrainDIT(**TINY_P2, extra_per_block_abs_pos_emb=True)
    plan, B, T, L, D, K = RecordingSharding(), 2, 4, 16, 32, 16
    ref = net(**_inputs(T))
    net.shard_frames(plan)
    torch.testing.assert_close(net(**_inputs(T)), ref, rtol=0, atol=0)
    assert plan.wrapped == [b.self_attn.attn_op for b in net.blocks]
    assert plan.split_calls == [((B, T, L, D), 1), ((T * L, 1, K), 0), ((T * L, 1, K), 0),  # x, RoPE cos / sin
                                ((B, T, D), 1), ((B, T, 3 * D), 1), ((T, L, D), 0)]  # emb, AdaLN-LoRA, abs pos
    assert plan.gather_calls == [((B, T, L, 2 * 2 * 16), 1)]


def test_p2_net_keeps_inputs_broadcast_over_frames_whole():
    net, plan = MiniTrainDIT(**TINY_P2), RecordingSharding()
    net.shard_frames(plan)
    inp = _inputs()
    net(**dict(inp, timesteps_B_T=inp["timesteps_B_T"][:, 0]))  # one timestep per sample: (B, 1, D) embeddings
    assert [dim for _, dim in plan.split_calls] == [1, 0, 0]  # x and the RoPE tables only


def test_p1_net_splits_tokens_and_wraps_every_self_attention():
    torch.manual_seed(0)
    net, plan = ActionConditionalVideoExtendGeneralDIT(**TINY_P1), RecordingSharding()
    inp = _inputs(2)
    inp = dict(inp, timesteps_B_T=inp["timesteps_B_T"][:, 0], fps=torch.full((2,), 4.0), action=torch.randn(2, 1, 7))
    ref = net(**inp)
    net.shard_frames(plan)
    torch.testing.assert_close(net(**inp), ref, rtol=0, atol=0)
    self_attn = [m.block.attn for b in net.blocks for m in b.blocks if m.block_type == "fa"]
    assert len(self_attn) == 4 and plan.wrapped == [a.attn_op for a in self_attn]  # both FA layers of each block
    assert plan.split_calls == [((2, 2, 16, 32), 1), ((32, 1, 16), 0), ((32, 1, 16), 0)]
    assert plan.gather_calls == [((2, 2, 16, 64), 1)]
