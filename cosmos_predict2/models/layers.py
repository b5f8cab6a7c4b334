"""Building blocks of the video DiT: norms, RoPE, timestep embedding, patch embedding, attention, MLP.

Module and parameter names follow the released Cosmos-Predict2 checkpoints (see models/key_maps.py for
where that list comes from). Nothing here registers buffers: RoPE tables are computed on the fly, so
the state dict holds parameters only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cosmos_predict2.models.attention import Attention


def trunc_normal_fan_in_(weight: torch.Tensor, fan_in: int) -> None:
    """Truncated normal, std 1/sqrt(fan_in), cut at +-3 std (the upstream init for every Linear)."""
    std = 1.0 / math.sqrt(fan_in)
    nn.init.trunc_normal_(weight, std=std, a=-3 * std, b=3 * std)


class RMSNorm(nn.Module):
    """RMSNorm over the last dim with a learnable scale `weight` (ones at init); stats in float32."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32 and self.weight.dtype == torch.float32:
            return F.rms_norm(x, (self.dim,), self.weight, self.eps)
        # low precision: statistics and scale in float32, result in x's dtype
        return F.rms_norm(x.float(), (self.dim,), self.weight.float(), self.eps).to(x.dtype)


class Mlp(nn.Module):
    """fc1 -> GELU(tanh) -> fc2, with biases (the action-embedder MLP; names fc1/fc2 as upstream)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class CrossAttnProjection(nn.Sequential):
    """Linear(in -> context dim, bias) + GELU over the text embedding (P2.5 ``crossattn_proj``; keys ``0.*``)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(nn.Linear(in_features, out_features, bias=True), nn.GELU())
        self.init_weights()

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self[0].weight, self[0].in_features)
        nn.init.zeros_(self[0].bias)


class GPT2FeedForward(nn.Module):
    """layer1 (D -> hidden) -> GELU -> layer2 (hidden -> D), no biases."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(dim, hidden_dim, bias=False)
        self.activation = nn.GELU()
        self.layer2 = nn.Linear(hidden_dim, dim, bias=False)
        self.init_weights()

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.layer1.weight, self.layer1.in_features)
        trunc_normal_fan_in_(self.layer2.weight, self.layer2.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.activation(self.layer1(x)))


# ----------------------------------------------------------------------------------------------- RoPE
def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Split of the head dim over (t, h, w): dim_h = dim_w = head_dim // 6 * 2, dim_t = the rest."""
    dim_h = head_dim // 6 * 2
    dim_t = head_dim - 2 * dim_h
    return dim_t, dim_h, dim_h


def rope3d_cos_sin(
    T: int, H: int, W: int, head_dim: int, ratios_thw: tuple[float, float, float], device: torch.device,
    t_scale: float | torch.Tensor = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos / sin tables of the 3D RoPE, each (T*H*W, 1, head_dim) in float32.

    Per axis with `dim` channels: theta = 10000 * ratio ** (dim / (dim - 2)) (NTK extrapolation),
    inverse frequencies 1 / theta ** (arange(0, dim, 2) / dim), integer positions. The angle vector of a
    token is cat([t, h, w] * 2) (rotate-half layout), matching the released checkpoints.
    ``t_scale`` multiplies the temporal positions (a float or a 0-d tensor; Predict1 uses base_fps / fps).
    """
    dims = rope_axis_dims(head_dim)
    angles = []
    for axis, (length, dim, ratio) in enumerate(zip((T, H, W), dims, ratios_thw)):
        theta = 10000.0 * float(ratio) ** (dim / (dim - 2))
        inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float64)[: dim // 2] / dim)
        pos = torch.arange(length, device=device, dtype=torch.float64)
        if axis == 0 and not (isinstance(t_scale, (int, float)) and t_scale == 1):
            pos = pos * (t_scale.to(device=device, dtype=torch.float64) if torch.is_tensor(t_scale) else float(t_scale))
        angles.append(torch.outer(pos, inv_freq).float())  # (length, dim/2)
    ang_t, ang_h, ang_w = angles
    half = head_dim // 2
    ang_T_H_W_half = torch.cat(
        [
            ang_t[:, None, None, :].expand(T, H, W, -1),
            ang_h[None, :, None, :].expand(T, H, W, -1),
            ang_w[None, None, :, :].expand(T, H, W, -1),
        ],
        dim=-1,
    )  # (T, H, W, head_dim/2)
    ang_L_1_D = torch.cat([ang_T_H_W_half, ang_T_H_W_half], dim=-1).reshape(T * H * W, 1, 2 * half)
    return ang_L_1_D.cos(), ang_L_1_D.sin()


def apply_rope(x_B_S_H_D: torch.Tensor, cos_S_1_D: torch.Tensor, sin_S_1_D: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_half(x) * sin, computed in float32, returned in x's dtype."""
    x = x_B_S_H_D.float()
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x * cos_S_1_D + rotated * sin_S_1_D).to(x_B_S_H_D.dtype)


