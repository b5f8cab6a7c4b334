"""TinyVideoTokenizer: a fixed, training-free linear video tokenizer with the Wan2.1 geometry, for CPU work.

What it is
    An orthonormal block transform. Pixels are split into causal space-time blocks with the same geometry
    as the Wan2.1 VAE: the first frame alone (1x8x8x3 blocks) and then groups of 4 frames (4x8x8x3 blocks).
    Each block is projected onto ``latent_ch`` separable basis functions (16 by default, the Wan2.1 latent
    width; the tiny experiments use 64), colour x time x space:
      colour: an orthonormal luma / chroma basis  Y=(1,1,1)/sqrt3, C1=(1,0,-1)/sqrt2, C2=(1,-2,1)/sqrt6
      time:   DCT-II over the 4 frames of a group (index 0 = mean over the group, 1 = linear trend)
      space:  8x8 DCT-II (indices (u, v) = vertical, horizontal frequency)
    The first 16 basis functions (``FIRST_FRAME_BASIS`` / ``GROUP_BASIS``) are the DCT coefficients with the
    largest mean energy, measured once on two kinds of flat-colour tabletop video (equally weighted): the
    drawn scenes of tests/unit/test_tokenizer_tiny.py and episodes of the project's synthetic renderer
    (cosmos_predict2/data/synthetic.py); channels beyond 16 take the next lowest frequencies by a fixed rule
    (:func:`basis_entries`). The lists are hard-coded; nothing is learned at run time.
    Channels 0-13 are the same spatial coefficients for the first frame and for the 4-frame groups (for
    groups: of the group mean), so a static video has the same latent in every latent frame. Channels 14-15
    hold finer vertical luma detail for the first frame and, for groups, the linear trend over the 4 frames
    of the block's mean luma and of its horizontal luma gradient: this is what lets (slow) motion inside a
    group survive the 4x temporal compression.
    The coefficients (divided by sqrt(frames * 64)) are then normalised with fixed per-channel means and
    one global scale measured once on the synthetic renderer (``tiny_tokenizer_stats.json``, like the
    published Wan2.1 mean/std), so latents have unit overall scale, which diffusion training needs, while
    keeping the channels' relative sizes (latent squared error stays proportional to pixel squared error);
    ``normalize=False`` gives the raw coefficients.

Properties
    - Deterministic, no weights, no downloads; encode/decode are two einsums (fast on CPU).
    - Causal: latent frame k depends only on pixel frames of group k.
    - ``decode`` is the exact adjoint of ``encode``: ``encode(decode(z)) == z`` (up to float rounding) and
      ``decode(encode(x))`` is the orthogonal projection of x onto the ``latent_ch``-dim block subspace. Like the Wan2.1
      VAE (and upstream), ``decode`` does not clamp: values may leave [-1, 1] and callers clamp before making
      pixels (``tokenizers.common.video_to_uint8``); ``clamp=True`` opts in to clipping inside ``decode``.
    - Same frame-count rule as the Wan2.1 VAE: ``encode`` needs ``T = 1 + 4k`` frames and raises a
      ``ValueError`` otherwise (nothing is dropped silently), so CPU runs catch what would fail on the VAE.
    - ``encode_frames_independently=True`` codes every frame as its own image (first-frame basis):
      T pixel frames <-> T latent frames, ``temporal_compression_factor`` 1 (Predict1 action setting).

What it is not
    Not a learned perceptual VAE. It keeps only low spatial frequencies (edges are blurred over ~8 px, with
    slight ringing), only the mean and linear trend of each 8x8 block over 4 frames (faster or non-linear
    motion inside a group turns into a cross-fade), and no texture; thin parts (a 3-px gripper finger at
    64x64) are smeared (round-trip PSNR: BENCHMARKS.md section 1, "Tiny tokenizer round trip").
    Real camera footage with texture will be much worse; use the Wan2.1 VAE for real data.
"""

from __future__ import annotations

import math

import torch

from cosmos_predict2.tokenizers.common import apply_per_frame, check_temporal_frames

# (colour, time, u, v): colour 0=Y, 1=C1, 2=C2; time = DCT index over the 4-frame group; u/v = 8x8 DCT indices.
_SHARED_SPATIAL = [(0, 0, 0, 0), (1, 0, 0, 0), (2, 0, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 2, 0),
                   (0, 0, 0, 2), (1, 0, 1, 0), (1, 0, 0, 1), (0, 0, 1, 1), (2, 0, 0, 1), (2, 0, 1, 0),
                   (0, 0, 1, 2), (0, 0, 0, 3)]  # fmt: skip
FIRST_FRAME_BASIS = _SHARED_SPATIAL + [(0, 0, 4, 0), (0, 0, 3, 0)]
GROUP_BASIS = _SHARED_SPATIAL + [(0, 1, 0, 0), (0, 1, 0, 1)]
NUM_SHARED_CHANNELS = len(_SHARED_SPATIAL)  # channels 0..13 mean the same for the first frame and groups
MAX_LATENT_CH = 192  # 3 colours x 64 spatial coefficients (the first-frame basis has no more)


