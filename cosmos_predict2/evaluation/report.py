"""Evaluation report files: JSON summary, per-episode CSVs, PNG curves and frame grids, summary table.

Layout under ``output_dir``::

    summary.json                         # evaluate()'s summary dict
    episodes/<protocol>/<clip>.csv       # frame,method,psnr,ssim (frame 0 excluded; clip = episode, or
                                         #   episode@start under irasim-short)
    dynamic_psnr.csv                     # protocol,episode,method,chunk ("all" = whole episode),first_frame,
                                         #   last_frame,dynamic_psnr (one value per episode / chunk)
    latent_l2.csv                        # protocol,episode,method,latent_frame,last_pixel_frame,latent_l2
    plots/<protocol>_metrics_vs_frame.png
    plots/<protocol>_grid_<episode>.png  # GT row + one row per method, a few frames
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import defaultdict
from typing import Any, Optional

import numpy as np

from cosmos_predict2.evaluation.metrics import DYNAMIC_PERCENTILE

__all__ = ["write_report", "format_table", "plot_metric_curves", "plot_grid", "preview_strip", "safe_name"]

_ORDER = ("model", "shuffled_actions", "zero_actions", "copy_last_frame")


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)) or "episode"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def format_table(summary: dict) -> str:
    """Plain-text table: one block per protocol, one row per method (model vs baselines), then the warnings."""
    lines = []
    rules = summary.get("settings", {}).get("protocols", {})
    for protocol, by_method in summary["protocols"].items():
        methods = [m for m in _ORDER if m in by_method]
        n_ep = max((by_method[m]["num_episodes"] for m in methods), default=0)
        n_clips = max((by_method[m].get("num_clips", 0) for m in methods), default=0)
        clips = f", {n_clips} clips" if n_clips > n_ep else ""
        lines.append(f"== protocol: {protocol} ({n_ep} episodes{clips}, frame 0 excluded) ==")
        if protocol in rules:
            r = rules[protocol]
            lines.append(f"   {r['colour']} frames, SSIM window {r['ssim_window'] or 'none'}, resize {r['resize']}, "
                         f"average: {r['average']}")
        extra = [k for k in ("lpips", "fvd") if any(k in by_method[m] for m in methods)]
        head = "".join(f" {k.upper():>8}" for k in extra)
        lines.append(f"{'method':<18} {'PSNR':>8} {'dynPSNR':>8} {'SSIM':>7} {'latentL2':>9}{head} {'frames':>7}  "
                     "per-chunk PSNR/dynPSNR")
        for m in methods:
            r = by_method[m]
            chunks = " ".join(f"{_fmt(c['psnr'], 2)}/{_fmt(c.get('dynamic_psnr'), 2)}" for c in r["per_chunk"])
            cols = "".join(f" {_fmt(r.get(k), 3):>8}" for k in extra)
            lines.append(f"{m:<18} {_fmt(r['psnr'], 2):>8} {_fmt(r.get('dynamic_psnr'), 2):>8} {_fmt(r['ssim']):>7} "
                         f"{_fmt(r['latent_l2'], 4):>9}{cols} {r['num_frames']:>7}  {chunks}")
        if "model" in by_method:
            for key, metric in (("sensitivity", "PSNR"), ("dynamic_sensitivity", "dynPSNR")):
                parts = [f"vs {k}: {_fmt(v, 2)} dB" for k, v in by_method["model"].get(key, {}).items()]
                if parts:
                    lines.append(f"action sensitivity ({metric} model - {metric} other): " + ", ".join(parts))
    if lines:
        lines.append(f"dynPSNR: PSNR over the top-{100 - DYNAMIC_PERCENTILE:g}% GT-motion pixels, one value per "
                     "episode, mean over episodes")
    lines += [f"WARNING: {w}" for w in summary.get("warnings", [])]
    return "\n".join(lines)


def _write_csvs(output_dir: str, rec) -> None:
    by_episode = defaultdict(list)
    for protocol, key, method, frame, psnr, ssim in rec.frames:
        by_episode[(protocol, key)].append((frame, method, psnr, ssim))
    for (protocol, key), rows in by_episode.items():
        path = os.path.join(output_dir, "episodes", protocol, f"{safe_name(key)}.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["frame", "method", "psnr", "ssim"])
            for frame, method, psnr, ssim in sorted(rows, key=lambda r: (r[0], _ORDER.index(r[1]))):
                w.writerow([frame, method, f"{psnr:.6f}", f"{ssim:.6f}"])
    if rec.dynamic:
        with open(os.path.join(output_dir, "dynamic_psnr.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["protocol", "episode", "method", "chunk", "first_frame", "last_frame", "dynamic_psnr"])
            for protocol, key, method, chunk, first, last, value in rec.dynamic:
                w.writerow([protocol, key, method, "all" if chunk is None else chunk, first, last, f"{value:.6f}"])
    if rec.latents:
        with open(os.path.join(output_dir, "latent_l2.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["protocol", "episode", "method", "latent_frame", "last_pixel_frame", "latent_l2"])
            for row in rec.latents:
                w.writerow(list(row[:5]) + [f"{row[5]:.8f}"])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_metric_curves(path: str, by_method: dict, protocol: str, chunk_size: int) -> None:
    """PSNR, SSIM and per-chunk dynamic PSNR (means over episodes) vs frame index for every method, chunk
    borders dashed (dynamic PSNR: one level per chunk, over the chunk's frames)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    for ax, metric in zip(axes, ("psnr", "ssim", "dynamic_psnr")):
        last = 1
        for m in [m for m in _ORDER if m in by_method]:
            pf = by_method[m]["per_frame"]
            if metric == "dynamic_psnr":  # a step per chunk over its frames
                chunks = by_method[m]["per_chunk"]
                x = [f for c in chunks for f in (c["frames"][0] - 0.5, c["frames"][1] + 0.5)]
                vals = [np.nan if c.get(metric) is None else c[metric] for c in chunks for _ in range(2)]
            else:
                x, vals = pf["frame"], [np.nan if v is None else v for v in pf[metric]]
            ax.plot(x, vals, marker="." if metric != "dynamic_psnr" else None, label=m)
            last = max(last, max(pf["frame"], default=1))
        for b in range(chunk_size, last, chunk_size):
            ax.axvline(b + 0.5, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("frame index (0 = conditioning frame, excluded)")
        ax.set_ylabel({"dynamic_psnr": "dynamic PSNR (per chunk)"}.get(metric, metric.upper()))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{protocol} protocol: metric vs frame (mean over episodes)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pick_frames(num_frames: int, max_cols: int) -> list[int]:
    if num_frames <= max_cols:
        return list(range(num_frames))
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, max_cols)})


