"""MiniTrainDIT: the Cosmos-Predict2 / 2.5 video diffusion transformer (Video2World, LVG variant).

Layout (P2 `MiniTrainDIT` + `MinimalV1LVGDiT`; sizes in models/presets.py):

    x (B,16,T,H,W) ++ condition mask (B,1,T,H,W) ++ padding mask (B,1,T,H,W)
      -> x_embedder: patchify (1x2x2) + Linear(18*4 -> D)                 -> (B, T, H/2, W/2, D)
    timesteps (B,T) -> sinusoid (B,T,D) -> t_embedder.1 -> (raw sinusoid, AdaLN-LoRA (B,T,3D))
      -> t_embedding_norm (RMSNorm)                                        -> emb (B,T,D)
    num_blocks x Block(self-attn with 3D RoPE, cross-attn to text (B,N,1024), GELU MLP), each sublayer
      x += gate * Sub(LN(x) * (1 + scale) + shift), (shift, scale, gate) from AdaLN(emb) + LoRA vector
    final_layer: AdaLN (shift, scale) + Linear(D -> 2*2*1*16) -> unpatchify -> (B, 16, T, H, W)

Parameter names equal the released checkpoints without the `net.` prefix (models/key_maps.py). No
buffers are registered, so `state_dict()` holds parameters only (no RoPE tables, counters or TE state).

Context parallelism enters through the seam of models/frame_sharding.py: with a plan set, the forward keeps this
rank's latent frames after the embeddings and gathers the final layer's output.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cosmos_predict2.models.frame_sharding import FrameShardedNet
from cosmos_predict2.models.init import init_module_
from cosmos_predict2.models.layers import (
    CrossAttnProjection,
    GPT2FeedForward,
    LearnablePosEmbAxis,
    MultiHeadAttention,
    PatchEmbed,
    RMSNorm,
    TimestepEmbedding,
    Timesteps,
    rope_axis_dims,
    rope3d_cos_sin,
    trunc_normal_fan_in_,
)

_LN_EPS = 1e-6


def _modulate(x_B_T_L_D: torch.Tensor, shift_B_T_1_D: torch.Tensor, scale_B_T_1_D: torch.Tensor) -> torch.Tensor:
    """LayerNorm(no affine, eps 1e-6)(x) * (1 + scale) + shift."""
    normed = F.layer_norm(x_B_T_L_D, (x_B_T_L_D.shape[-1],), eps=_LN_EPS)
    return torch.addcmul(shift_B_T_1_D, normed, 1 + scale_B_T_1_D)


def _adaln(n_chunks: int, dim: int, use_adaln_lora: bool, adaln_lora_dim: int) -> nn.Sequential:
    """SiLU -> Linear(D -> lora) -> Linear(lora -> n*D) (or SiLU -> Linear(D -> n*D)); no biases."""
    if use_adaln_lora:
        return nn.Sequential(
            nn.SiLU(), nn.Linear(dim, adaln_lora_dim, bias=False), nn.Linear(adaln_lora_dim, n_chunks * dim, bias=False)
        )
    return nn.Sequential(nn.SiLU(), nn.Linear(dim, n_chunks * dim, bias=False))


def _init_adaln(seq: nn.Sequential) -> None:
    """First Linear trunc-normal(1/sqrt(fan_in)), last Linear zero (so modulation starts at the LoRA part)."""
    linears = [m for m in seq if isinstance(m, nn.Linear)]
    for linear in linears[:-1]:
        trunc_normal_fan_in_(linear.weight, linear.in_features)
    nn.init.zeros_(linears[-1].weight)


def _run_fp32(layers: Any, x: torch.Tensor) -> torch.Tensor:
    """Run a chain of SiLU / Linear layers in float32 regardless of the parameter dtype (Wan fp32 strategy)."""
    x = x.float()
    for layer in layers:
        if isinstance(layer, nn.Linear):
            bias = None if layer.bias is None else layer.bias.float()
            x = F.linear(x, layer.weight.float(), bias)
        else:
            x = layer(x)
    return x


def mask_channels(
    x_B_C_T_H_W: torch.Tensor, condition_mask_B_1_T_H_W: torch.Tensor | None, padding_mask: torch.Tensor | None,
    use_condition_mask: bool = True, concat_padding_mask: bool = True,
) -> list[torch.Tensor]:
    """The extra input channels of the Video2World nets, in upstream order: the condition mask (B,1,T,H,W;
    zeros when None) and the padding mask ((B|1,1,H',W') or (B,H',W'), resized nearest to (H, W) and repeated
    over T; zeros when None)."""
    B, _, T, H, W = x_B_C_T_H_W.shape
    parts = []
    if use_condition_mask:
        if condition_mask_B_1_T_H_W is None:
            condition_mask_B_1_T_H_W = x_B_C_T_H_W.new_zeros(B, 1, T, H, W)
        elif condition_mask_B_1_T_H_W.shape != (B, 1, T, H, W):
            raise ValueError(
                f"condition_video_input_mask_B_C_T_H_W must be (B, 1, T, H, W)={(B, 1, T, H, W)}, "
                f"got {tuple(condition_mask_B_1_T_H_W.shape)}"
            )
        parts.append(condition_mask_B_1_T_H_W.to(x_B_C_T_H_W.dtype))
    if concat_padding_mask:
        if padding_mask is None:
            pad_B_1_H_W = x_B_C_T_H_W.new_zeros(B, 1, H, W)
        else:
            pad = padding_mask if padding_mask.ndim == 4 else padding_mask.unsqueeze(1)  # (B, H, W) -> (B,1,H,W)
            if pad.ndim != 4 or pad.shape[1] != 1 or pad.shape[0] not in (1, B):
                raise ValueError(f"padding_mask must be (B, 1, H, W) or (1, 1, H, W), got {tuple(padding_mask.shape)}")
            pad_B_1_H_W = F.interpolate(pad.to(x_B_C_T_H_W.dtype), size=(H, W), mode="nearest").expand(B, 1, H, W)
        parts.append(pad_B_1_H_W.unsqueeze(2).expand(B, 1, T, H, W))
    return parts


def unpatchify(x_B_T_h_w_M: torch.Tensor, patch_spatial: int, patch_temporal: int, out_channels: int) -> torch.Tensor:
    """`B T H W (p1 p2 t C) -> B C (T t) (H p1) (W p2)`."""
    B, T, h, w, _ = x_B_T_h_w_M.shape
    p, pt = patch_spatial, patch_temporal
    x = x_B_T_h_w_M.reshape(B, T, h, w, p, p, pt, out_channels)
    # with patch 1 the reshape is a strided view of the last linear layer's output; a fresh contiguous
    # tensor keeps FSDP2's pre-backward hook safe from in-place ops on the net's output
    return x.permute(0, 7, 1, 6, 2, 4, 3, 5).reshape(B, out_channels, T * pt, h * p, w * p).contiguous()


class Block(nn.Module):
    """Self-attention (RoPE) -> cross-attention -> MLP, each with its own AdaLN modulation."""

    def __init__(
        self,
        dim: int,
        context_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        use_adaln_lora: bool = True,
        adaln_lora_dim: int = 256,
        backend: str = "torch",
        use_wan_fp32_strategy: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.use_adaln_lora = use_adaln_lora
        self.use_wan_fp32_strategy = use_wan_fp32_strategy
        self.self_attn = MultiHeadAttention(dim, None, num_heads, backend)
        self.cross_attn = MultiHeadAttention(dim, context_dim, num_heads, backend)
        self.mlp = GPT2FeedForward(dim, int(dim * mlp_ratio))
        self.adaln_modulation_self_attn = _adaln(3, dim, use_adaln_lora, adaln_lora_dim)
        self.adaln_modulation_cross_attn = _adaln(3, dim, use_adaln_lora, adaln_lora_dim)
        self.adaln_modulation_mlp = _adaln(3, dim, use_adaln_lora, adaln_lora_dim)
        self.init_weights()

    def init_weights(self) -> None:
        self.self_attn.init_weights()
        self.cross_attn.init_weights()
        self.mlp.init_weights()
        for seq in (self.adaln_modulation_self_attn, self.adaln_modulation_cross_attn, self.adaln_modulation_mlp):
            _init_adaln(seq)

    def _modulation(
        self, seq: nn.Sequential, emb_B_T_D: torch.Tensor, adaln_lora_B_T_3D: torch.Tensor | None, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.use_wan_fp32_strategy:
            mod_B_T_3D = _run_fp32(seq, emb_B_T_D)
            if adaln_lora_B_T_3D is not None:
                mod_B_T_3D = mod_B_T_3D + adaln_lora_B_T_3D.float()
            mod_B_T_3D = mod_B_T_3D.to(dtype)
        else:
            mod_B_T_3D = seq(emb_B_T_D)
            if adaln_lora_B_T_3D is not None:
                mod_B_T_3D = mod_B_T_3D + adaln_lora_B_T_3D
        shift, scale, gate = mod_B_T_3D.unsqueeze(2).chunk(3, dim=-1)  # each (B, T, 1, D)
        return shift, scale, gate

    def forward(
        self,
        x_B_T_L_D: torch.Tensor,
        emb_B_T_D: torch.Tensor,
        crossattn_emb_B_N_Dc: torch.Tensor,
        rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
        adaln_lora_B_T_3D: torch.Tensor | None = None,
        extra_pos_emb_T_L_D: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x is (B, T, L=H*W, D); emb / LoRA vectors are per latent frame (T may be 1 to broadcast)."""
        B, T, L, D = x_B_T_L_D.shape
        if extra_pos_emb_T_L_D is not None:
            x_B_T_L_D = x_B_T_L_D + extra_pos_emb_T_L_D
        dtype = x_B_T_L_D.dtype

        # All three modulations first, then the sublayers: per block the matmuls run in upstream's order
        # (6 AdaLN, 4 self-attn q/k/v/out, 4 cross-attn, 2 MLP = 16), which the op-counting selective
        # activation-checkpointing policies (predict2_2b_720, ...) rely on.
        mod_sa = self._modulation(self.adaln_modulation_self_attn, emb_B_T_D, adaln_lora_B_T_3D, dtype)
        mod_ca = self._modulation(self.adaln_modulation_cross_attn, emb_B_T_D, adaln_lora_B_T_3D, dtype)
        mod_mlp = self._modulation(self.adaln_modulation_mlp, emb_B_T_D, adaln_lora_B_T_3D, dtype)

        shift, scale, gate = mod_sa
        h_B_S_D = _modulate(x_B_T_L_D, shift, scale).view(B, T * L, D)
        h_B_T_L_D = self.self_attn(h_B_S_D, None, rope_cos_sin).view(B, T, L, D)
        x_B_T_L_D = torch.addcmul(x_B_T_L_D, gate, h_B_T_L_D)

        shift, scale, gate = mod_ca
        h_B_S_D = _modulate(x_B_T_L_D, shift, scale).view(B, T * L, D)
        h_B_T_L_D = self.cross_attn(h_B_S_D, crossattn_emb_B_N_Dc).view(B, T, L, D)
        x_B_T_L_D = torch.addcmul(x_B_T_L_D, gate, h_B_T_L_D)

        shift, scale, gate = mod_mlp
        h_B_T_L_D = self.mlp(_modulate(x_B_T_L_D, shift, scale))
        return torch.addcmul(x_B_T_L_D, gate, h_B_T_L_D)


