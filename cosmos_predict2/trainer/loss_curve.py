"""Loss-curve PNG of a training run from its ``metrics.jsonl`` (written by ``MetricsLogger``).

Top panel: training loss by iteration, raw (thin) and smoothed (trailing mean over ~5% of the points), and the
validation loss (``"split": "val"`` lines) when present. When lines have ``action_monitor/*`` numbers, each such
series is plotted by iteration below: differences (names containing ``gap``) in their own panel around a zero
line, shaded +-2 standard errors where a ``<name>_se`` series exists, the other series (losses) in another. A
panel's y axis is logarithmic when its (positive) values span more than a decade. Malformed lines (e.g. a
truncated last line of a killed run) are skipped and counted in the summary; when a resumed run repeats
iterations, the latest line for each iteration wins.

Written at the end of training (``<job>/loss_curve.png``, by ``MetricsLogger``) and on demand by
``python -m scripts.plot_training``. Uses matplotlib's Agg canvas without touching the global backend.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)
MONITOR_PREFIX = "action_monitor/"


class LossCurveError(ValueError):
    """The metrics file is missing or holds no training loss; the message names the file."""


@dataclass
class RunMetrics:
    """Series by iteration read from one metrics.jsonl (each sorted by iteration)."""

    train: dict[int, float] = field(default_factory=dict)
    val: dict[int, float] = field(default_factory=dict)
    monitor: dict[str, dict[int, float]] = field(default_factory=dict)
    malformed_lines: list[int] = field(default_factory=list)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_metrics(path: str) -> RunMetrics:
    """Parse ``path`` (see the module doc); raises :class:`LossCurveError` when it is missing or has no loss."""
    if not os.path.isfile(path):
        raise LossCurveError(f"{path}: metrics file not found (pass a training job folder holding metrics.jsonl, "
                             "or the metrics.jsonl itself)")
    run = RunMetrics()
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                it = int(rec["iteration"]) if isinstance(rec, dict) else None
            except (ValueError, TypeError, KeyError):
                it = None
            if it is None:
                run.malformed_lines.append(lineno)
                continue
            if _number(rec.get("loss")):
                (run.val if rec.get("split") == "val" else run.train)[it] = float(rec["loss"])
            for key, value in rec.items():
                if key.startswith(MONITOR_PREFIX) and _number(value):
                    run.monitor.setdefault(key, {})[it] = float(value)
    if not run.train:
        raise LossCurveError(f"{path}: no training lines with a finite 'loss' (expected the metrics.jsonl of a "
                             "training job)")
    return run


def _xy(series: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    its = sorted(series)
    return np.array(its), np.array([series[i] for i in its])


def smooth(y_N: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(y_N, dtype=np.float64)])
    idx = np.arange(1, len(y_N) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _log_if_wide(ax, values: list[np.ndarray]) -> None:
    v = np.concatenate(values)
    if len(v) and v.min() > 0 and v.max() / v.min() > 10:
        ax.set_yscale("log")


def plot_run(run: RunMetrics, out_path: str, title: str = ""):
    """Draw ``run`` into ``out_path`` (PNG); returns the matplotlib Figure."""
    from matplotlib.figure import Figure

    se = {k for k in run.monitor if k.endswith("_se") and k[:-3] in run.monitor}
    gaps = sorted(k for k in run.monitor if "gap" in k[len(MONITOR_PREFIX):] and k not in se)
    levels = sorted(k for k in run.monitor if k not in se and k not in gaps)
    panels = 1 + bool(levels) + bool(gaps)
    fig = Figure(figsize=(8, 3.6 * panels))
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    x, y = _xy(run.train)
    ax = axes[0]
    ax.plot(x, y, color="tab:blue", alpha=0.3, linewidth=0.8, label="train (raw)")
    ax.plot(x, smooth(y, max(1, len(y) // 20)), color="tab:blue", linewidth=1.8, label="train (smoothed)")
    shown = [y]
    if run.val:
        vx, vy = _xy(run.val)
        ax.plot(vx, vy, "o-", color="tab:orange", markersize=3, label="validation")
        shown.append(vy)
    _log_if_wide(ax, shown)
    ax.set_ylabel("loss")
    ax.set_title(title or "training loss")
    if levels:
        ax = axes[1]
        shown = []
        for key in levels:
            mx, my = _xy(run.monitor[key])
            ax.plot(mx, my, ".-", label=key[len(MONITOR_PREFIX):])
            shown.append(my)
        _log_if_wide(ax, shown)
        ax.set_ylabel("loss")
        ax.set_title("action sensitivity: losses (action_monitor/*)")
    if gaps:
        ax = axes[-1]
        ax.axhline(0.0, color="grey", linewidth=0.8)
        for key in gaps:
            mx, my = _xy(run.monitor[key])
            (line,) = ax.plot(mx, my, ".-", label=key[len(MONITOR_PREFIX):])
            if key + "_se" in se:
                err = np.array([run.monitor[key + "_se"].get(i, np.nan) for i in mx])
                ax.fill_between(mx, my - 2 * err, my + 2 * err, color=line.get_color(), alpha=0.2,
                                label=f"{key[len(MONITOR_PREFIX):]} +-2 s.e.")
        ax.set_ylabel("loss difference")
        ax.set_title("action sensitivity: loss differences (action_monitor/*gap*)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("iteration")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=100, format="png")
    return fig


def summarize(run: RunMetrics) -> str:
    """One line: points, iteration range, first and last smoothed loss, validation / monitor series, skips."""
    x, y = _xy(run.train)
    ys = smooth(y, max(1, len(y) // 20))
    parts = [f"{len(x)} training points (iterations {x[0]}-{x[-1]}, smoothed loss {ys[0]:.4g} -> {ys[-1]:.4g})"]
    if run.val:
        vx, vy = _xy(run.val)
        parts.append(f"{len(vx)} validation points (last {vy[-1]:.4g})")
    if run.monitor:
        parts.append(f"{len(run.monitor)} action_monitor series")
    if run.malformed_lines:
        n = len(run.malformed_lines)
        parts.append(f"skipped {n} malformed line{'s' if n > 1 else ''} (line {run.malformed_lines[0]}"
                     f"{' and more' if n > 1 else ''})")
    return ", ".join(parts)


def write_loss_curve(metrics_path: str, out_path: str) -> str:
    """Plot ``metrics_path`` into ``out_path``; returns the :func:`summarize` line."""
    run = read_metrics(metrics_path)
    title = os.path.basename(os.path.dirname(os.path.abspath(metrics_path)))
    plot_run(run, out_path, title=f"{title}: training loss" if title else "")
    return summarize(run)


def write_loss_curve_or_warn(metrics_path: str, out_path: str) -> None:
    """:func:`write_loss_curve` for the end of training: any failure is a logged warning, never an error."""
    try:
        log.info("loss curve: %s -> %s", write_loss_curve(metrics_path, out_path), out_path)
    except Exception as err:  # noqa: BLE001 - the run's result must not depend on a plot
        log.warning("loss curve not written to %s: %s", out_path, err)
