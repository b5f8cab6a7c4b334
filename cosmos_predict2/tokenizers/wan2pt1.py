"""Wan2.1 causal video VAE and the tokenizer wrapper used by Video2World (4x temporal, 8x8 spatial, 16 ch).

- ``WanVAE``: the network (layout of the released ``Wan2.1_VAE.pth`` / Cosmos ``tokenizer.pth``; blocks in
  ``wan2pt1_modules.py``). ``encode_mu`` runs the causal encoder on the first frame alone, then on windows
  of ``temporal_window`` frames with a feature cache, and returns ``mu`` (``log_var`` is dropped).
  ``decode`` runs the causal decoder one latent frame at a time with a cache and does NOT clamp, as
  upstream (P2 ``tokenizers/tokenizer.py``, P2.5 ``wan2pt1.py``): values may leave [-1, 1]. Callers that
  turn decoded video into pixels, uint8 or metrics clamp first (``tokenizers.common.video_to_uint8``), as
  upstream's pipelines do after decoding.
- ``Wan2pt1VAETokenizer``: the project tokenizer interface (see tokenizers/common.py): video in [-1, 1]
  -> latents normalised per channel as ``(mu - mean[c]) / std[c]`` with the published Wan2.1 constants.

Frame-count rule: a clip must have ``T = 1 + 4k`` pixel frames, giving ``T_latent = 1 + (T - 1) // 4``;
``T_pixel = 4 * (T_latent - 1) + 1``. Any other count raises a ``ValueError`` naming the count and the
nearest valid ones (upstream encodes the leftover frames as a short last window, which fails inside a conv
for some counts, e.g. 6 or 7 frames; frames are never dropped silently here). With
``encode_frames_independently=True`` (Predict1 action setting) every frame is encoded/decoded as its own
image: any T works, ``T_latent = T_pixel`` and ``temporal_compression_factor`` is 1.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Sequence

import torch
import torch.nn as nn

from cosmos_predict2.tokenizers.common import apply_per_frame, check_temporal_frames
from cosmos_predict2.tokenizers.wan2pt1_modules import CausalConv3d, Decoder3d, Encoder3d

# Published per-channel statistics of Wan2.1 VAE latents (mu), used for normalisation.
WAN2PT1_LATENT_MEAN = [
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
]  # fmt: skip
WAN2PT1_LATENT_STD = [
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
]  # fmt: skip

DEFAULT_VAE_PTH = "checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/tokenizer/tokenizer.pth"
DOWNLOAD_HINT = (
    "Download it with `python scripts/download_checkpoints.py` or "
    "`huggingface-cli download nvidia/Cosmos-Predict2-2B-Video2World tokenizer/tokenizer.pth "
    "--local-dir checkpoints/nvidia/Cosmos-Predict2-2B-Video2World` "
    "(the same weights are `Wan2.1_VAE.pth` in Wan-AI/Wan2.1-T2V-1.3B)."
)

_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "bf16": torch.bfloat16, "fp32": torch.float32}


class WanVAE(nn.Module):
    """Wan2.1 VAE network. Defaults are the released config (126.9 M parameters)."""

    def __init__(
        self,
        dim: int = 96,
        z_dim: int = 16,
        dim_mult: Sequence[int] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        temperal_downsample: Sequence[bool] = (False, True, True),
        dropout: float = 0.0,
    ):
        super().__init__()
        if len(temperal_downsample) != len(dim_mult) - 1:
            raise ValueError(
                f"temperal_downsample needs len(dim_mult)-1={len(dim_mult) - 1} entries, "
                f"got {list(temperal_downsample)}"
            )
        self.config = dict(base_dim=dim, z_dim=z_dim, dim_mult=tuple(dim_mult), num_res_blocks=num_res_blocks,
                           temperal_downsample=tuple(bool(t) for t in temperal_downsample))  # fmt: skip
        self.z_dim = z_dim
        self.temporal_factor = 2 ** sum(bool(t) for t in temperal_downsample)
        self.spatial_factor = 2 ** (len(dim_mult) - 1)
        self.encoder = Encoder3d(dim, z_dim * 2, dim_mult, num_res_blocks, temperal_downsample, dropout)
        self.conv1 = CausalConv3d(z_dim * 2, z_dim * 2, 1)
        self.conv2 = CausalConv3d(z_dim, z_dim, 1)
        self.decoder = Decoder3d(dim, z_dim, dim_mult, num_res_blocks, list(temperal_downsample)[::-1], dropout)

    def encode_mu(self, x_B_C_T_H_W: torch.Tensor, temporal_window: int = 4) -> torch.Tensor:
        """Un-normalised posterior mean: (B,3,T,H,W) -> (B,z,1+(T-1)//tf,H/sf,W/sf); T must be ``1 + tf*k``."""
        tf = self.temporal_factor
        if temporal_window % tf != 0 or temporal_window <= 0:
            raise ValueError(f"temporal_window must be a positive multiple of {tf}, got {temporal_window}")
        t = x_B_C_T_H_W.shape[2]
        check_temporal_frames(t, tf, what="Wan2.1 VAE encode")
        cache: dict = {}
        chunks = [self.encoder(x_B_C_T_H_W[:, :, :1], cache)]
        for start in range(1, t, temporal_window):  # every window is a multiple of tf frames
            chunks.append(self.encoder(x_B_C_T_H_W[:, :, start : min(start + temporal_window, t)], cache))
        mu_logvar = self.conv1(torch.cat(chunks, dim=2))
        return mu_logvar[:, : self.z_dim]

    def decode(self, z_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Un-normalised latents -> pixels (nominally [-1, 1], NOT clamped, as upstream), decoding one latent
        frame at a time."""
        x = self.conv2(z_B_C_T_H_W)
        cache: dict = {}
        frames = [self.decoder(x[:, :, i : i + 1], cache) for i in range(x.shape[2])]
        return torch.cat(frames, dim=2)


def load_wan_vae_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read a Wan2.1 VAE checkpoint (original layout or diffusers layout) as an original-layout state dict."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Wan2.1 VAE checkpoint not found: {path!r}. {DOWNLOAD_HINT}")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu", mmap=True)  # read as the tensors are used
    except Exception as err:  # truncated download, wrong format, ...
        raise ValueError(
            f"Could not read the Wan2.1 VAE checkpoint {path!r} ({type(err).__name__}: {err}). "
            f"The file is probably corrupt or incomplete; delete it and download again. {DOWNLOAD_HINT}"
        ) from err
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path!r} does not hold a state dict of tensors (got {type(state).__name__}).")
    if "encoder.conv_in.weight" in state:  # diffusers AutoencoderKLWan layout
        from cosmos_predict2.tokenizers.wan2pt1_key_map import diffusers_to_wan_state_dict

        state = diffusers_to_wan_state_dict(state)
    return state


def load_wan_vae_weights(model: WanVAE, path: str, dtype: torch.dtype | None = None) -> None:
    """Load ``path`` into ``model`` strictly, naming missing / unexpected / mis-shaped keys on failure. A model
    on the meta device takes the file's tensors (converted to ``dtype``) as its parameters."""
    state = load_wan_vae_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in own if k in state and state[k].shape != own[k].shape]  # fmt: skip
    if missing or unexpected or bad_shape:
        raise ValueError(
            f"{path!r} does not match the Wan2.1 VAE config: missing keys {missing[:8]} ({len(missing)}), "
            f"unexpected keys {unexpected[:8]} ({len(unexpected)}), shape mismatches {bad_shape[:8]}. "
            "Check base_dim / z_dim / dim_mult / num_res_blocks against the checkpoint."
        )
    meta = any(p.is_meta for p in model.parameters())
    if meta:  # no second copy: the parameters become the (converted) file tensors
        state = {k: v.to(dtype or v.dtype, copy=True) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=meta)


class Wan2pt1VAETokenizer:
    """Frozen Wan2.1 VAE behind the project tokenizer interface (video in [-1, 1] <-> normalised latents).

    Not an ``nn.Module`` on purpose: its weights must not end up in the DiT's state dict or optimizer.
    ``encode`` returns latents in the input's floating dtype; the VAE itself runs in ``dtype``.
    """

    def __init__(
        self,
        vae_pth: str = DEFAULT_VAE_PTH,
        dtype: str | torch.dtype = "bfloat16",
        temporal_window: int = 4,
        z_dim: int = 16,
        base_dim: int = 96,
        dim_mult: Sequence[int] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        temperal_downsample: Sequence[bool] = (False, True, True),
        load_weights: bool = True,
        device: str | torch.device = "cpu",
        latent_mean: Sequence[float] | None = None,
        latent_std: Sequence[float] | None = None,
        encode_frames_independently: bool = False,
    ):
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        if dtype == torch.float16 and torch.device(device).type == "cpu":
            raise ValueError("float16 is not supported on CPU; use dtype='bfloat16' or 'float32'")
        self.vae_pth = vae_pth
        self.dtype = dtype
        self.temporal_window = int(temporal_window)
        self.encode_frames_independently = bool(encode_frames_independently)
        with torch.device("meta") if load_weights else contextlib.nullcontext():  # no random init to overwrite
            self.model = WanVAE(base_dim, z_dim, tuple(dim_mult), num_res_blocks, tuple(temperal_downsample))
        if load_weights:
            load_wan_vae_weights(self.model, vae_pth, dtype)
        self.model.eval().requires_grad_(False).to(device=device, dtype=dtype)

        if latent_mean is None:
            latent_mean = WAN2PT1_LATENT_MEAN if z_dim == 16 else [0.0] * z_dim
        if latent_std is None:
            latent_std = WAN2PT1_LATENT_STD if z_dim == 16 else [1.0] * z_dim
        if len(latent_mean) != z_dim or len(latent_std) != z_dim:
            raise ValueError(f"latent_mean/latent_std need {z_dim} entries, got {len(latent_mean)}/{len(latent_std)}")
        self.latent_mean = torch.tensor(latent_mean, dtype=torch.float32).view(1, z_dim, 1, 1, 1)
        self.latent_std = torch.tensor(latent_std, dtype=torch.float32).view(1, z_dim, 1, 1, 1)

        self.latent_ch = z_dim
        self.spatial_compression_factor = self.model.spatial_factor
        if self.temporal_window % self.model.temporal_factor != 0:
            raise ValueError(f"temporal_window={temporal_window} must be a multiple of {self.model.temporal_factor}")
        # Pixel frames per latent frame (1 when every frame is encoded as an image).
        self.temporal_compression_factor = 1 if self.encode_frames_independently else self.model.temporal_factor

    @property
    def device(self) -> torch.device:
        return self.model.conv1.weight.device

    def to(self, device: str | torch.device) -> Wan2pt1VAETokenizer:
        self.model.to(device)
        return self

    def get_latent_num_frames(self, num_pixel_frames: int) -> int:
        return 1 + (int(num_pixel_frames) - 1) // self.temporal_compression_factor

    def get_pixel_num_frames(self, num_latent_frames: int) -> int:
        return (int(num_latent_frames) - 1) * self.temporal_compression_factor + 1

    def _check_video(self, video: torch.Tensor) -> None:
        sf = self.spatial_compression_factor
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"encode expects video (B,3,T,H,W) in [-1,1], got shape {tuple(video.shape)}")
        if video.shape[3] % sf or video.shape[4] % sf:
            raise ValueError(f"video H,W must be multiples of {sf}, got {tuple(video.shape[3:])}")
        check_temporal_frames(video.shape[2], self.temporal_compression_factor, what="Wan2.1 VAE tokenizer encode")

    @torch.no_grad()
    def encode(self, video_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Video in [-1,1] (B,3,T,H,W) with T = 1 + 4k -> normalised latents (B,z,1+(T-1)//4,H/8,W/8) (any T,
        giving T latent frames, when ``encode_frames_independently``). Other T raise a ``ValueError``."""
        self._check_video(video_B_C_T_H_W)
        if self.encode_frames_independently:
            return apply_per_frame(self._encode_clip, video_B_C_T_H_W)
        return self._encode_clip(video_B_C_T_H_W)

    def _encode_clip(self, video_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        out_dtype = video_B_C_T_H_W.dtype if video_B_C_T_H_W.is_floating_point() else torch.float32
        x = video_B_C_T_H_W.to(device=self.device, dtype=self.dtype)
        mu = self.model.encode_mu(x, self.temporal_window).float()
        latent = (mu - self.latent_mean.to(mu.device)) / self.latent_std.to(mu.device)
        return latent.to(out_dtype)

    @torch.no_grad()
    def decode(self, latent_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B,z,t,h,w) -> video (B,3,4(t-1)+1,8h,8w), nominally in [-1,1] but not clamped
        (as upstream); clamp before turning it into pixels (``tokenizers.common.video_to_uint8``)."""
        if latent_B_C_T_H_W.ndim != 5 or latent_B_C_T_H_W.shape[1] != self.latent_ch:
            raise ValueError(f"decode expects (B,{self.latent_ch},t,h,w), got {tuple(latent_B_C_T_H_W.shape)}")
        if self.encode_frames_independently:
            return apply_per_frame(self._decode_clip, latent_B_C_T_H_W)
        return self._decode_clip(latent_B_C_T_H_W)

    def _decode_clip(self, latent_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        out_dtype = latent_B_C_T_H_W.dtype
        z = latent_B_C_T_H_W.to(device=self.device, dtype=torch.float32)
        z = z * self.latent_std.to(z.device) + self.latent_mean.to(z.device)
        return self.model.decode(z.to(self.dtype)).to(out_dtype)


def wan_vae_for(node) -> WanVAE:
    """The (freshly initialised) :class:`WanVAE` a ``Wan2pt1VAETokenizer`` config node describes, built on the
    current default device (``meta`` to count it without memory); absent keys take the tokenizer's defaults."""
    defaults = inspect.signature(Wan2pt1VAETokenizer.__init__).parameters

    def get(key):
        value = node[key] if key in node else None
        return defaults[key].default if value is None else value

    return WanVAE(int(get("base_dim")), int(get("z_dim")), tuple(get("dim_mult")), int(get("num_res_blocks")),
                  tuple(get("temperal_downsample")))

