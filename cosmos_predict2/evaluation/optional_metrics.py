"""Optional network-based metrics (LPIPS, FVD): used only when their networks are on local disk.

Nothing is ever downloaded. When a network is missing the loader logs one line saying how to enable the
metric and returns None; the evaluation then skips that metric.

- LPIPS: a TorchScript file (``lpips_path``) mapping two (N, 3, H, W) float batches in [-1, 1] to (N,) or
  (N, 1, 1, 1) distances; or the ``lpips`` package (AlexNet variant) when it is installed *and* torchvision's
  AlexNet weights are already in the torch hub cache.
- FVD: StyleGAN-V's ``i3d_torchscript.pt`` at ``i3d_path``, called as ``detector(x, rescale=False, resize=True,
  return_features=True)`` with x (B, 3, T, H, W) float in [-1, 1]; FVD = Frechet distance between the
  Gaussian fits of the GT and predicted clip features (all predicted frames of an episode, frame 0
  excluded). With few episodes the covariance estimate is poor: compare FVDs only at equal episode counts.
"""

from __future__ import annotations

import os
import warnings
from typing import Callable, Optional

import numpy as np
import torch

__all__ = ["load_lpips", "lpips_per_frame", "load_i3d", "i3d_features", "frechet_distance"]

_ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"


def _say(msg: str) -> None:
    """The one-line 'metric skipped' message (printed, so it shows without logging set up)."""
    print(msg, flush=True)


def _load_script(path: str, device) -> Callable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(path, map_location=device).eval()


def _net_device(net: Callable) -> torch.device:
    return next((p.device for p in getattr(net, "parameters", lambda: iter(()))()), torch.device("cpu"))


def _to_unit(frames_T_H_W_3: np.ndarray, device) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(frames_T_H_W_3)).to(device=device, dtype=torch.float32)
    return x.permute(0, 3, 1, 2) / 127.5 - 1.0


def load_lpips(lpips_path: Optional[str] = None, device: str | torch.device = "cpu") -> Optional[Callable]:
    """LPIPS network from local files, or None (with a one-line message) when none is available."""
    if lpips_path:
        if not os.path.isfile(lpips_path):
            _say(f"LPIPS skipped: --lpips-path {lpips_path!r} does not exist")
            return None
        return _load_script(lpips_path, device)
    try:
        import lpips
    except ImportError:
        _say("LPIPS skipped: no local LPIPS network (pass --lpips-path to a TorchScript LPIPS file, or install "
             "`lpips` with torchvision's AlexNet weights in the torch hub cache)")
        return None
    weights = os.path.join(torch.hub.get_dir(), "checkpoints", _ALEXNET_WEIGHTS)
    if not os.path.isfile(weights):
        _say(f"LPIPS skipped: `lpips` is installed but {weights} is missing (it would be downloaded; copy it there)")
        return None
    return lpips.LPIPS(net="alex", verbose=False).to(device).eval()


@torch.no_grad()
def lpips_per_frame(net: Callable, pred: np.ndarray, gt: np.ndarray, batch: int = 16) -> np.ndarray:
    """(T,) LPIPS of each frame pair (same size expected; the caller resizes)."""
    device = _net_device(net)
    out = []
    for s in range(0, len(gt), batch):
        d = net(_to_unit(pred[s:s + batch], device), _to_unit(gt[s:s + batch], device))
        out.append(d.reshape(d.shape[0], -1).mean(dim=1).double().cpu())
    return torch.cat(out).numpy()


def load_i3d(i3d_path: Optional[str], device: str | torch.device = "cpu") -> Optional[Callable]:
    """StyleGAN-V I3D TorchScript detector from ``i3d_path``, or None (with a one-line message)."""
    if not i3d_path:
        _say("FVD skipped: no I3D network (pass --i3d-path to StyleGAN-V's i3d_torchscript.pt on local disk)")
        return None
    if not os.path.isfile(i3d_path):
        _say(f"FVD skipped: --i3d-path {i3d_path!r} does not exist")
        return None
    return _load_script(i3d_path, device)


@torch.no_grad()
def i3d_features(detector: Callable, frames_T_H_W_3: np.ndarray) -> np.ndarray:
    """(D,) float64 I3D features of one clip (uint8 (T, H, W, 3)), computed on the detector's device."""
    x = _to_unit(frames_T_H_W_3, _net_device(detector)).permute(1, 0, 2, 3)[None]  # (1, 3, T, H, W)
    f = detector(x, rescale=False, resize=True, return_features=True)
    return f.reshape(-1).double().cpu().numpy()


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feats_a_N_D: np.ndarray, feats_b_M_D: np.ndarray) -> float:
    """Frechet distance between Gaussian fits (mean, covariance with ddof=1) of two feature sets:
    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)`` in float64 (needs >= 2 rows each)."""
    a, b = np.asarray(feats_a_N_D, np.float64), np.asarray(feats_b_M_D, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance needs two (N>=2, D) feature sets of equal D, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    sa = _sqrt_psd(ca)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(sa @ cb @ sa), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * cross)
