"""Per-dimension action normalisation: what a checkpoint's actions mean, stored with it.

An :class:`ActionNormalization` maps raw actions ``a`` (N, D) to the net's inputs ``(a - center) / scale``:

- ``mean_std``: center = mean, scale = std (floored at ``EPS``);
- ``quantile``: center = (q01 + q99) / 2, scale = (q99 - q01) / 2, so the 1st..99th percentile span maps to
  [-1, 1] (LeRobot / Cosmos Framework ``quantile`` normalisation; values outside are not clipped);
- ``min_max``: the same with min / max;
- ``scale``: center 0, scale = 1 / factor per dimension: the Bridge datasets' ``action_scaler`` (x20 on the
  six pose deltas) and ``gripper_rescale_factor``, which upstream applies while computing actions from states;
- ``none``: identity.

:meth:`to_dict` / :meth:`from_dict` give the record written into the training job's ``config.yaml`` (the dataset
node's ``action_normalization``), into every converted checkpoint (:mod:`cosmos_predict2.checkpoint.metadata`) and
read back by inference and evaluation. ``stats`` keeps the per-dimension statistics it came from; ``source``
says which data and which actions (feature keys, action source) they describe.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Sequence

import numpy as np

__all__ = ["ActionNormalization", "NORMALIZATION_KINDS", "action_statistics", "feature_statistics", "EPS"]

NORMALIZATION_KINDS = ("mean_std", "quantile", "min_max", "scale", "none")
EPS = 1e-6
STAT_NAMES = ("mean", "std", "min", "max", "q01", "q99")


def feature_statistics(x_N_D: np.ndarray, quantiles: Sequence[int] = (1, 99)) -> dict[str, np.ndarray]:
    """min, max (in the input's dtype), mean, std (population), count and the ``quantiles`` (percent, numpy's
    linear rule; keys ``q01``...) of (N, D) values along N: the statistics LeRobot stores per feature."""
    x = np.asarray(x_N_D)
    xf = x.astype(np.float64)
    out = {"min": x.min(0), "max": x.max(0), "mean": xf.mean(0), "std": xf.std(0), "count": np.array([len(x)])}
    for q, v in zip(quantiles, np.quantile(xf, [q / 100 for q in quantiles], axis=0)):
        out[f"q{q:02d}"] = v
    return out


def action_statistics(actions_N_D: np.ndarray) -> dict[str, list[float]]:
    """Per-dimension mean, std (population), min, max, 1st and 99th percentile (numpy's linear rule) of
    (N, D) actions, plus ``count``, as plain lists (:func:`feature_statistics`)."""
    a = np.asarray(actions_N_D, dtype=np.float64)
    if a.ndim != 2 or len(a) == 0:
        raise ValueError(f"action statistics need (N, D) actions with N > 0, got shape {a.shape}")
    st = feature_statistics(a)
    return {**{k: [float(x) for x in st[k]] for k in ("mean", "std", "min", "max", "q01", "q99")}, "count": len(a)}


@dataclasses.dataclass(frozen=True)
class ActionNormalization:
    """``kind`` (:data:`NORMALIZATION_KINDS`), ``dim`` (action width), per-dimension ``center`` / ``scale``, the
    ``stats`` they came from (may be empty) and ``source`` (a description of the actions)."""

    kind: str
    dim: int
    center: tuple[float, ...]
    scale: tuple[float, ...]
    stats: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    source: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in NORMALIZATION_KINDS:
            raise ValueError(f"action normalisation kind {self.kind!r}: use one of {', '.join(NORMALIZATION_KINDS)}")
        if len(self.center) != self.dim or len(self.scale) != self.dim:
            raise ValueError(f"action normalisation: center has {len(self.center)} and scale {len(self.scale)} "
                             f"entries for {self.dim}-d actions")
        if not all(np.isfinite(self.center)) or not all(np.isfinite(self.scale)) or min(self.scale, default=1) <= 0:
            raise ValueError("action normalisation: center / scale must be finite and scale > 0")

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_stats(cls, kind: str, stats: Mapping[str, Any], source: Optional[Mapping[str, Any]] = None
                   ) -> "ActionNormalization":
        """From :func:`action_statistics` output; ``kind`` in mean_std / quantile / min_max / none."""
        if kind not in ("mean_std", "quantile", "min_max", "none"):
            raise ValueError(f"action normalisation from statistics: kind {kind!r} must be mean_std, quantile, "
                             "min_max or none")
        mean = np.asarray(stats["mean"], dtype=np.float64)
        d = len(mean)
        if kind == "mean_std":
            center, scale = mean, np.maximum(np.asarray(stats["std"], dtype=np.float64), EPS)
        elif kind in ("quantile", "min_max"):
            lo_k, hi_k = ("q01", "q99") if kind == "quantile" else ("min", "max")
            lo, hi = np.asarray(stats[lo_k], dtype=np.float64), np.asarray(stats[hi_k], dtype=np.float64)
            center, scale = (lo + hi) / 2, np.maximum((hi - lo) / 2, EPS)
        else:
            center, scale = np.zeros(d), np.ones(d)
        return cls(kind, d, tuple(map(float, center)), tuple(map(float, scale)), dict(stats), dict(source or {}))

    @classmethod
    def scaled(cls, factors: Sequence[float], source: Optional[Mapping[str, Any]] = None) -> "ActionNormalization":
        """``a * factors`` (the Bridge ``action_scaler`` / ``gripper_rescale_factor`` rule)."""
        f = [float(x) for x in factors]
        if min(f, default=1.0) <= 0:
            raise ValueError(f"action scale factors must be > 0, got {f}")
        return cls("scale", len(f), tuple(0.0 for _ in f), tuple(1.0 / x for x in f), {"factors": f}, dict(source or {}))

    @classmethod
    def identity(cls, dim: int, source: Optional[Mapping[str, Any]] = None) -> "ActionNormalization":
        return cls("none", int(dim), (0.0,) * int(dim), (1.0,) * int(dim), {}, dict(source or {}))

    # -- use -------------------------------------------------------------------------------------------------
    def normalize(self, actions: np.ndarray) -> np.ndarray:
        """Raw (..., D) -> net inputs (float32)."""
        a = np.asarray(actions, dtype=np.float64)
        self.check_width(a.shape[-1], "the actions")
        return ((a - np.asarray(self.center)) / np.asarray(self.scale)).astype(np.float32)

    def denormalize(self, actions: np.ndarray) -> np.ndarray:
        """Net inputs (..., D) -> raw actions (float64)."""
        a = np.asarray(actions, dtype=np.float64)
        self.check_width(a.shape[-1], "the actions")
        return a * np.asarray(self.scale) + np.asarray(self.center)

    def check_width(self, width: int, what: str) -> None:
        if int(width) != self.dim:
            raise ValueError(f"{what} are {int(width)}-d but the action normalisation is for {self.dim}-d actions")

    def same_mapping(self, other: "ActionNormalization", rtol: float = 1e-6) -> bool:
        """Whether both map actions the same way (kind, width, center, scale)."""
        return (self.kind == other.kind and self.dim == other.dim
                and np.allclose(self.center, other.center, rtol=rtol, atol=1e-9)
                and np.allclose(self.scale, other.scale, rtol=rtol, atol=1e-12))

    def describe(self) -> str:
        if self.kind == "scale":
            return f"scale x{self.stats.get('factors', [1 / s for s in self.scale])} ({self.dim}-d)"
        return f"{self.kind} ({self.dim}-d, from {self.stats.get('count', '?')} actions)"

    # -- records -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON / YAML record (lists of floats)."""
        return {"kind": self.kind, "dim": self.dim, "center": list(self.center), "scale": list(self.scale),
                "stats": _plain(self.stats), "source": _plain(self.source)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], where: str = "action_normalization") -> "ActionNormalization":
        """From :meth:`to_dict`'s record (also an OmegaConf node); a malformed record is a ValueError naming
        ``where``."""
        try:
            rec = _plain(record)
            return cls(str(rec["kind"]), int(rec["dim"]), tuple(float(x) for x in rec["center"]),
                       tuple(float(x) for x in rec["scale"]), dict(rec.get("stats") or {}),
                       dict(rec.get("source") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}: not an action normalisation record ({err}); it needs kind, dim, center and "
                             "scale") from err


def _plain(obj: Any) -> Any:
    """OmegaConf nodes / tuples / numpy values -> plain dicts, lists, floats."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(obj, (DictConfig, ListConfig)):
            obj = OmegaConf.to_container(obj, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
