"""Frame metrics for action-conditioned video prediction: PSNR, dynamic PSNR, SSIM, latent L2, grayscale.

Conventions (all functions):
- Frames are uint8 (or float in [0, 255]) arrays / tensors shaped (T, H, W, 3) (or (T, H, W, 1) grayscale).
- Frame 0 is the conditioning frame (given, not predicted): :func:`frame_metrics`, :func:`dynamic_psnr` and
  :func:`latent_l2` exclude it. The per-frame functions themselves score every frame they are given.
- A prediction whose size differs from the ground truth is resized to the GT size first
  (bilinear + antialias, :func:`resize_frames`). The named protocols of
  :mod:`cosmos_predict2.evaluation.protocols` that follow IRASim resize the GT to the prediction's size instead,
  before calling these functions.
- Math in float64.

PSNR is ``10 log10(255^2 / MSE)`` per frame (inf for identical frames). SSIM (:func:`ssim_per_frame`) has two
windows, each scikit-image's ``structural_similarity(a, b, channel_axis=-1, data_range=255, ...)``:
``"gaussian"`` (``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``: 11x11 Gaussian window,
sigma 1.5, truncate 3.5, population covariance, the SSIM map cropped by 5 pixels) and ``"uniform"``
(scikit-image's defaults: 7x7 uniform window, sample covariance ``49/48``, the map cropped by 3 pixels); K1=0.01,
K2=0.03; the crop makes the border mode irrelevant; averaged over pixels and then over channels. Dynamic PSNR
(:func:`dynamic_psnr`) is one PSNR per clip over the pixels where the GT moves most. :func:`gray_frames` is
OpenCV's ``cvtColor(frame, COLOR_BGR2GRAY)`` of a decoded video frame.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DATA_RANGE", "PSNR_CAP_DB", "SSIM_WINDOWS", "to_frames", "resize_frames", "gray_frames", "psnr_per_frame",
    "ssim_per_frame",
    "frame_metrics", "encode_frames", "latent_l2", "capped_mean_psnr", "DYNAMIC_PERCENTILE", "dynamic_mask",
    "dynamic_psnr", "episode_scores",
]

log = logging.getLogger(__name__)

DATA_RANGE = 255.0
#: per-frame PSNR above this (identical frames give inf) is capped at it when averaging
PSNR_CAP_DB = 100.0
#: GT motion percentile above which a pixel counts as dynamic (the top 20%)
DYNAMIC_PERCENTILE = 80.0
_SSIM_SIGMA, _SSIM_TRUNCATE, _K1, _K2 = 1.5, 3.5, 0.01, 0.03
SSIM_WINDOWS = ("gaussian", "uniform")
_UNIFORM_WIN = 7
#: OpenCV's 8-bit BGR2GRAY: Y = (R*9798 + G*19235 + B*3735 + 2^14) >> 15 (coefficients 0.299/0.587/0.114 * 2^15)
_GRAY_R, _GRAY_G, _GRAY_B, _GRAY_SHIFT = 9798, 19235, 3735, 15

ArrayLike = Union[np.ndarray, torch.Tensor]


def to_frames(x: ArrayLike, name: str = "frames") -> torch.Tensor:
    """(T, H, W, 3) or (T, H, W, 1) uint8/float array or tensor -> float64 tensor of the same shape in [0, 255]
    (a single (H, W, 3) image becomes T=1)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected (T, H, W, 3) frames, got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def resize_frames(frames_T_H_W_C: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize float (T, H, W, C) frames to ``size`` = (H, W) with bilinear + antialias, rounded to the
    uint8 grid (as torchvision's ``resize(antialias=True)`` of a uint8 tensor does); unchanged when the size
    already matches."""
    h, w = int(size[0]), int(size[1])
    if tuple(frames_T_H_W_C.shape[1:3]) == (h, w):
        return frames_T_H_W_C
    x = frames_T_H_W_C.permute(0, 3, 1, 2).to(torch.float32)  # (T, C, H, W)
    y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).permute(0, 2, 3, 1).to(torch.float64)


def gray_frames(frames: ArrayLike) -> torch.Tensor:
    """RGB (T, H, W, 3) frames -> float64 (T, H, W, 1) luma, exactly OpenCV's 8-bit
    ``cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)`` of the same frame decoded in OpenCV's BGR order:
    ``Y = (9798 R + 19235 G + 3735 B + 16384) >> 15``. Float input is rounded to uint8 first."""
    f = to_frames(frames).round().clamp(0, 255).to(torch.int64)
    if f.shape[-1] != 3:
        raise ValueError(f"gray_frames: expected RGB (T, H, W, 3) frames, got shape {tuple(f.shape)}")
    y = (f[..., 0] * _GRAY_R + f[..., 1] * _GRAY_G + f[..., 2] * _GRAY_B + (1 << (_GRAY_SHIFT - 1))) >> _GRAY_SHIFT
    return y[..., None].to(torch.float64)


def _pair(pred: ArrayLike, gt: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    p, g = to_frames(pred, "prediction"), to_frames(gt, "ground truth")
    if p.shape[0] != g.shape[0]:
        raise ValueError(f"prediction has {p.shape[0]} frames but ground truth has {g.shape[0]}; "
                         "compare clips of the same length")
    return resize_frames(p, g.shape[1:3]), g


def psnr_per_frame(pred: ArrayLike, gt: ArrayLike, data_range: float = DATA_RANGE) -> np.ndarray:
    """(T,) float64 PSNR in dB of each frame (inf where the frames are identical)."""
    p, g = _pair(pred, gt)
    mse = ((p - g) ** 2).mean(dim=(1, 2, 3))  # (T,)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse.numpy())


def _gaussian_kernel_1d(sigma: float = _SSIM_SIGMA, truncate: float = _SSIM_TRUNCATE) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _valid_filter_matrix(n: int, k: torch.Tensor) -> torch.Tensor:
    """(n - 2r, n) banded matrix M with (M @ x)[i] = sum_j k[j] x[i + j]: 'valid' 1-D filtering."""
    m = torch.zeros(n - k.numel() + 1, n, dtype=torch.float64)
    for j, kj in enumerate(k):
        m.diagonal(j).fill_(kj)
    return m


def _filter_valid(x_N_H_W: torch.Tensor, mh: torch.Tensor, mw: torch.Tensor) -> torch.Tensor:
    """Separable filter, 'valid' part only: (N, H, W) -> (N, H-2r, W-2r) (float64 matmuls)."""
    return mh @ x_N_H_W @ mw.T


def ssim_per_frame(pred: ArrayLike, gt: ArrayLike, data_range: float = DATA_RANGE,
                   window: str = "gaussian") -> np.ndarray:
    """(T,) float64 SSIM of each frame, channels averaged; ``window`` "gaussian" or "uniform" (module doc)."""
    if window not in SSIM_WINDOWS:
        raise ValueError(f"SSIM window {window!r}: use one of {SSIM_WINDOWS}")
    p, g = _pair(pred, gt)
    T, H, W, C = g.shape
    if window == "gaussian":
        k, cov_norm = _gaussian_kernel_1d(), 1.0
    else:
        k = torch.full((_UNIFORM_WIN,), 1.0 / _UNIFORM_WIN, dtype=torch.float64)
        cov_norm = _UNIFORM_WIN**2 / (_UNIFORM_WIN**2 - 1.0)  # sample covariance over the window's pixels
    win = k.numel()
    if H < win or W < win:
        raise ValueError(f"SSIM needs frames of at least {win}x{win} pixels, got {H}x{W}")
    x = p.permute(0, 3, 1, 2).reshape(T * C, H, W)
    y = g.permute(0, 3, 1, 2).reshape(T * C, H, W)
    mh, mw = _valid_filter_matrix(H, k), _valid_filter_matrix(W, k)
    mu_x, mu_y = _filter_valid(x, mh, mw), _filter_valid(y, mh, mw)
    vx = cov_norm * (_filter_valid(x * x, mh, mw) - mu_x * mu_x)
    vy = cov_norm * (_filter_valid(y * y, mh, mw) - mu_y * mu_y)
    vxy = cov_norm * (_filter_valid(x * y, mh, mw) - mu_x * mu_y)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * vxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2)).view(T, C).mean(dim=1).numpy()


def capped_mean_psnr(values: ArrayLike, cap: float = PSNR_CAP_DB) -> float:
    """Mean of PSNR values with each capped at ``cap`` dB (so identical frames do not make it inf);
    NaN for an empty input."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.minimum(v, cap).mean()) if v.size else float("nan")


def frame_metrics(pred: ArrayLike, gt: ArrayLike, skip_first: bool = True) -> dict[str, np.ndarray]:
    """Per-frame PSNR / SSIM of a predicted episode against the GT, frame 0 excluded by default.

    Returns ``{"frame": (T',) int frame indices into the episode, "psnr": (T',), "ssim": (T',)}``.
    """
    p, g = _pair(pred, gt)
    start = 1 if skip_first else 0
    if p.shape[0] <= start:
        raise ValueError(f"episode has {p.shape[0]} frame(s): nothing to score after excluding frame 0")
    p, g = p[start:], g[start:]
    return {"frame": np.arange(start, start + p.shape[0]), "psnr": psnr_per_frame(p, g), "ssim": ssim_per_frame(p, g)}


def dynamic_mask(gt: ArrayLike, percentile: float = DYNAMIC_PERCENTILE, skip_first: bool = True) -> np.ndarray:
    """Dynamic-pixel mask of a GT clip (T, H, W, 3): (T-1, H, W) bool for frames 1..T-1 (``skip_first``) or
    (T, H, W) with frame 0 given frame 1's mask. See :func:`dynamic_psnr`."""
    g = to_frames(gt, "ground truth")
    if g.shape[0] < 2:
        raise ValueError(f"dynamic PSNR needs at least 2 frames (motion is a GT frame difference), got {g.shape[0]}")
    motion_T_H_W = (g[1:] - g[:-1]).abs().mean(dim=3).numpy()  # frames 1..T-1 vs their previous GT frame
    mask = motion_T_H_W > np.percentile(motion_T_H_W, percentile)
    return mask if skip_first else np.concatenate([mask[:1], mask], axis=0)


def dynamic_psnr(pred: ArrayLike, gt: ArrayLike, percentile: float = DYNAMIC_PERCENTILE, skip_first: bool = True,
                 data_range: float = DATA_RANGE, mask: Optional[np.ndarray] = None) -> float:
    """Dynamic PSNR of a clip: PSNR over the pixels where the GT moves most (one number per clip).

    Motion of frame t >= 1 is ``mean_c |gt[t] - gt[t-1]|`` (H, W); the threshold is the ``percentile``
    (numpy's linear ``np.percentile``) of the motion values of all frames 1..T-1, and a pixel is dynamic when
    its motion is strictly above it. ``MSE`` is the mean squared error over the dynamic pixels (all channels)
    of all scored frames, ``PSNR = 20 log10(data_range / sqrt(MSE))`` (inf when MSE is 0). A clip without
    dynamic pixels (static GT) falls back to the plain PSNR of its scored frames (MSE over every pixel),
    with a warning.

    Relation to Cosmos Framework's ``cosmos_framework/inference/metrics.py::compute_dynamic_psnr``: with
    ``skip_first=False`` (frame 0 gets frame 1's mask and is scored) this is that function on one
    (T, H, W, 3) clip; ``data_range`` is 255 for this module's [0, 255] frames, pass 2.0 for [-1, 1] ones
    (math in float64 here, float32 there). ``skip_first=True`` (the evaluation's setting) scores the
    predicted frames 1..T-1 only, each with its preceding GT frame as the motion reference: upstream's
    function minus its frame-0 row. ``mask``: a :func:`dynamic_mask` of ``gt`` (same ``skip_first``) to reuse
    for several predictions of one GT clip. Aggregate over clips as the mean of the per-clip values.
    """
    p, g = _pair(pred, gt)
    if mask is None:
        mask = dynamic_mask(g, percentile, skip_first)
    if skip_first:
        p, g = p[1:], g[1:]
    if tuple(mask.shape) != tuple(g.shape[:3]):
        raise ValueError(f"dynamic mask has shape {tuple(mask.shape)}, expected {tuple(g.shape[:3])} "
                         f"(dynamic_mask of the GT with skip_first={skip_first})")
    err_T_H_W_3 = (p - g) ** 2
    if mask.any():
        mse = float(err_T_H_W_3[torch.from_numpy(mask)].mean())
    else:
        log.warning("dynamic PSNR: the ground truth has no dynamic pixel (static clip); using the plain PSNR")
        mse = float(err_T_H_W_3.mean())
    return float("inf") if mse == 0.0 else float(20.0 * np.log10(data_range / np.sqrt(mse)))


def episode_scores(pred: ArrayLike, gt: ArrayLike) -> dict:
    """What the action-conditioned inference reports per episode: mean PSNR (capped), dynamic PSNR
    (:func:`dynamic_psnr`, capped; NaN for a single frame) and SSIM over the common frames after the
    conditioning frame 0, and the per-frame PSNR / SSIM of every common frame."""
    t = min(len(pred), len(gt))
    p, g = _pair(np.asarray(pred)[:t], np.asarray(gt)[:t])
    psnr, ssim = psnr_per_frame(p, g), ssim_per_frame(p, g)
    s = 1 if t > 1 else 0
    dyn = capped_mean_psnr([dynamic_psnr(p, g)]) if t > 1 else float("nan")
    return {"psnr_mean": capped_mean_psnr(psnr[s:]), "dynamic_psnr": dyn, "ssim_mean": float(np.mean(ssim[s:])),
            "per_frame": {"psnr": [float(x) for x in psnr], "ssim": [float(x) for x in ssim]}}


@torch.no_grad()
def encode_frames(tokenizer: Any, frames_T_H_W_3: torch.Tensor, device: Optional[torch.device] = None) -> torch.Tensor:
    """float (T, H, W, 3) in [0, 255] -> float64 CPU latents (C, T_lat, h, w) of the tokenizer."""
    if device is None:
        device = getattr(tokenizer, "device", None)
        if device is None or callable(device):
            device = torch.device("cpu")
    video = (frames_T_H_W_3.permute(3, 0, 1, 2)[None] / 127.5 - 1.0).to(device=device, dtype=torch.float32)
    return tokenizer.encode(video)[0].double().cpu()


@torch.no_grad()
def latent_l2(tokenizer: Any, pred: ArrayLike, gt: ArrayLike, device: Optional[torch.device] = None,
              gt_latent: Optional[torch.Tensor] = None) -> dict[str, Any]:
    """Latent L2 between the tokenizer latents of a predicted episode and of the GT episode.

    Definition: both (T, H, W, 3) clips (prediction resized to GT size) are truncated to the longest
    tokenizer-valid length ``1 + 4k <= T`` (temporal compression 4), scaled to [-1, 1] and encoded,
    giving normalised latents ``z`` of shape (C, 1+k, H/8, W/8). Latent frame 0 encodes only pixel
    frame 0 (causal tokenizer) and is excluded. For latent frame j >= 1 (pixel frames 4j-3 .. 4j)::

        latent_l2[j] = mean_{c,h,w} (z_pred[c,j,h,w] - z_gt[c,j,h,w])^2

    i.e. the squared L2 distance divided by the number of latent elements (a mean squared error), and
    ``mean`` is the average over j. IRASim's exact normalisation and VAE are not reproduced (its numbers used
    another VAE), so values are comparable only between runs with the same tokenizer.

    Returns ``{"per_latent_frame": (k,) float64, "mean": float, "last_pixel_frame": (k,) int, "gt_latent":
    tensor or None}`` (pixel frame 4j closing each latent frame; pass ``gt_latent`` back in to skip
    re-encoding the same GT clip); ``mean`` is NaN when the clip is shorter than 5 frames.
    """
    p, g = _pair(pred, gt)
    factor = int(getattr(tokenizer, "temporal_compression_factor", 4))
    k = (g.shape[0] - 1) // factor
    if k < 1:
        return {"per_latent_frame": np.zeros(0), "mean": float("nan"), "last_pixel_frame": np.zeros(0, dtype=int),
                "gt_latent": None}
    n = 1 + factor * k
    if gt_latent is None:
        gt_latent = encode_frames(tokenizer, g[:n], device)
    z_pred = encode_frames(tokenizer, p[:n], device)
    per = ((z_pred - gt_latent) ** 2).mean(dim=(0, 2, 3))[1:].numpy()  # (k,)
    return {"per_latent_frame": per, "mean": float(per.mean()), "last_pixel_frame": np.arange(1, k + 1) * factor,
            "gt_latent": gt_latent}
