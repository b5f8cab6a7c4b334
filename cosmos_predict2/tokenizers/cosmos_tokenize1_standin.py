"""Random stand-in files for Cosmos-Tokenize1-CV8x8x8 (``encoder.jit``, ``decoder.jit``, ``mean_std.pt``).

The released tokenizer's architecture is not published as code, only as TorchScript; the stand-in keeps its
interface (same files, 16 latent channels, 8x8 spatial and 8x causal temporal compression: the first frame
alone, then groups of 8; the encoder returns a tuple whose first item is the latent) with one strided
convolution per path, so that experiments and commands can be smoke-tested before downloading the real files.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn as nn

LATENT_CH = 16
SPATIAL = 8
TEMPORAL = 8


class CausalEncoderStandIn(nn.Module):
    """(B, 3, 1 + 8k, H, W) -> ((B, 16, 1 + k, H/8, W/8),)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv3d(3, LATENT_CH, (1, SPATIAL, SPATIAL), stride=(1, SPATIAL, SPATIAL))
        self.rest = nn.Conv3d(3, LATENT_CH, (TEMPORAL, SPATIAL, SPATIAL), stride=(TEMPORAL, SPATIAL, SPATIAL))

    def forward(self, x_B_3_T_H_W: torch.Tensor) -> tuple[torch.Tensor]:
        z = self.first(x_B_3_T_H_W[:, :, :1])
        if x_B_3_T_H_W.shape[2] > 1:
            z = torch.cat([z, self.rest(x_B_3_T_H_W[:, :, 1:])], dim=2)
        return (z,)


class CausalDecoderStandIn(nn.Module):
    """(B, 16, t, h, w) -> (B, 3, 1 + 8 (t - 1), 8h, 8w)."""

    def __init__(self):
        super().__init__()
        self.first = nn.ConvTranspose3d(LATENT_CH, 3, (1, SPATIAL, SPATIAL), stride=(1, SPATIAL, SPATIAL))
        self.rest = nn.ConvTranspose3d(LATENT_CH, 3, (TEMPORAL, SPATIAL, SPATIAL), stride=(TEMPORAL, SPATIAL, SPATIAL))

    def forward(self, z_B_C_t_h_w: torch.Tensor) -> torch.Tensor:
        x = self.first(z_B_C_t_h_w[:, :, :1])
        if z_B_C_t_h_w.shape[2] > 1:
            x = torch.cat([x, self.rest(z_B_C_t_h_w[:, :, 1:])], dim=2)
        return x


def write_standin(folder: str, seed: int = 1234, latent_frames: int = 16) -> list[str]:
    """Write the three files into ``folder`` (atomically each); returns their paths. ``mean_std.pt`` holds
    ``(mean, std)`` flat over (channel, latent frame), as released."""
    os.makedirs(folder, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc, dec = CausalEncoderStandIn().eval(), CausalDecoderStandIn().eval()
    mean = torch.randn(LATENT_CH * latent_frames, generator=gen) * 0.1
    std = torch.rand(LATENT_CH * latent_frames, generator=gen) * 0.5 + 0.75
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script: the released files are TorchScript
        for name, obj in (("encoder.jit", torch.jit.script(enc)), ("decoder.jit", torch.jit.script(dec)),
                          ("mean_std.pt", (mean, std))):
            path = os.path.join(folder, name)
            tmp = f"{path}.tmp.{os.getpid()}"
            obj.save(tmp) if name.endswith(".jit") else torch.save(obj, tmp)
            os.replace(tmp, path)
            paths.append(path)
    return paths
