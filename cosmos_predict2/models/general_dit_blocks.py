"""Building blocks of the Cosmos-Predict1 DiT (``GeneralDIT``), named as upstream's module tree.

Upstream (nvidia-cosmos/cosmos-predict1 @4ed35fa): ``diffusion/training/module/blocks.py`` (DITBuildingBlock,
GeneralDITTransformerBlock, FinalLayer, VideoAttn, SDXLTimestepEmbedding), ``diffusion/module/attention.py``
(Attention with ``to_q`` / ``to_k`` / ``to_v`` / ``to_out`` Sequentials, GPT2FeedForward) and
``diffusion/training/module/position_embedding.py`` (VideoRopePosition3DEmb). The math is this project's
(``models/layers.py``, ``models/dit.py``): the same ops as the Predict2 DiT, under Predict1's parameter names::

    blocks.block{i}.blocks.{k}.adaLN_modulation.{1,2}.weight        k = 0 (FA), 1 (CA), 2 (MLP)
    blocks.block{i}.blocks.{0,1}.block.attn.to_{q,k}.{0,1}.weight   Linear, RMSNorm(head_dim) ("RRI" qkv norm)
    blocks.block{i}.blocks.{0,1}.block.attn.to_v.0.weight           (to_v.1 is the identity)
    blocks.block{i}.blocks.{0,1}.block.attn.to_out.0.weight
    blocks.block{i}.blocks.2.block.layer{1,2}.weight
    final_layer.linear.weight, final_layer.adaLN_modulation.{1,2}.weight

Hidden states are (B, T, L=H*W, D) here (upstream's THWBD / BTHWD layouts are the same math), and the block
signature matches the Predict2 ``Block``; parallel/ (context parallelism through the net's frame-sharding seam,
activation checkpointing, FSDP2) treats both nets alike. Initialisation follows upstream
``GeneralDIT.init_weights``: Xavier-uniform Linear weights (zero biases), zero last AdaLN Linear in the blocks
(not in the final layer), RMSNorm ones.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from cosmos_predict2.models.attention import Attention as AttentionOp
from cosmos_predict2.models.dit import _adaln, _modulate
from cosmos_predict2.models.layers import (
    GPT2FeedForward,
    PatchEmbed,
    RMSNorm,
    TimestepEmbedding,
    apply_rope,
    rope3d_cos_sin,
)

FULL_ATTN, CROSS_ATTN, MLP = ("fa", "full_attn"), ("ca", "cross_attn"), ("mlp", "ff")


def xavier_init_(module: nn.Module) -> None:
    """Upstream ``_basic_init``: Xavier-uniform weight, zero bias for every Linear under ``module``;
    RMSNorm scales back to ones."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, RMSNorm):
            m.reset_parameters()


class P1PatchEmbed(PatchEmbed):
    """``x_embedder``: patchify (c r m n order) + Linear (``proj.1``, no bias; ``legacy_patch_emb=False``)."""

    def init_weights(self) -> None:
        nn.init.xavier_uniform_(self.proj[1].weight)


class P1TimestepEmbedding(TimestepEmbedding):
    """``t_embedder.1`` (SDXLTimestepEmbedding): upstream initialises both Linears N(0, 0.02)."""

    def init_weights(self) -> None:
        nn.init.normal_(self.linear_1.weight, std=0.02)
        nn.init.normal_(self.linear_2.weight, std=0.02)
        if self.linear_1.bias is not None:
            nn.init.zeros_(self.linear_1.bias)


