"""Building blocks of the Wan2.1 causal video VAE (encoder, decoder, streaming cache).

Module and parameter names are chosen so that ``WanVAE.state_dict()`` has exactly the key layout of the
released ``Wan2.1_VAE.pth`` (also shipped by Cosmos-Predict2 as ``tokenizer/tokenizer.pth``):

    conv1.*, conv2.*                                   (1x1x1 convs on mu|log_var and on z)
    encoder.conv1.*, encoder.downsamples.N.*, encoder.middle.{0,1,2}.*, encoder.head.{0,2}.*
    decoder.conv1.*, decoder.middle.{0,1,2}.*, decoder.upsamples.N.*, decoder.head.{0,2}.*
    residual blocks:  residual.0.gamma, residual.2.{weight,bias}, residual.3.gamma, residual.6.{weight,bias},
                      shortcut.{weight,bias} (only when in/out widths differ)
    resample blocks:  resample.1.{weight,bias}, time_conv.{weight,bias} (3-D modes only)
    attention:        norm.gamma, to_qkv.{weight,bias}, proj.{weight,bias}

The layout was derived from the renaming table in huggingface/diffusers
``scripts/convert_wan_to_diffusers.py`` (function ``convert_vae``), which maps the original Wan keys onto
diffusers' ``AutoencoderKLWan``; see ``wan2pt1_key_map.py`` for the mapping in code form.

Streaming ("feature cache"): encoding and decoding run chunk by chunk along time. Every temporal causal
conv keeps the last ``CACHE_FRAMES`` frames of its input stream in a per-call ``cache`` dict keyed by the
module itself, so chunked evaluation equals a causal conv over the whole stream. The temporal resamplers
have their own first-chunk rules (the first frame bypasses the temporal down/up-sampling conv), which is
what makes the first pixel frame map to its own latent frame.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

CACHE_FRAMES = 2  # temporal kernel 3 -> two frames of left context


class CausalConv3d(nn.Conv3d):
    """3-D conv, causal in time: all temporal padding (2*pad_t) goes on the past side.

    With a ``cache`` dict the conv is streaming: the frames cached from earlier chunks replace the
    leading zero padding, and the last ``CACHE_FRAMES`` frames of the current stream are stored.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0):
        super().__init__(in_ch, out_ch, kernel_size, stride=stride, padding=0)
        pad = padding if isinstance(padding, (tuple, list)) else (padding,) * 3
        self._time_pad = 2 * pad[0]
        self._space_pad = (pad[2], pad[2], pad[1], pad[1])

    def forward(self, x_B_C_T_H_W: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        x = x_B_C_T_H_W
        time_pad = self._time_pad
        if cache is not None and time_pad > 0:
            prev = cache.get(self)
            if prev is not None:
                x = torch.cat([prev.to(x), x], dim=2)
                time_pad -= prev.shape[2]
            cache[self] = x[:, :, -CACHE_FRAMES:]
        x = F.pad(x, (*self._space_pad, time_pad, 0))
        return super().forward(x)


class RMSNorm(nn.Module):
    """Channel RMS norm: ``normalize(x, dim=1) * sqrt(C) * gamma`` (computed in float32)."""

    def __init__(self, dim: int, images: bool = True):
        super().__init__()
        shape = (dim, 1, 1) if images else (dim, 1, 1, 1)
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.normalize(x.float(), dim=1).to(x.dtype)
        return y * self.scale * self.gamma.to(x.dtype)


class Upsample2x(nn.Module):
    """Nearest-exact 2x spatial upsampling of (N, C, H, W), computed in float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), scale_factor=2.0, mode="nearest-exact").to(x.dtype)


def _run_sequential(layers: nn.Module, x: torch.Tensor, cache: dict | None) -> torch.Tensor:
    """Apply layers in order, handing the streaming cache to the layers that take one."""
    for layer in layers:
        if isinstance(layer, (CausalConv3d, ResidualBlock, Resample)):
            x = layer(x, cache)
        else:
            x = layer(x)
    return x


class ResidualBlock(nn.Module):
    """norm-SiLU-conv3 -> norm-SiLU-dropout-conv3, plus a 1x1x1 shortcut when widths differ."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.residual = nn.Sequential(
            RMSNorm(in_dim, images=False),
            nn.SiLU(),
            CausalConv3d(in_dim, out_dim, 3, padding=1),
            RMSNorm(out_dim, images=False),
            nn.SiLU(),
            nn.Dropout(dropout),
            CausalConv3d(out_dim, out_dim, 3, padding=1),
        )
        self.shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        return _run_sequential(self.residual, x, cache) + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the H*W positions of each frame separately (no temporal mixing)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x_B_C_T_H_W.shape
        y_N_C_H_W = x_B_C_T_H_W.transpose(1, 2).reshape(b * t, c, h, w)
        qkv_N_L_3C = self.to_qkv(self.norm(y_N_C_H_W)).flatten(2).transpose(1, 2)
        q, k, v = (part.unsqueeze(1) for part in qkv_N_L_3C.chunk(3, dim=-1))  # (N, 1, L, C) each
        out_N_L_C = F.scaled_dot_product_attention(q, k, v).squeeze(1)
        out_N_C_H_W = self.proj(out_N_L_C.transpose(1, 2).reshape(b * t, c, h, w))
        return x_B_C_T_H_W + out_N_C_H_W.reshape(b, t, c, h, w).transpose(1, 2)