# -------------------------------------------------------------------------------------------- embedders
def timestep_sinusoid(timesteps_B_T: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, T) -> (B, T, dim) float32 [cos | sin] with frequencies exp(-ln(10000) * i / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timesteps_B_T.device) / half
    )
    args_B_T_half = timesteps_B_T.float()[..., None] * freqs
    return torch.cat([args_B_T_half.cos(), args_B_T_half.sin()], dim=-1)


class Timesteps(nn.Module):
    """Parameter-free sinusoidal embedding (index 0 of `t_embedder`)."""

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.num_channels = num_channels

    def forward(self, timesteps_B_T: torch.Tensor) -> torch.Tensor:
        return timestep_sinusoid(timesteps_B_T, self.num_channels)


class TimestepEmbedding(nn.Module):
    """linear_1 (D->D, bias = not adaln_lora) -> SiLU -> linear_2 (D -> 3D with AdaLN-LoRA, else D).

    With AdaLN-LoRA it returns (the raw sinusoid, the 3D LoRA vector); otherwise (embedding, None).
    """

    def __init__(self, dim: int, use_adaln_lora: bool) -> None:
        super().__init__()
        self.use_adaln_lora = use_adaln_lora
        self.linear_1 = nn.Linear(dim, dim, bias=not use_adaln_lora)
        self.activation = nn.SiLU()
        self.linear_2 = nn.Linear(dim, 3 * dim if use_adaln_lora else dim, bias=False)
        self.init_weights()

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.linear_1.weight, self.linear_1.in_features)
        trunc_normal_fan_in_(self.linear_2.weight, self.linear_2.in_features)
        if self.linear_1.bias is not None:
            nn.init.zeros_(self.linear_1.bias)

    def forward(self, sample_B_T_D: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        emb = self.linear_2(self.activation(self.linear_1(sample_B_T_D)))
        if self.use_adaln_lora:
            return sample_B_T_D, emb
        return emb, None


class PatchEmbed(nn.Module):
    """`b c (t r) (h m) (w n) -> b t h w (c r m n)` then Linear(no bias). The Linear is `proj.1`."""

    def __init__(self, in_channels: int, dim: int, patch_spatial: int, patch_temporal: int) -> None:
        super().__init__()
        self.patch_spatial = patch_spatial
        self.patch_temporal = patch_temporal
        in_features = in_channels * patch_spatial * patch_spatial * patch_temporal
        # index 0 is the (parameter-free) rearrange, kept so the Linear is named `proj.1` as released.
        self.proj = nn.Sequential(nn.Identity(), nn.Linear(in_features, dim, bias=False))
        self.init_weights()

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.proj[1].weight, self.proj[1].in_features)

    def forward(self, x_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x_B_C_T_H_W.shape
        p, pt = self.patch_spatial, self.patch_temporal
        if T % pt or H % p or W % p:
            raise ValueError(
                f"PatchEmbed: latent (T, H, W)=({T}, {H}, {W}) must be divisible by (patch_temporal, patch_spatial, "
                f"patch_spatial)=({pt}, {p}, {p}); crop/pad the video to a multiple of {8 * p} pixels."
            )
        x = x_B_C_T_H_W.reshape(B, C, T // pt, pt, H // p, p, W // p, p)
        x_B_t_h_w_Crmn = x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, T // pt, H // p, W // p, C * pt * p * p)
        return self.proj[1](x_B_t_h_w_Crmn)


class LearnablePosEmbAxis(nn.Module):
    """Optional extra absolute position embedding (sum of per-axis tables, RMS-normalised); P2.5 7B."""

    def __init__(self, dim: int, len_t: int, len_h: int, len_w: int) -> None:
        super().__init__()
        self.dim = dim
        self.pos_emb_h = nn.Parameter(torch.zeros(len_h, dim))
        self.pos_emb_w = nn.Parameter(torch.zeros(len_w, dim))
        self.pos_emb_t = nn.Parameter(torch.zeros(len_t, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for table in (self.pos_emb_h, self.pos_emb_w, self.pos_emb_t):
            trunc_normal_fan_in_(table, self.dim)

    def forward(self, T: int, H: int, W: int) -> torch.Tensor:
        emb_T_H_W_D = (
            self.pos_emb_t[:T, None, None, :] + self.pos_emb_h[None, :H, None, :] + self.pos_emb_w[None, None, :W, :]
        )
        norm = torch.linalg.vector_norm(emb_T_H_W_D, dim=-1, keepdim=True, dtype=torch.float32)
        # matches upstream: eps + norm / sqrt(D)  (alpha = sqrt(numel(norm)/numel(emb)))
        norm = 1e-6 + norm / math.sqrt(self.dim)
        return emb_T_H_W_D / norm.to(emb_T_H_W_D.dtype)


# --------------------------------------------------------------------------------------------- attention
class MultiHeadAttention(nn.Module):
    """q/k/v/output projections (no bias), RMSNorm(head_dim) on q and k, RoPE (self-attention only).

    The softmax op is the leaf module `attn_op` (models/attention.py); context parallelism wraps the
    self-attention one (models/frame_sharding.py).
    """

    def __init__(self, dim: int, context_dim: int | None, num_heads: int, backend: str = "torch") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"model_channels={dim} must be divisible by num_heads={num_heads}")
        self.is_selfattn = context_dim is None
        context_dim = dim if context_dim is None else context_dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(context_dim, dim, bias=False)
        self.v_proj = nn.Linear(context_dim, dim, bias=False)
        self.q_norm = RMSNorm(self.head_dim, eps=1e-6)
        self.k_norm = RMSNorm(self.head_dim, eps=1e-6)
        self.output_proj = nn.Linear(dim, dim, bias=False)
        self.attn_op = Attention(backend)
        self.init_weights()

    def init_weights(self) -> None:
        for linear in (self.q_proj, self.k_proj, self.v_proj, self.output_proj):
            trunc_normal_fan_in_(linear.weight, linear.in_features)
        self.q_norm.reset_parameters()
        self.k_norm.reset_parameters()

    def forward(
        self,
        x_B_S_D: torch.Tensor,
        context_B_N_Dc: torch.Tensor | None = None,
        rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        B, S, _ = x_B_S_D.shape
        context = x_B_S_D if context_B_N_Dc is None else context_B_N_Dc
        q_B_S_H_K = self.q_norm(self.q_proj(x_B_S_D).view(B, S, self.num_heads, self.head_dim))
        k_B_N_H_K = self.k_norm(self.k_proj(context).view(B, context.shape[1], self.num_heads, self.head_dim))
        v_B_N_H_K = self.v_proj(context).view(B, context.shape[1], self.num_heads, self.head_dim)
        if self.is_selfattn and rope_cos_sin is not None:
            cos_S_1_K, sin_S_1_K = rope_cos_sin
            q_B_S_H_K = apply_rope(q_B_S_H_K, cos_S_1_K, sin_S_1_K)
            k_B_N_H_K = apply_rope(k_B_N_H_K, cos_S_1_K, sin_S_1_K)
        out_B_S_H_K = self.attn_op(q_B_S_H_K, k_B_N_H_K, v_B_N_H_K)
        return self.output_proj(out_B_S_H_K.reshape(B, S, -1))