class VideoRopePosition3DEmb(nn.Module):
    """``pos_embedder``: the 3D RoPE tables, computed on the fly (no buffers).

    Upstream keeps a persistent buffer ``seq`` = arange(max(len_h, len_w, len_t)) (so released files carry
    ``pos_embedder.seq``; loaders here skip it) and scales the temporal positions by ``base_fps / fps[0]``
    (``fps`` None only for images, T == 1). Axis split, NTK extrapolation and layout as ``layers.rope3d_cos_sin``.
    """

    def __init__(self, head_dim: int, len_h: int, len_w: int, len_t: int, base_fps: float = 24.0,
                 h_extrapolation_ratio: float = 1.0, w_extrapolation_ratio: float = 1.0,
                 t_extrapolation_ratio: float = 1.0) -> None:
        super().__init__()
        self.head_dim, self.base_fps = head_dim, float(base_fps)
        self.max_h, self.max_w, self.max_t = len_h, len_w, len_t
        self.seq_len = max(len_h, len_w, len_t)
        self.ratios_thw = (t_extrapolation_ratio, h_extrapolation_ratio, w_extrapolation_ratio)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_thw={(self.max_t, self.max_h, self.max_w)}, ratios_thw={self.ratios_thw}"

    def forward(self, T: int, H: int, W: int, fps: torch.Tensor | None, device: torch.device
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if H > self.max_h or W > self.max_w or T > self.seq_len:
            raise ValueError(f"GeneralDIT: token grid (T, H, W)=({T}, {H}, {W}) exceeds the RoPE tables "
                             f"(T <= {self.seq_len}, H <= {self.max_h}, W <= {self.max_w}); raise max_frames / "
                             "max_img_h / max_img_w in the net config.")
        if fps is None:
            if T != 1:
                raise ValueError("GeneralDIT (Predict1) needs `fps` for video (T > 1): its temporal RoPE positions "
                                 "are t * base_fps / fps; pass the batch's 'fps'.")
            t_scale: float | torch.Tensor = 1.0
        else:
            fps_B = torch.as_tensor(fps, device=device).reshape(-1).float()
            if T > 1 and fps_B.numel() > 1 and bool((fps_B != fps_B[0]).any()):
                raise ValueError(f"GeneralDIT (Predict1): one fps per batch (upstream uses fps[0]), got {fps_B.tolist()}")
            # upstream: seq[:T] / fps[:1] * base_fps (float32)
            t_scale = self.base_fps / fps_B[0].double()
        return rope3d_cos_sin(T, H, W, self.head_dim, self.ratios_thw, device, t_scale=t_scale)


class P1Attention(nn.Module):
    """Upstream ``Attention`` (per-head qkv norm "RRI", no biases): q/k RMSNorm(head_dim), RoPE on
    self-attention only, softmax op ``attn_op`` (models/attention.py; wrapped for context parallelism by
    ``FrameShardedNet.shard_frames``, models/frame_sharding.py)."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, backend: str = "torch") -> None:
        super().__init__()
        if query_dim % heads:
            raise ValueError(f"model_channels={query_dim} must be divisible by num_heads={heads}")
        self.is_selfattn = context_dim is None
        context_dim = query_dim if context_dim is None else context_dim
        self.heads, self.dim_head = heads, query_dim // heads
        self.to_q = nn.Sequential(nn.Linear(query_dim, query_dim, bias=False), RMSNorm(self.dim_head, eps=1e-6))
        self.to_k = nn.Sequential(nn.Linear(context_dim, query_dim, bias=False), RMSNorm(self.dim_head, eps=1e-6))
        self.to_v = nn.Sequential(nn.Linear(context_dim, query_dim, bias=False), nn.Identity())
        self.to_out = nn.Sequential(nn.Linear(query_dim, query_dim, bias=False), nn.Identity())  # (Dropout(0))
        self.attn_op = AttentionOp(backend)

    def forward(self, x_B_S_D: torch.Tensor, context_B_N_Dc: torch.Tensor | None = None,
                rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        B, S, _ = x_B_S_D.shape
        context = x_B_S_D if context_B_N_Dc is None else context_B_N_Dc
        N = context.shape[1]
        q = self.to_q[1](self.to_q[0](x_B_S_D).view(B, S, self.heads, self.dim_head))
        k = self.to_k[1](self.to_k[0](context).view(B, N, self.heads, self.dim_head))
        v = self.to_v[1](self.to_v[0](context).view(B, N, self.heads, self.dim_head))
        if self.is_selfattn and rope_cos_sin is not None:  # upstream: "only apply to self-attention!"
            q, k = apply_rope(q, *rope_cos_sin), apply_rope(k, *rope_cos_sin)
        return self.to_out(self.attn_op(q, k, v).reshape(B, S, -1))


class VideoAttn(nn.Module):
    """Upstream ``VideoAttn``: holds ``attn``; (B, T, L, D) in and out, attention over all T*L tokens."""

    def __init__(self, x_dim: int, context_dim: int | None, num_heads: int, backend: str = "torch") -> None:
        super().__init__()
        self.attn = P1Attention(x_dim, context_dim, num_heads, backend)

    def forward(self, x_B_T_L_D: torch.Tensor, context_B_N_Dc: torch.Tensor | None = None,
                rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        B, T, L, D = x_B_T_L_D.shape
        return self.attn(x_B_T_L_D.reshape(B, T * L, D), context_B_N_Dc, rope_cos_sin).view(B, T, L, D)


class DITBuildingBlock(nn.Module):
    """One sublayer: ``x + gate * block(LN(x) * (1 + scale) + shift)`` with its own ``adaLN_modulation``."""

    def __init__(self, block_type: str, x_dim: int, context_dim: int, num_heads: int, mlp_ratio: float = 4.0,
                 use_adaln_lora: bool = True, adaln_lora_dim: int = 256, backend: str = "torch") -> None:
        super().__init__()
        block_type = block_type.lower()
        if block_type in FULL_ATTN:
            self.block = VideoAttn(x_dim, None, num_heads, backend)
        elif block_type in CROSS_ATTN:
            self.block = VideoAttn(x_dim, context_dim, num_heads, backend)
        elif block_type in MLP:
            self.block = GPT2FeedForward(x_dim, int(x_dim * mlp_ratio))
        else:
            raise ValueError(f"GeneralDIT: block type {block_type!r} is not supported; use FA, CA and MLP "
                             "(block_config='FA-CA-MLP')")
        self.block_type = block_type
        self.use_adaln_lora = use_adaln_lora
        self.adaLN_modulation = _adaln(3, x_dim, use_adaln_lora, adaln_lora_dim)

    def forward(self, x_B_T_L_D: torch.Tensor, emb_B_T_D: torch.Tensor, crossattn_emb_B_N_Dc: torch.Tensor,
                rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
                adaln_lora_B_T_3D: torch.Tensor | None = None) -> torch.Tensor:
        mod_B_T_3D = self.adaLN_modulation(emb_B_T_D)
        if self.use_adaln_lora:
            mod_B_T_3D = mod_B_T_3D + adaln_lora_B_T_3D
        shift, scale, gate = mod_B_T_3D.unsqueeze(2).chunk(3, dim=-1)  # each (B, T|1, 1, D)
        h_B_T_L_D = _modulate(x_B_T_L_D, shift, scale)
        if self.block_type in FULL_ATTN:
            h_B_T_L_D = self.block(h_B_T_L_D, None, rope_cos_sin)
        elif self.block_type in CROSS_ATTN:
            h_B_T_L_D = self.block(h_B_T_L_D, crossattn_emb_B_N_Dc)
        else:
            h_B_T_L_D = self.block(h_B_T_L_D)
        return torch.addcmul(x_B_T_L_D, gate, h_B_T_L_D)


class GeneralDITTransformerBlock(nn.Module):
    """``blocks.block{i}``: the building blocks of ``block_config`` in order (an init / FSDP / checkpoint unit).

    ``self_attn`` (a property, not a sub-module) is the first full-attention ``P1Attention``, named as on the
    Predict2 blocks."""

    def __init__(self, x_dim: int, context_dim: int, num_heads: int, block_config: str = "FA-CA-MLP",
                 mlp_ratio: float = 4.0, use_adaln_lora: bool = True, adaln_lora_dim: int = 256,
                 backend: str = "torch") -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            DITBuildingBlock(t, x_dim, context_dim, num_heads, mlp_ratio, use_adaln_lora, adaln_lora_dim, backend)
            for t in block_config.split("-")
        )
        self.init_weights()

    @property
    def self_attn(self) -> P1Attention:
        for layer in self.blocks:
            if layer.block_type in FULL_ATTN:
                return layer.block.attn
        raise AttributeError("this block has no full (self) attention")

    def init_weights(self) -> None:
        xavier_init_(self)
        for layer in self.blocks:
            nn.init.zeros_(layer.adaLN_modulation[-1].weight)

    def forward(self, x_B_T_L_D: torch.Tensor, emb_B_T_D: torch.Tensor, crossattn_emb_B_N_Dc: torch.Tensor,
                rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
                adaln_lora_B_T_3D: torch.Tensor | None = None,
                extra_pos_emb_T_L_D: torch.Tensor | None = None) -> torch.Tensor:
        if extra_pos_emb_T_L_D is not None:
            x_B_T_L_D = x_B_T_L_D + extra_pos_emb_T_L_D
        for layer in self.blocks:
            x_B_T_L_D = layer(x_B_T_L_D, emb_B_T_D, crossattn_emb_B_N_Dc, rope_cos_sin, adaln_lora_B_T_3D)
        return x_B_T_L_D


class BlockDict(nn.Module):
    """Upstream's ``blocks`` ``ModuleDict`` (children ``block0``, ``block1``, ...: the released key names; with a
    ``layer_mask`` some numbers are absent) with the list interface parallel/ uses: ``len``, iteration over the
    blocks, ``blocks[i]`` / ``blocks[i] = wrapped`` by position (or by name)."""

    def __init__(self, blocks: dict[str, nn.Module]) -> None:
        super().__init__()
        for name, block in blocks.items():
            self.add_module(name, block)

    def _name(self, key: int | str) -> str:
        return list(self._modules)[key] if isinstance(key, int) else key

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, key: int | str) -> nn.Module:
        return self._modules[self._name(key)]

    def __setitem__(self, key: int | str, module: nn.Module) -> None:
        self.add_module(self._name(key), module)  # same name, same position

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()


class P1FinalLayer(nn.Module):
    """``final_layer``: LN(no affine) * (1 + scale) + shift, shift / scale from ``adaLN_modulation`` (+ the first
    2D of the AdaLN-LoRA vector), then ``linear`` (D -> p*p*pt*out, no bias). All Xavier (upstream does not
    zero the final AdaLN)."""

    def __init__(self, hidden_size: int, spatial_patch_size: int, temporal_patch_size: int, out_channels: int,
                 use_adaln_lora: bool = True, adaln_lora_dim: int = 256) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.use_adaln_lora = use_adaln_lora
        self.linear = nn.Linear(hidden_size, spatial_patch_size ** 2 * temporal_patch_size * out_channels, bias=False)
        self.adaLN_modulation = _adaln(2, hidden_size, use_adaln_lora, adaln_lora_dim)
        self.init_weights()

    def init_weights(self) -> None:
        xavier_init_(self)

    def forward(self, x_B_T_L_D: torch.Tensor, emb_B_T_D: torch.Tensor,
                adaln_lora_B_T_3D: torch.Tensor | None = None) -> torch.Tensor:
        mod_B_T_2D = self.adaLN_modulation(emb_B_T_D)
        if self.use_adaln_lora:
            mod_B_T_2D = mod_B_T_2D + adaln_lora_B_T_3D[..., : 2 * self.hidden_size]
        shift, scale = mod_B_T_2D.unsqueeze(2).chunk(2, dim=-1)
        return self.linear(_modulate(x_B_T_L_D, shift, scale))
