"""Per-frame PSNR / SSIM between a generated and a ground-truth uint8 video.

Uses :mod:`cosmos_predict2.evaluation.metrics` when it is importable (the project's reference metrics);
otherwise a local PSNR and scikit-image's SSIM (Gaussian window, sigma 1.5, as in Wang et al. 2004).
"""

from __future__ import annotations

import math

import numpy as np


def _local_psnr(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    d = pred.astype(np.float64) - gt.astype(np.float64)
    mse = (d ** 2).reshape(len(d), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return np.where(mse == 0, math.inf, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)))


def _local_ssim(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(p, g, channel_axis=-1, data_range=255, gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False) for p, g in zip(pred, gt)])


def per_frame_metrics(pred_T_H_W_3: np.ndarray, gt_T_H_W_3: np.ndarray) -> dict[str, list[float]]:
    """{"psnr": [...], "ssim": [...]} over the common frames (T = min of both lengths)."""
    t = min(len(pred_T_H_W_3), len(gt_T_H_W_3))
    pred, gt = np.asarray(pred_T_H_W_3[:t]), np.asarray(gt_T_H_W_3[:t])
    if pred.shape != gt.shape:
        raise ValueError(f"per_frame_metrics: shapes differ {pred.shape} vs {gt.shape}")
    try:
        from cosmos_predict2.evaluation.metrics import psnr_per_frame, ssim_per_frame

        psnr, ssim = np.asarray(psnr_per_frame(pred, gt)), np.asarray(ssim_per_frame(pred, gt))
    except ImportError:
        psnr, ssim = _local_psnr(pred, gt), _local_ssim(pred, gt)
    return {"psnr": [float(x) for x in psnr], "ssim": [float(x) for x in ssim]}


def summarize(metrics: dict[str, list[float]], skip_first: bool = True, psnr_cap: float = 100.0) -> dict[str, float]:
    """Means over frames (frame 0, the conditioning frame, skipped by default; PSNR capped for exact frames)."""
    s = 1 if skip_first and len(metrics["psnr"]) > 1 else 0
    psnr = [min(x, psnr_cap) for x in metrics["psnr"][s:]]
    return {"psnr_mean": float(np.mean(psnr)), "ssim_mean": float(np.mean(metrics["ssim"][s:]))}