class Resample(nn.Module):
    """Per-frame 2x spatial down/up-sampling, optionally with 2x causal temporal down/up-sampling.

    modes: ``downsample2d``, ``downsample3d``, ``upsample2d``, ``upsample3d``. Up-sampling halves the width.
    Temporal rules (streaming only):
      downsample3d: the first chunk passes through; later chunks run a stride-2 temporal conv over
        [last frame of the previous chunk, chunk], i.e. 1 + 2k frames -> k frames.
      upsample3d: the first chunk passes through (1 latent frame -> 1 frame); later chunks run a causal
        temporal conv producing 2*C channels that are interleaved into two frames per input frame.
        The first real context of that conv is two zero frames.
    """

    def __init__(self, dim: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode in ("upsample2d", "upsample3d"):
            self.resample = nn.Sequential(Upsample2x(), nn.Conv2d(dim, dim // 2, 3, padding=1))
        elif mode in ("downsample2d", "downsample3d"):
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        else:
            raise ValueError(f"Resample mode must be up/downsample2d/3d, got {mode!r}")
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1), padding=(0, 0, 0))

    def _spatial(self, x_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x_B_C_T_H_W.shape
        y = self.resample(x_B_C_T_H_W.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)

    def forward(self, x_B_C_T_H_W: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        x = x_B_C_T_H_W
        if self.mode.endswith("3d") and cache is None:
            raise ValueError("temporal Resample needs a streaming cache dict (encode/decode chunk by chunk)")
        if self.mode == "upsample3d":
            if self not in cache:  # first chunk: no temporal upsampling
                cache[self] = True
                b, c, _, h, w = x.shape
                cache[self.time_conv] = x.new_zeros(b, c, CACHE_FRAMES, h, w)
            else:
                b, c, t, h, w = x.shape
                y = self.time_conv(x, cache).reshape(b, 2, c, t, h, w)
                x = torch.stack((y[:, 0], y[:, 1]), dim=3).reshape(b, c, t * 2, h, w)
        x = self._spatial(x)
        if self.mode == "downsample3d":
            prev = cache.get(self)
            cache[self] = x[:, :, -1:]
            if prev is not None:
                x = self.time_conv(torch.cat([prev.to(x), x], dim=2))
        return x


def _middle(dim: int, dropout: float) -> nn.ModuleList:
    return nn.ModuleList([ResidualBlock(dim, dim, dropout), AttentionBlock(dim), ResidualBlock(dim, dim, dropout)])


def _head(dim: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(RMSNorm(dim, images=False), nn.SiLU(), CausalConv3d(dim, out_ch, 3, padding=1))


class Encoder3d(nn.Module):
    """Pixels (B,3,T,H,W) -> (B,out_ch,T',H/2^(L-1),W/2^(L-1)), streaming with a cache dict."""

    def __init__(self, dim, out_ch, dim_mult, num_res_blocks, temperal_downsample, dropout=0.0):
        super().__init__()
        dims = [dim * u for u in [1, *dim_mult]]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        blocks = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(num_res_blocks):
                blocks.append(ResidualBlock(in_dim, out_dim, dropout))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                blocks.append(Resample(out_dim, "downsample3d" if temperal_downsample[i] else "downsample2d"))
        self.downsamples = nn.ModuleList(blocks)
        self.middle = _middle(dims[-1], dropout)
        self.head = _head(dims[-1], out_ch)

    def forward(self, x: torch.Tensor, cache: dict) -> torch.Tensor:
        x = self.conv1(x, cache)
        x = _run_sequential(self.downsamples, x, cache)
        x = _run_sequential(self.middle, x, cache)
        return _run_sequential(self.head, x, cache)


class Decoder3d(nn.Module):
    """Latents (B,z,T,h,w) -> pixels (B,3,T',8h,8w) (for the Wan2.1 geometry), streaming with a cache dict."""

    def __init__(self, dim, z_dim, dim_mult, num_res_blocks, temperal_upsample, dropout=0.0):
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1], *dim_mult[::-1]]]
        self.conv1 = CausalConv3d(z_dim, dims[0], 3, padding=1)
        self.middle = _middle(dims[0], dropout)
        blocks = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:  # the previous level's upsampler halved the width
                in_dim = in_dim // 2
            for _ in range(num_res_blocks + 1):
                blocks.append(ResidualBlock(in_dim, out_dim, dropout))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                blocks.append(Resample(out_dim, "upsample3d" if temperal_upsample[i] else "upsample2d"))
        self.upsamples = nn.ModuleList(blocks)
        self.head = _head(dims[-1], 3)

    def forward(self, z: torch.Tensor, cache: dict) -> torch.Tensor:
        x = self.conv1(z, cache)
        x = _run_sequential(self.middle, x, cache)
        x = _run_sequential(self.upsamples, x, cache)
        return _run_sequential(self.head, x, cache)