class FinalLayer(nn.Module):
    """LN(no affine) * (1 + scale) + shift, then Linear(D -> p*p*pt*out_channels, no bias)."""

    def __init__(
        self, dim: int, patch_spatial: int, patch_temporal: int, out_channels: int,
        use_adaln_lora: bool = True, adaln_lora_dim: int = 256,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.use_adaln_lora = use_adaln_lora
        self.linear = nn.Linear(dim, patch_spatial * patch_spatial * patch_temporal * out_channels, bias=False)
        self.adaln_modulation = _adaln(2, dim, use_adaln_lora, adaln_lora_dim)
        self.init_weights()

    def init_weights(self) -> None:
        # Upstream keeps the output Linear trunc-normal (not zero); only the AdaLN output Linear is zero.
        trunc_normal_fan_in_(self.linear.weight, self.dim)
        _init_adaln(self.adaln_modulation)

    def forward(
        self, x_B_T_L_D: torch.Tensor, emb_B_T_D: torch.Tensor, adaln_lora_B_T_3D: torch.Tensor | None = None,
        fp32_modulation: bool = False,
    ) -> torch.Tensor:
        """``fp32_modulation`` (Wan fp32 strategy): the whole layer (modulation, norm, projection) runs in float32
        and returns float32, as upstream runs it under float32 autocast."""
        if fp32_modulation:
            mod_B_T_2D = _run_fp32(self.adaln_modulation, emb_B_T_D)
            if adaln_lora_B_T_3D is not None:
                mod_B_T_2D = mod_B_T_2D + adaln_lora_B_T_3D[..., : 2 * self.dim].float()
            shift, scale = mod_B_T_2D.unsqueeze(2).chunk(2, dim=-1)
            return _run_fp32((self.linear,), _modulate(x_B_T_L_D.float(), shift, scale))
        mod_B_T_2D = self.adaln_modulation(emb_B_T_D)
        if adaln_lora_B_T_3D is not None:
            mod_B_T_2D = mod_B_T_2D + adaln_lora_B_T_3D[..., : 2 * self.dim]
        shift, scale = mod_B_T_2D.to(x_B_T_L_D.dtype).unsqueeze(2).chunk(2, dim=-1)
        return self.linear(_modulate(x_B_T_L_D, shift, scale))


class MiniTrainDIT(FrameShardedNet, nn.Module):
    """Cosmos-Predict2 Video2World DiT (LVG: the condition-mask channel is added by the net itself).

    Args follow the upstream names. Extra ones:
        use_condition_mask: concatenate the condition-mask channel (True = Video2World / LVG layout; False =
            the plain text-to-image MiniTrainDIT layout).
        timestep_scale: multiply timesteps by this first (P2.5 uses 0.001; P2 1.0).
        use_wan_fp32_strategy: run the t-embedder, its RMSNorm, all AdaLN modulations and the final layer in
            float32 even when the parameters are bf16 (P2.5 option; the net then returns float32). RoPE always
            runs in float32 here.
    Accepted for config compatibility and ignored: pos_emb_learnable, pos_emb_interpolation, min_fps,
    max_fps, sac_config (activation checkpointing lives in parallel/), use_cuda_graphs.
    """

    attention_layer_cls = MultiHeadAttention

    def __init__(
        self,
        max_img_h: int = 240,
        max_img_w: int = 240,
        max_frames: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        patch_spatial: int = 2,
        patch_temporal: int = 1,
        concat_padding_mask: bool = True,
        model_channels: int = 2048,
        num_blocks: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        atten_backend: str = "torch",
        crossattn_emb_channels: int = 1024,
        use_crossattn_projection: bool = False,
        crossattn_proj_in_channels: int = 1024,
        pos_emb_cls: str = "rope3d",
        use_adaln_lora: bool = True,
        adaln_lora_dim: int = 256,
        rope_h_extrapolation_ratio: float = 1.0,
        rope_w_extrapolation_ratio: float = 1.0,
        rope_t_extrapolation_ratio: float = 1.0,
        rope_enable_fps_modulation: bool = False,
        extra_per_block_abs_pos_emb: bool = False,
        extra_h_extrapolation_ratio: float = 1.0,
        extra_w_extrapolation_ratio: float = 1.0,
        extra_t_extrapolation_ratio: float = 1.0,
        use_condition_mask: bool = True,
        concat_condition_frame: bool = False,
        timestep_scale: float = 1.0,
        use_wan_fp32_strategy: bool = False,
        pos_emb_learnable: bool = False,
        pos_emb_interpolation: str = "crop",
        min_fps: int = 1,
        max_fps: int = 30,
        sac_config: Any = None,
        use_cuda_graphs: bool = False,
    ) -> None:
        super().__init__()
        del pos_emb_learnable, pos_emb_interpolation, min_fps, max_fps, sac_config, use_cuda_graphs
        del extra_h_extrapolation_ratio, extra_w_extrapolation_ratio, extra_t_extrapolation_ratio  # no effect
        if pos_emb_cls != "rope3d":
            raise ValueError(f"MiniTrainDIT: pos_emb_cls={pos_emb_cls!r} is not supported; use pos_emb_cls='rope3d'.")
        if rope_enable_fps_modulation:
            raise ValueError(
                "MiniTrainDIT: rope_enable_fps_modulation=True is not supported (all Predict2/2.5 configs use "
                "False); set model.config.net.rope_enable_fps_modulation=False."
            )
        if model_channels % num_heads:
            raise ValueError(f"MiniTrainDIT: model_channels={model_channels} not divisible by num_heads={num_heads}")
        self.max_img_h, self.max_img_w, self.max_frames = max_img_h, max_img_w, max_frames
        self.in_channels, self.out_channels = in_channels, out_channels
        self.patch_spatial, self.patch_temporal = patch_spatial, patch_temporal
        self.concat_padding_mask = concat_padding_mask
        self.use_condition_mask = use_condition_mask
        self.concat_condition_frame = concat_condition_frame
        self.model_channels, self.num_blocks, self.num_heads = model_channels, num_blocks, num_heads
        self.head_dim = model_channels // num_heads
        self.atten_backend = atten_backend
        self.crossattn_emb_channels = crossattn_emb_channels
        self.use_crossattn_projection = use_crossattn_projection
        self.use_adaln_lora, self.adaln_lora_dim = use_adaln_lora, adaln_lora_dim
        self.rope_ratios_thw = (rope_t_extrapolation_ratio, rope_h_extrapolation_ratio, rope_w_extrapolation_ratio)
        self.extra_per_block_abs_pos_emb = extra_per_block_abs_pos_emb
        self.timestep_scale = timestep_scale
        self.use_wan_fp32_strategy = use_wan_fp32_strategy

        embed_in = in_channels * (1 + int(concat_condition_frame)) + int(use_condition_mask) + int(concat_padding_mask)
        self.x_embedder = PatchEmbed(embed_in, model_channels, patch_spatial, patch_temporal)
        if extra_per_block_abs_pos_emb:
            self.extra_pos_embedder = LearnablePosEmbAxis(
                model_channels, max_frames // patch_temporal, max_img_h // patch_spatial, max_img_w // patch_spatial
            )
        self.t_embedder = nn.Sequential(Timesteps(model_channels), TimestepEmbedding(model_channels, use_adaln_lora))
        if use_crossattn_projection:
            self.crossattn_proj = CrossAttnProjection(crossattn_proj_in_channels, crossattn_emb_channels)
        self.blocks = nn.ModuleList(
            Block(model_channels, crossattn_emb_channels, num_heads, mlp_ratio, use_adaln_lora, adaln_lora_dim,
                  atten_backend, use_wan_fp32_strategy)
            for _ in range(num_blocks)
        )
        self.final_layer = FinalLayer(
            model_channels, patch_spatial, patch_temporal, out_channels, use_adaln_lora, adaln_lora_dim
        )
        self.t_embedding_norm = RMSNorm(model_channels, eps=1e-6)

    def released_non_learned_entries(self) -> dict[str, torch.Tensor]:
        """Entries a released Predict2 / 2.5 DiT file holds besides parameters (values as upstream's buffers hold
        them): the RoPE tables, the training counters and TransformerEngine ``_extra_state`` of the norms."""
        dim_t, dim_h, _ = rope_axis_dims(self.head_dim)
        max_len = max(self.max_img_h // self.patch_spatial, self.max_img_w // self.patch_spatial,
                      self.max_frames // self.patch_temporal)
        out = {
            "pos_embedder.seq": torch.arange(max_len, dtype=torch.float32),
            "pos_embedder.dim_spatial_range": torch.arange(0, dim_h, 2)[: dim_h // 2].float() / dim_h,
            "pos_embedder.dim_temporal_range": torch.arange(0, dim_t, 2)[: dim_t // 2].float() / dim_t,
            "accum_video_sample_counter": torch.tensor(0, dtype=torch.int64),
            "accum_image_sample_counter": torch.tensor(0, dtype=torch.int64),
            "accum_iteration": torch.tensor(0, dtype=torch.int64),
            "accum_train_in_hours": torch.tensor(0.0, dtype=torch.float32),
            "t_embedding_norm._extra_state": torch.empty(0, dtype=torch.uint8),
        }
        for i in range(len(self.blocks)):
            for attn in ("self_attn", "cross_attn"):
                for norm in ("q_norm", "k_norm"):
                    out[f"blocks.{i}.{attn}.{norm}._extra_state"] = torch.empty(0, dtype=torch.uint8)
        return out

    def init_weights(self) -> None:
        """(Re-)initialise every parameter as at construction (unit by unit, models/init.py).

        Sub-modules initialise themselves when built, so constructing a net needs no call to this.
        """
        init_module_(self)

    # ------------------------------------------------------------------ pieces reused by the action nets
    def _prepare_input(
        self, x_B_C_T_H_W: torch.Tensor, condition_mask_B_1_T_H_W: torch.Tensor | None, padding_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """x ++ (last conditioning frame, with ``concat_condition_frame``) ++ condition mask ++ padding mask
        -> (B, C (+C) +1 +1, T, H, W)."""
        if x_B_C_T_H_W.ndim != 5 or x_B_C_T_H_W.shape[1] != self.in_channels:
            raise ValueError(
                f"MiniTrainDIT: x must be (B, in_channels={self.in_channels}, T, H, W), got {tuple(x_B_C_T_H_W.shape)}"
            )
        parts = [x_B_C_T_H_W]
        if self.concat_condition_frame:
            parts.append(self._last_condition_frame(x_B_C_T_H_W, condition_mask_B_1_T_H_W))
        parts += mask_channels(x_B_C_T_H_W, condition_mask_B_1_T_H_W, padding_mask, self.use_condition_mask,
                               self.concat_padding_mask)
        return torch.cat(parts, dim=1)

    @staticmethod
    def _last_condition_frame(x_B_C_T_H_W: torch.Tensor, condition_mask_B_1_T_H_W: torch.Tensor | None) -> torch.Tensor:
        """The last conditioning latent frame of each sample broadcast to every frame (zeros without one)."""
        B, C, T, H, W = x_B_C_T_H_W.shape
        if condition_mask_B_1_T_H_W is None:
            return x_B_C_T_H_W.new_zeros(B, C, T, H, W)
        num_cond_B = condition_mask_B_1_T_H_W[:, 0, :, 0, 0].round().long().sum(dim=1)  # conditioning frames lead
        idx_B = (num_cond_B - 1).clamp_min(0).view(B, 1, 1, 1, 1).expand(B, C, 1, H, W)
        last_B_C_1_H_W = x_B_C_T_H_W.gather(2, idx_B) * (num_cond_B > 0).to(x_B_C_T_H_W.dtype).view(B, 1, 1, 1, 1)
        return last_B_C_1_H_W.expand(B, C, T, H, W)

    def _timestep_embedding(self, timesteps_B_T: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T) or (B,) timesteps -> (pre-norm embedding (B,T,D), AdaLN-LoRA vector (B,T,3D) or None)."""
        if timesteps_B_T.ndim == 1:
            timesteps_B_T = timesteps_B_T.unsqueeze(1)
        if timesteps_B_T.ndim != 2:
            raise ValueError(f"MiniTrainDIT: timesteps must be (B, T) or (B,), got {tuple(timesteps_B_T.shape)}")
        sinusoid_B_T_D = self.t_embedder[0](timesteps_B_T * self.timestep_scale)
        embedding = self.t_embedder[1]
        if self.use_wan_fp32_strategy:
            emb_B_T_D = sinusoid_B_T_D
            lora = _run_fp32((embedding.linear_1, embedding.activation, embedding.linear_2), emb_B_T_D)
            if not self.use_adaln_lora:
                emb_B_T_D, lora = lora, None
            return emb_B_T_D, lora
        return embedding(sinusoid_B_T_D.to(dtype))

    def _extra_embeddings(
        self, action: torch.Tensor | None, cond_mask_B_T: torch.Tensor, T: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Hook for the action nets: (add to pre-norm t-embedding (B,T|1,D), add to AdaLN-LoRA (B,T|1,3D))."""
        if action is not None:
            raise ValueError(
                f"{type(self).__name__} takes no `action`; use an action-conditioned net from models/action_dit.py"
            )
        return None, None

    def unpatchify(self, x_B_T_h_w_M: torch.Tensor) -> torch.Tensor:
        """`B T H W (p1 p2 t C) -> B C (T t) (H p1) (W p2)`."""
        return unpatchify(x_B_T_h_w_M, self.patch_spatial, self.patch_temporal, self.out_channels)

    def forward(
        self,
        x_B_C_T_H_W: torch.Tensor,
        timesteps_B_T: torch.Tensor,
        crossattn_emb_B_N_D: torch.Tensor,
        condition_video_input_mask_B_C_T_H_W: torch.Tensor | None = None,
        fps: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        action: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Predict (B, out_channels, T, H, W) from latents x (B, in_channels, T, H, W).

        timesteps_B_T: per latent frame (B, T) or per sample (B,). crossattn_emb_B_N_D: text embedding
        (B, N, crossattn_emb_channels, or crossattn_proj_in_channels with the projection). fps is unused
        (fps modulation of RoPE is off in every released config). kwargs (e.g. data_type) are ignored.
        """
        del fps, kwargs
        x_in = self._prepare_input(x_B_C_T_H_W, condition_video_input_mask_B_C_T_H_W, padding_mask)
        x_B_T_h_w_D = self.x_embedder(x_in)
        B, T, h, w, D = x_B_T_h_w_D.shape
        max_t, max_h, max_w = (
            self.max_frames // self.patch_temporal, self.max_img_h // self.patch_spatial, self.max_img_w // self.patch_spatial
        )
        if T > max_t or h > max_h or w > max_w:
            raise ValueError(
                f"MiniTrainDIT: token grid (T, H, W)=({T}, {h}, {w}) exceeds max ({max_t}, {max_h}, {max_w}); raise "
                "max_frames / max_img_h / max_img_w in the net config."
            )
        x_B_T_L_D = x_B_T_h_w_D.view(B, T, h * w, D)
        dtype = x_B_T_L_D.dtype

        rope_cos_sin = rope3d_cos_sin(T, h, w, self.head_dim, self.rope_ratios_thw, x_B_T_L_D.device)
        extra_pos_T_L_D = None
        if self.extra_per_block_abs_pos_emb:
            extra_pos_T_L_D = self.extra_pos_embedder(T, h, w).reshape(T, h * w, D).to(dtype)

        emb_B_T_D, adaln_lora_B_T_3D = self._timestep_embedding(timesteps_B_T, dtype)
        if condition_video_input_mask_B_C_T_H_W is not None:
            cond_mask_B_T = condition_video_input_mask_B_C_T_H_W[:, 0, :, 0, 0]
        else:
            cond_mask_B_T = x_B_C_T_H_W.new_zeros(B, x_B_C_T_H_W.shape[2])
        add_D, add_3D = self._extra_embeddings(action, cond_mask_B_T, T, dtype)
        if add_D is not None:
            emb_B_T_D = emb_B_T_D + add_D
        if add_3D is not None:
            adaln_lora_B_T_3D = add_3D if adaln_lora_B_T_3D is None else adaln_lora_B_T_3D + add_3D
        emb_B_T_D = self.t_embedding_norm(emb_B_T_D)
        if not self.use_wan_fp32_strategy:
            emb_B_T_D = emb_B_T_D.to(dtype)

        context_B_N_D = crossattn_emb_B_N_D.to(dtype)
        if self.use_crossattn_projection:
            context_B_N_D = self.crossattn_proj(context_B_N_D)

        if self.frame_sharding is not None:  # context parallelism: this rank's latent frames from here on
            x_B_T_L_D = self.frame_sharding.split(x_B_T_L_D, 1)
            rope_cos_sin = tuple(self.frame_sharding.split(r_S_1_K, 0) for r_S_1_K in rope_cos_sin)
            emb_B_T_D, adaln_lora_B_T_3D = self._local_frames(emb_B_T_D, 1), self._local_frames(adaln_lora_B_T_3D, 1)
            extra_pos_T_L_D = self._local_frames(extra_pos_T_L_D, 0)

        for block in self.blocks:
            x_B_T_L_D = block(x_B_T_L_D, emb_B_T_D, context_B_N_D, rope_cos_sin, adaln_lora_B_T_3D, extra_pos_T_L_D)

        out_B_T_L_M = self.final_layer(x_B_T_L_D, emb_B_T_D, adaln_lora_B_T_3D, self.use_wan_fp32_strategy)
        if self.frame_sharding is not None:
            out_B_T_L_M = self.frame_sharding.gather(out_B_T_L_M, 1)
        return self.unpatchify(out_B_T_L_M.view(B, T, h, w, -1))


MinimalV1LVGDiT = MiniTrainDIT
"""Upstream name of the Video2World (condition-mask) variant; here the same class."""
