"""Cosmos-Tokenize1-CV8x8x8-720p (Predict1's continuous causal video tokenizer) behind the project interface.

The released Hub repo ``nvidia/Cosmos-Tokenize1-CV8x8x8-720p`` ships TorchScript ``encoder.jit`` /
``decoder.jit`` (8x temporal, 8x8 spatial, 16 latent channels) and ``mean_std.pt`` (a pair ``(mean, std)`` of
per-channel x per-latent-frame statistics). What this wrapper does, as Predict1's ``VideoJITTokenizer`` plus
the ``sigma_data`` factor of its diffusion model (``encode(x) * sigma_data``, ``decode(z / sigma_data)``):

- Chunking. The video is cut into chunks of ``pixel_chunk_duration`` frames, each encoded on its own;
  a chunk gives ``latent_chunk_duration = (pixel_chunk_duration - 1) // 8 + 1`` latent frames. ``T`` must be a
  multiple of the chunk (no frame is dropped) or 1 (a single image). ``pixel_chunk_duration=1`` (Predict1
  action experiment) encodes every frame as an image: T pixel frames <-> T latent frames, and
  ``temporal_compression_factor`` (pixel frames per latent frame) is then 1.
- Normalisation. ``mean_std.pt`` is viewed as (latent_ch, N) per tensor, its first ``latent_chunk_duration``
  columns kept (stored in the run dtype, as upstream) and applied to every chunk:
  ``latent = sigma_data * (z - mean[c, t]) / std[c, t]``.
- Decode inverts that per latent chunk and runs the decoder per chunk; it does not clamp (callers do).
- The JIT modules run in ``dtype`` (bfloat16 by default); an encoder returning a tuple gives its first tensor.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch

HF_REPO = "nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
DEFAULT_TOKENIZER_DIR = "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
VIDEO_PIXEL_CHUNK_DURATION = 121  # upstream registers the video tokenizer with chunk_duration=121
SIGMA_DATA = 0.5  # Predict1 DefaultModelConfig.sigma_data

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32,
           "float16": torch.float16, "fp16": torch.float16}  # fmt: skip


def download_hint(tokenizer_dir: str) -> str:
    return f"hf download {HF_REPO} --local-dir {tokenizer_dir}"


def tokenizer_files(tokenizer_dir: str = DEFAULT_TOKENIZER_DIR, encoder_file: str = "encoder.jit",
                    decoder_file: str = "decoder.jit", mean_std_file: str = "mean_std.pt") -> list[str]:
    """Paths of the three files the tokenizer reads (used by preflight and the memory plan)."""
    return [os.path.join(str(tokenizer_dir), str(f)) for f in (encoder_file, decoder_file, mean_std_file)]


def jit_file_bytes(tokenizer_dir: str = DEFAULT_TOKENIZER_DIR, encoder_file: str = "encoder.jit",
                   decoder_file: str = "decoder.jit", **_other) -> int:
    """Bytes of ``encoder.jit`` + ``decoder.jit`` on disk (0 for a missing file): the memory plan's estimate of
    the frozen tokenizer (the files hold the weights, in the dtype they were saved in)."""
    paths = tokenizer_files(tokenizer_dir, encoder_file, decoder_file)[:2]
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p))


def _require(path: str, tokenizer_dir: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Cosmos-Tokenize1 file not found: {path!r}; download it with "
                                f"`{download_hint(tokenizer_dir)}`")


def _first_tensor(out, what: str) -> torch.Tensor:
    """The latent / video a JIT module returned (a tensor, or the first item of a tuple / list)."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"Cosmos-Tokenize1 {what} returned {type(out).__name__}, expected a tensor or a tuple of them")
    return out