def _frequency_rank(entry: tuple[int, int, int, int]) -> tuple:
    """Order of the extra channels beyond 16: low space-time frequency first, luma before chroma."""
    c, t, u, v = entry
    return (u + v + 2 * t + (1 if c > 0 else 0), c, t, u, v)


def basis_entries(latent_ch: int) -> tuple[list, list]:
    """(first-frame, group) basis entries for ``latent_ch`` channels: the 16 measured ones, then the next
    lowest frequencies by :func:`_frequency_rank` (a fixed rule, not fitted to data)."""
    if not 16 <= latent_ch <= MAX_LATENT_CH:
        raise ValueError(f"TinyVideoTokenizer latent_ch must be in [16, {MAX_LATENT_CH}], got {latent_ch}")
    spatial = [(u, v) for u in range(8) for v in range(8)]
    all_first = sorted(((c, 0, u, v) for c in range(3) for u, v in spatial), key=_frequency_rank)
    all_group = sorted(((c, t, u, v) for c in range(3) for t in range(4) for u, v in spatial), key=_frequency_rank)
    extra = latent_ch - 16
    first = FIRST_FRAME_BASIS + [e for e in all_first if e not in FIRST_FRAME_BASIS][:extra]
    group = GROUP_BASIS + [e for e in all_group if e not in GROUP_BASIS][:extra]
    return first, group

_COLOUR = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]], dtype=torch.float64)
_COLOUR = _COLOUR / _COLOUR.norm(dim=1, keepdim=True)


def _dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix (row k = k-th basis vector), float64."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    mat = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    mat[0] /= math.sqrt(2.0)
    return mat


def _basis(entries: list[tuple[int, int, int, int]], frames: int) -> torch.Tensor:
    """Basis tensor (K, 3, frames, 8, 8) whose flattened rows are orthonormal."""
    dct_t, dct_s = _dct_matrix(frames), _dct_matrix(8)
    rows = [torch.einsum("c,t,y,x->ctyx", _COLOUR[c], dct_t[t], dct_s[u], dct_s[v]) for c, t, u, v in entries]
    return torch.stack(rows).float()