def plot_grid(path: str, preview: dict, title: str, max_cols: int = 8) -> None:
    """Rows: ground truth then each method; columns: evenly spaced frames (frame 0 included for context).
    Drawn as one mosaic image (fast) with row and column labels."""
    plt = _pyplot()
    rows = ["gt"] + [m for m in _ORDER if m in preview]
    cols = _pick_frames(len(preview["gt"]), max_cols)
    h, w = preview["gt"].shape[1:3]
    gap = 2
    mosaic = np.full((len(rows) * (h + gap) - gap, len(cols) * (w + gap) - gap, 3), 255, np.uint8)
    for r, name in enumerate(rows):
        frames = preview_strip(preview["gt"], preview[name])[:, :, w:] if name != "gt" else preview["gt"]
        for c, f in enumerate(cols):
            mosaic[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = frames[f]
    inch = max(mosaic.shape[1] / 80.0, 4.0)  # image width in inches
    fig_w, fig_h = inch + 1.5, inch * mosaic.shape[0] / mosaic.shape[1] + 0.75
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    fig.subplots_adjust(left=1.4 / fig_w, right=1 - 0.1 / fig_w, top=1 - 0.4 / fig_h, bottom=0.35 / fig_h)
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([c * (w + gap) + w / 2 for c in range(len(cols))], [f"t={f}" for f in cols], fontsize=7)
    ax.set_yticks([r * (h + gap) + h / 2 for r in range(len(rows))],
                  ["ground truth" if n == "gt" else n for n in rows], fontsize=7)
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def preview_strip(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(T, H, 2W, 3) uint8 video: ground truth left, prediction right (prediction resized if needed)."""
    from cosmos_predict2.evaluation.metrics import resize_frames, to_frames

    p = resize_frames(to_frames(pred), gt.shape[1:3]).numpy().astype(np.uint8)
    return np.concatenate([np.asarray(gt, np.uint8), p], axis=2)


def write_report(output_dir: str, summary: dict, rec, max_grid_episodes: Optional[int] = None) -> dict:
    """Write every report file; returns {kind: [paths]}."""
    os.makedirs(os.path.join(output_dir, "plots"), exist_ok=True)
    written = defaultdict(list)
    path = os.path.join(output_dir, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, allow_nan=False)
        f.write("\n")
    written["json"].append(path)
    _write_csvs(output_dir, rec)
    chunk = int(summary.get("settings", {}).get("chunk_size", 12))
    for protocol, by_method in summary["protocols"].items():
        methods = {m: v for m, v in by_method.items() if m in _ORDER}
        p = os.path.join(output_dir, "plots", f"{protocol}_metrics_vs_frame.png")
        plot_metric_curves(p, methods, protocol, chunk)
        written["plots"].append(p)
        for i, (key, preview) in enumerate(rec.previews.get(protocol, {}).items()):
            if max_grid_episodes is not None and i >= max_grid_episodes:
                break
            p = os.path.join(output_dir, "plots", f"{protocol}_grid_{safe_name(key)}.png")
            plot_grid(p, preview, f"{protocol} protocol, episode {key}: predicted vs ground truth")
            written["grids"].append(p)
    return dict(written)