class Cosmos1CVTokenizer:
    """Frozen Cosmos-Tokenize1 CV tokenizer: video in [-1, 1] (B,3,T,H,W) <-> latents (B,16,t,H/8,W/8) equal to
    ``sigma_data * (z - mean) / std`` (what Predict1's diffusion model trains on).

    Reads exactly ``{tokenizer_dir}/{encoder_file}`` and ``{tokenizer_dir}/{decoder_file}`` with
    ``torch.jit.load(path, map_location=device)`` (by default ``checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p/
    encoder.jit`` / ``decoder.jit``) and ``{tokenizer_dir}/{mean_std_file}`` with
    ``torch.load(..., weights_only=True)``.
    Not an ``nn.Module`` (like the Wan tokenizer), so its weights stay out of the DiT's state dict and optimizer.
    """

    def __init__(
        self,
        tokenizer_dir: str = DEFAULT_TOKENIZER_DIR,
        pixel_chunk_duration: int = VIDEO_PIXEL_CHUNK_DURATION,
        spatial_compression: int = 8,
        temporal_compression: int = 8,
        latent_ch: int = 16,
        dtype: str | torch.dtype = "bfloat16",
        sigma_data: float = SIGMA_DATA,
        max_enc_batch_size: int = 8,
        max_dec_batch_size: int = 4,
        encoder_file: str = "encoder.jit",
        decoder_file: str = "decoder.jit",
        mean_std_file: str = "mean_std.pt",
        device: str | torch.device = "cpu",
    ):
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        device = torch.device(device)
        if dtype == torch.float16 and device.type == "cpu":
            raise ValueError("float16 is not supported on CPU; use dtype='bfloat16' or 'float32'")
        chunk, tc = int(pixel_chunk_duration), int(temporal_compression)
        if chunk < 1 or tc < 1 or (chunk - 1) % tc != 0:
            raise ValueError(f"pixel_chunk_duration={pixel_chunk_duration} must be 1 + k*{tc} "
                             f"(temporal_compression={temporal_compression}), e.g. 1, {1 + tc}, {1 + 15 * tc}")
        if float(sigma_data) <= 0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        self.tokenizer_dir = str(tokenizer_dir)
        self.dtype = dtype
        self.latent_ch = int(latent_ch)
        self.spatial_compression_factor = int(spatial_compression)
        self.network_temporal_compression = tc
        self.pixel_chunk_duration = chunk
        self.latent_chunk_duration = (chunk - 1) // tc + 1
        # Pixel frames per latent frame (1 when every frame is encoded as an image).
        self.temporal_compression_factor = 1 if chunk == 1 else tc
        self.sigma_data = float(sigma_data)
        self.max_enc_batch_size = max(1, int(max_enc_batch_size))
        self.max_dec_batch_size = max(1, int(max_dec_batch_size))

        enc_path, dec_path, ms_path = tokenizer_files(tokenizer_dir, encoder_file, decoder_file, mean_std_file)
        for path in (enc_path, dec_path, ms_path):
            _require(path, self.tokenizer_dir)
        self.encoder = self._load_jit(enc_path, device)
        self.decoder = self._load_jit(dec_path, device)
        self.latent_mean, self.latent_std = self._load_mean_std(ms_path)  # (1,C,latent_chunk,1,1) float32 each
        self._device = device
        self.latent_mean, self.latent_std = self.latent_mean.to(device), self.latent_std.to(device)

    @staticmethod
    def missing_files(tokenizer_dir: str = DEFAULT_TOKENIZER_DIR, encoder_file: str = "encoder.jit",
                      decoder_file: str = "decoder.jit", mean_std_file: str = "mean_std.pt",
                      **_other) -> list[tuple[str, str, str, str]]:
        """``(config key, path, problem, fix)`` for each file of a config node that is not on disk (preflight);
        one entry for the folder when it is missing altogether."""
        fix = download_hint(str(tokenizer_dir))
        if not os.path.isdir(str(tokenizer_dir)):
            return [("tokenizer_dir", str(tokenizer_dir), "does not exist", fix)]
        paths = tokenizer_files(tokenizer_dir, encoder_file, decoder_file, mean_std_file)
        keys = ("encoder_file", "decoder_file", "mean_std_file")
        return [(k, p, "does not exist", fix) for k, p in zip(keys, paths) if not os.path.isfile(p)]

    # ------------------------------------------------------------------ loading
    def _load_jit(self, path: str, device: torch.device) -> torch.jit.ScriptModule:
        try:
            with warnings.catch_warnings():  # torch>=2.9 marks torch.jit deprecated; the release is TorchScript
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                module = torch.jit.load(path, map_location=device)
        except Exception as err:  # truncated download, not TorchScript, ...
            raise ValueError(f"Could not load the TorchScript module {path!r} ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}); delete it and download again: "
                             f"`{download_hint(self.tokenizer_dir)}`") from err
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
        return module.to(self.dtype)

    def _load_mean_std(self, path: str) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            stats = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"Could not read {path!r} ({type(err).__name__}); delete it and download again: "
                             f"`{download_hint(self.tokenizer_dir)}`") from err
        if not (isinstance(stats, (tuple, list)) and len(stats) == 2
                and all(isinstance(s, torch.Tensor) for s in stats)):
            raise ValueError(f"{path!r} must hold a pair (mean, std) of tensors, got {type(stats).__name__}")
        out = []
        for name, s in zip(("mean", "std"), stats):
            if s.numel() % self.latent_ch or s.numel() // self.latent_ch < self.latent_chunk_duration:
                raise ValueError(f"{path!r}: {name} has {s.numel()} values; need latent_ch={self.latent_ch} x at least "
                                 f"latent_chunk_duration={self.latent_chunk_duration} latent frames")
            s_C_N = s.reshape(self.latent_ch, -1)[:, : self.latent_chunk_duration]  # (C, latent_chunk)
            # upstream keeps the statistics in the run dtype: round them the same way, compute in float32
            out.append(s_C_N.to(self.dtype).float().reshape(1, self.latent_ch, self.latent_chunk_duration, 1, 1))
        if not torch.all(out[1] != 0):
            raise ValueError(f"{path!r}: std has zeros")
        return out[0], out[1]

    # ------------------------------------------------------------------ interface
    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: str | torch.device) -> Cosmos1CVTokenizer:
        device = torch.device(device)
        if self.dtype == torch.float16 and device.type == "cpu":
            raise ValueError("float16 is not supported on CPU; use dtype='bfloat16' or 'float32'")
        self.encoder.to(device)
        self.decoder.to(device)
        self.latent_mean, self.latent_std = self.latent_mean.to(device), self.latent_std.to(device)
        self._device = device
        return self

    def valid_frame_counts(self, latent: bool = False) -> str:
        step = self.latent_chunk_duration if latent else self.pixel_chunk_duration
        return "any count >= 1" if step == 1 else f"1 or a multiple of {step} ({step}, {2 * step}, {3 * step}, ...)"

    def get_latent_num_frames(self, num_pixel_frames: int) -> int:
        t = int(num_pixel_frames)
        if t == 1:
            return 1
        if t < 1 or t % self.pixel_chunk_duration:
            raise ValueError(f"Cosmos-Tokenize1 with pixel_chunk_duration={self.pixel_chunk_duration} cannot encode "
                             f"{t} frames; valid frame counts: {self.valid_frame_counts()}")
        return t // self.pixel_chunk_duration * self.latent_chunk_duration

    def get_pixel_num_frames(self, num_latent_frames: int) -> int:
        t = int(num_latent_frames)
        if t == 1:
            return 1
        if t < 1 or t % self.latent_chunk_duration:
            raise ValueError(f"Cosmos-Tokenize1 with latent_chunk_duration={self.latent_chunk_duration} cannot decode "
                             f"{t} latent frames; valid latent frame counts: {self.valid_frame_counts(latent=True)}")
        return t // self.latent_chunk_duration * self.pixel_chunk_duration

    def _chunks(self, num_frames: int) -> tuple[int, int]:
        """(pixel, latent) frames per chunk for a clip of ``num_frames``: one 1-frame chunk for a single frame."""
        if num_frames == 1:
            return 1, 1
        return self.pixel_chunk_duration, self.latent_chunk_duration

    def _run_chunked(self, fn: Callable, x_B_C_T_H_W: torch.Tensor, chunk: int, batch: int) -> list[torch.Tensor]:
        """Split time into chunks, fold them into the batch, run ``fn`` ``batch`` chunks at a time."""
        b, c, t, h, w = x_B_C_T_H_W.shape
        n = t // chunk
        x = x_B_C_T_H_W.reshape(b, c, n, chunk, h, w).transpose(1, 2).reshape(b * n, c, chunk, h, w)  # (B*N,C,chunk,..)
        return [fn(x[i : i + batch]) for i in range(0, b * n, batch)]

    @staticmethod
    def _unfold(y: torch.Tensor, b: int) -> torch.Tensor:
        """(B*N, C, t, H, W) -> (B, C, N*t, H, W)."""
        bn, c, t, h, w = y.shape
        return y.reshape(b, bn // b, c, t, h, w).transpose(1, 2).reshape(b, c, (bn // b) * t, h, w)

    @torch.no_grad()
    def encode(self, video_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Video in [-1,1] (B,3,T,H,W) -> sigma_data * (z - mean) / std, (B,16,get_latent_num_frames(T),H/8,W/8)."""
        sf = self.spatial_compression_factor
        if video_B_C_T_H_W.ndim != 5 or video_B_C_T_H_W.shape[1] != 3:
            raise ValueError(f"encode expects video (B,3,T,H,W) in [-1,1], got shape {tuple(video_B_C_T_H_W.shape)}")
        if video_B_C_T_H_W.shape[3] % sf or video_B_C_T_H_W.shape[4] % sf:
            raise ValueError(f"video H,W must be multiples of {sf}, got {tuple(video_B_C_T_H_W.shape[3:])}")
        b, _, t, h, w = video_B_C_T_H_W.shape
        self.get_latent_num_frames(t)  # raises on a frame count the chunking cannot handle
        chunk, lchunk = self._chunks(t)
        out_dtype = video_B_C_T_H_W.dtype if video_B_C_T_H_W.is_floating_point() else torch.float32
        x = video_B_C_T_H_W.to(device=self.device, dtype=self.dtype)
        want = (self.latent_ch, lchunk, h // sf, w // sf)
        z_parts = self._run_chunked(lambda c: _first_tensor(self.encoder(c), "encoder"), x, chunk,
                                    self.max_enc_batch_size)
        for z in z_parts:  # (n, C, latent_chunk, h, w)
            if tuple(z.shape[1:]) != want:
                raise ValueError(f"encoder.jit returned {tuple(z.shape)} for a {chunk}-frame chunk; expected "
                                 f"(n, {', '.join(map(str, want))}) (check latent_ch / spatial / temporal compression)")
        z = torch.cat(z_parts).float()  # (B*N, C, latent_chunk, h, w)
        z = (z - self.latent_mean[:, :, :lchunk]) / self.latent_std[:, :, :lchunk] * self.sigma_data
        return self._unfold(z, b).to(out_dtype)

    @torch.no_grad()
    def decode(self, latent_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B,16,t,h,w) -> video (B,3,get_pixel_num_frames(t),8h,8w), roughly [-1,1], unclamped."""
        if latent_B_C_T_H_W.ndim != 5 or latent_B_C_T_H_W.shape[1] != self.latent_ch:
            raise ValueError(f"decode expects (B,{self.latent_ch},t,h,w), got {tuple(latent_B_C_T_H_W.shape)}")
        b, _, t, h, w = latent_B_C_T_H_W.shape
        self.get_pixel_num_frames(t)
        chunk, lchunk = self._chunks(t)
        out_dtype = latent_B_C_T_H_W.dtype
        z = latent_B_C_T_H_W.to(device=self.device, dtype=torch.float32)
        n = t // lchunk
        mean = self.latent_mean[:, :, :lchunk].unsqueeze(2)  # (1, C, 1, latent_chunk, 1, 1): same for every chunk
        std = self.latent_std[:, :, :lchunk].unsqueeze(2)
        z = z.reshape(b, self.latent_ch, n, lchunk, h, w) / self.sigma_data * std + mean  # (B,C,N,latent_chunk,h,w)
        z = z.reshape(b, self.latent_ch, t, h, w).to(self.dtype)
        sf = self.spatial_compression_factor
        parts = self._run_chunked(lambda c: _first_tensor(self.decoder(c), "decoder"), z, lchunk,
                                  self.max_dec_batch_size)
        for y in parts:  # (n, 3, chunk, H, W)
            if tuple(y.shape[1:]) != (3, chunk, h * sf, w * sf):
                raise ValueError(f"decoder.jit returned {tuple(y.shape)} for a {lchunk}-latent-frame chunk; expected "
                                 f"(n, 3, {chunk}, {h * sf}, {w * sf})")
        return self._unfold(torch.cat(parts), b).to(out_dtype)