class TinyVideoTokenizer:
    """Linear causal block tokenizer: (B,3,T,H,W) in [-1,1] <-> (B,K,1+(T-1)//4,H/8,W/8), K = ``latent_ch``
    (16 by default). See module doc."""

    spatial_compression_factor = 8

    def __init__(
        self,
        clamp: bool = False,
        device: str | torch.device = "cpu",
        encode_frames_independently: bool = False,
        latent_ch: int = 16,
        normalize: bool = True,
    ):
        # 16 channels = the Wan2.1 latent width; more channels keep more detail (BENCHMARKS.md section 1).
        first_entries, group_entries = basis_entries(int(latent_ch))
        self.latent_ch = int(latent_ch)
        self.clamp = bool(clamp)
        # Every frame coded as its own image (first-frame basis): T latent frames for T pixel frames.
        self.encode_frames_independently = bool(encode_frames_independently)
        self.temporal_compression_factor = 1 if self.encode_frames_independently else 4
        self._first = _basis(first_entries, 1).to(device)  # (K, 3, 1, 8, 8)
        self._group = _basis(group_entries, 4).to(device)  # (K, 3, 4, 8, 8)
        self._first_scale = 1.0 / math.sqrt(1 * 64)
        self._group_scale = 1.0 / math.sqrt(4 * 64)
        # Normalisation to unit overall scale (see tiny_tokenizer_stats.py): per-channel means (first-frame
        # and 4-frame-group latents apart) and one global scale; identity when ``normalize=False``.
        self.normalize = bool(normalize)
        k = self.latent_ch
        if self.normalize:
            from cosmos_predict2.tokenizers.tiny_tokenizer_stats import load_stats

            stats = load_stats()
            stat = {key: torch.tensor(stats[key][:k]).view(1, k, 1, 1, 1) for key in
                    ("first_mean", "first_std", "group_mean", "group_std")}
            # the shared spatial channels mean the same in every latent frame: one normalisation for both,
            # so a static video still has the same latent in every latent frame
            n = NUM_SHARED_CHANNELS
            stat["first_mean"][:, :n] = stat["group_mean"][:, :n]
            # One global scale (the RMS of the channel stds), not one per channel: channels keep their
            # relative sizes, so a squared error in latent space stays proportional to the pixel-space
            # squared error (the basis is orthonormal) and the diffusion loss weights detail like PSNR does.
            scale = torch.cat([stat["first_std"], stat["group_std"]]).pow(2).mean().sqrt()
            stat["first_std"] = torch.full_like(stat["first_std"], float(scale))
            stat["group_std"] = torch.full_like(stat["group_std"], float(scale))
        else:
            stat = {"first_mean": torch.zeros(1, k, 1, 1, 1), "group_mean": torch.zeros(1, k, 1, 1, 1),
                    "first_std": torch.ones(1, k, 1, 1, 1), "group_std": torch.ones(1, k, 1, 1, 1)}
        self._mean = torch.cat([stat["first_mean"], stat["group_mean"]], dim=2).to(device)  # (1,K,2,1,1)
        self._std = torch.cat([stat["first_std"], stat["group_std"]], dim=2).to(device)

    @property
    def device(self) -> torch.device:
        return self._first.device

    def to(self, device: str | torch.device) -> TinyVideoTokenizer:
        self._first, self._group = self._first.to(device), self._group.to(device)
        self._mean, self._std = self._mean.to(device), self._std.to(device)
        return self

    def _stats_for(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) broadcastable to (B,K,t,h,w): latent frame 0 uses the first-frame statistics."""
        index = torch.tensor([0] + [1] * (t - 1), device=self._mean.device)
        return self._mean.index_select(2, index), self._std.index_select(2, index)

    def get_latent_num_frames(self, num_pixel_frames: int) -> int:
        return 1 + (int(num_pixel_frames) - 1) // self.temporal_compression_factor

    def get_pixel_num_frames(self, num_latent_frames: int) -> int:
        return (int(num_latent_frames) - 1) * self.temporal_compression_factor + 1

    @torch.no_grad()
    def encode(self, video_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Video in [-1,1] (B,3,T,H,W), T = 1 + 4k (any T when ``encode_frames_independently``) -> latents
        (B,K,1+(T-1)//4,H/8,W/8), in the input's float dtype. Other T raise a ``ValueError``."""
        if video_B_C_T_H_W.ndim != 5 or video_B_C_T_H_W.shape[1] != 3:
            raise ValueError(f"encode expects video (B,3,T,H,W) in [-1,1], got shape {tuple(video_B_C_T_H_W.shape)}")
        b, _, t, h, w = video_B_C_T_H_W.shape
        if h % 8 or w % 8 or t < 1:
            raise ValueError(f"video needs T>=1 and H, W multiples of 8, got T,H,W={t},{h},{w}")
        if self.encode_frames_independently and t > 1:
            return apply_per_frame(self.encode, video_B_C_T_H_W)
        check_temporal_frames(t, 4, what="TinyVideoTokenizer encode")
        out_dtype = video_B_C_T_H_W.dtype if video_B_C_T_H_W.is_floating_point() else torch.float32
        x = video_B_C_T_H_W.to(device=self.device, dtype=torch.float32)
        groups = (t - 1) // 4
        first = x[:, :, :1].reshape(b, 3, 1, h // 8, 8, w // 8, 8)
        z_first = torch.einsum("bctiyjx,kctyx->bkij", first, self._first)[:, :, None] * self._first_scale
        rest = x[:, :, 1 : 1 + 4 * groups].reshape(b, 3, groups, 4, h // 8, 8, w // 8, 8)
        z_rest = torch.einsum("bcgtiyjx,kctyx->bkgij", rest, self._group) * self._group_scale
        z = torch.cat([z_first, z_rest], dim=2)
        mean, std = self._stats_for(z.shape[2])
        return ((z - mean) / std).to(out_dtype)

    @torch.no_grad()
    def decode(self, latent_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Latents (B,K,t,h,w) -> video (B,3,4(t-1)+1,8h,8w), not clamped unless ``clamp`` (see module doc)."""
        if latent_B_C_T_H_W.ndim != 5 or latent_B_C_T_H_W.shape[1] != self.latent_ch:
            raise ValueError(
                f"decode expects latents (B,{self.latent_ch},t,h,w), got shape {tuple(latent_B_C_T_H_W.shape)}")
        b, _, t, h, w = latent_B_C_T_H_W.shape
        if self.encode_frames_independently and t > 1:
            return apply_per_frame(self.decode, latent_B_C_T_H_W)
        z = latent_B_C_T_H_W.to(device=self.device, dtype=torch.float32)
        mean, std = self._stats_for(t)
        z = z * std + mean
        # The adjoint of encode, rescaled so that decode(encode(.)) is the orthogonal projection.
        first = torch.einsum("bkij,kctyx->bctiyjx", z[:, :, 0], self._first) / self._first_scale
        rest = torch.einsum("bkgij,kctyx->bcgtiyjx", z[:, :, 1:], self._group) / self._group_scale
        video = torch.cat(
            [first.reshape(b, 3, 1, h * 8, w * 8), rest.reshape(b, 3, 4 * (t - 1), h * 8, w * 8)], dim=2
        )
        if self.clamp:
            video = video.clamp(-1.0, 1.0)
        return video.to(latent_B_C_T_H_W.dtype)
