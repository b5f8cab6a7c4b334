"""Named evaluation protocols: which clips of an episode are rolled out, and how their frames are scored and
averaged (``--protocol`` of ``scripts/evaluate_action_conditioned.py``).

============  =========================================  ======  ========  =============  ========================
name          clips rolled out (H = short horizon)       colour  SSIM      resize         average (PSNR and SSIM)
============  =========================================  ======  ========  =============  ========================
short         frame 0 + the first H actions, one pass    RGB     gaussian  pred -> GT     all frames pooled, 100 dB
                                                                                          cap per frame
long          the whole episode, chunked autoregressive  RGB     gaussian  pred -> GT     all frames pooled, 100 dB
cosmos-long   (the same as ``long``)                                                      cap per frame
irasim-short  (1+H)-frame clips at frames 0, H+1,        gray    uniform   GT -> pred     mean over clips of each
              2(H+1), ... (full clips only), one pass                                     clip's frame mean, no cap
irasim-long   the whole episode, chunked autoregressive  RGB     none      GT -> pred     mean over episodes of each
              (predicted frame t+1 scored vs GT t)                                        episode's mean, no cap
============  =========================================  ======  ========  =============  ========================

Frame 0 (the conditioning frame) is never scored. ``gray`` is OpenCV's ``COLOR_BGR2GRAY`` of the decoded frame
(:func:`~cosmos_predict2.evaluation.metrics.gray_frames`); SSIM windows are those of
:func:`~cosmos_predict2.evaluation.metrics.ssim_per_frame` ("uniform" = scikit-image's defaults); resizing is
bilinear + antialias rounded to uint8 (:func:`~cosmos_predict2.evaluation.metrics.resize_frames`). Dynamic PSNR and
latent L2 are computed the same way under every protocol (neither is part of IRASim's scripts): dynamic PSNR is
one value per clip, averaged over clips. Rollouts use the evaluation's chunk size and short-last-chunk rule
(:mod:`cosmos_predict2.evaluation.evaluate`); only the scoring rules above differ between protocols.

Sources:

- ``irasim-short``: IRASim (arXiv 2406.14540 section 4.1), ``evaluate/evaluate_short_script.py`` ->
  ``evaluate/compute_psnr_ssim.py::compute_psnr_ssim`` on clips of ``dataset/dataset_3D.py`` (``num_frames`` = 16
  frames starting every ``val_start_frame_interval`` = 16 frames, kept only when complete; H = 15 there). Frames
  are read with ``cv2.VideoCapture`` (BGR) and converted with ``cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)``; PSNR is
  scikit-image's ``peak_signal_noise_ratio(pred, gt, data_range=255)`` and SSIM ``structural_similarity(pred,
  gt)`` with its defaults (7x7 uniform window, sample covariance, data range 255 for uint8); the first frame of
  each video is skipped; each video's score is the mean over its frames and the result the mean over videos (an
  exactly reproduced frame makes it inf, JSON null). Its ``calculate_psnr`` resizes the GT to the prediction's
  size, but on grayscale frames that code path fails (it expects colour frames, and SSIM needs equal shapes), so
  IRASim's script only compares equal sizes here; this implementation resizes the colour GT to the prediction's
  size before the conversion.
- ``irasim-long``: IRASim ``evaluate/evaluate_long_script.py`` -> ``compute_psnr_ssim.py::compute_psnr``: colour
  PSNR (``calculate_psnr``: GT resized to the prediction's size, ``data_range=255``), no SSIM, first frame of each
  video skipped, mean over videos of each video's frame mean, no cap. Its predicted video
  (``evaluate/generate_long_video.py``) holds the generated frames 1..N without the conditioning frame while the GT
  video holds frames 0..N, and the script pairs the two videos frame by frame, so predicted frame t+1 is scored
  against GT frame t for t = 1..N-1; this protocol scores the same pairs (``pred_offset = 1``; per-frame rows are
  indexed by the GT frame). Episodes with fewer than 2 actions have no such pair and are skipped.
- ``cosmos-long`` (and ``long``): NVIDIA's full-episode protocol for Bridge (Cosmos-Predict2.5, arXiv 2511.00062
  section 6.6; Cosmos-Predict1 arXiv 2501.03575): the whole episode generated autoregressively in chunks, each
  conditioned on the last generated frame. NVIDIA has published no evaluation script (cosmos-predict2.5 issue
  #95 was closed without one), so everything else is this project's assumption: chunk 12 with a short last
  chunk zero-padded (as upstream Predict2.5 ``examples/action_conditioned.py``), frame 0 excluded, prediction and
  GT at the native resolution (a prediction of another size is resized to the GT), colour PSNR and SSIM (11x11
  Gaussian window, sigma 1.5) per frame, pooled over all frames with each PSNR capped at 100 dB.
- ``short``: this project's short protocol (IRASim's one-pass task from frame 0 of each episode, H actions or
  all of a shorter episode), scored like ``cosmos-long``.

Predictions are scored as generated; IRASim scores both videos after writing them to mp4 and decoding them back.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from cosmos_predict2.evaluation.metrics import (
    capped_mean_psnr,
    gray_frames,
    psnr_per_frame,
    resize_frames,
    ssim_per_frame,
    to_frames,
)
from cosmos_predict2.lazy_config.errors import did_you_mean

log = logging.getLogger(__name__)

__all__ = ["Protocol", "Clip", "PROTOCOLS", "DEFAULT_PROTOCOLS", "get_protocol", "protocol_clips", "score_frames",
           "aggregate"]

_IRASIM = "IRASim (arXiv 2406.14540), github.com/bytedance/IRASim "


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A named protocol (module doc). ``clips``: "first_chunk" | "episode" | "clip_grid"; ``colour``: "rgb" |
    "gray"; ``ssim_window``: a :data:`~cosmos_predict2.evaluation.metrics.SSIM_WINDOWS` name or None (no SSIM);
    ``resize``: "pred_to_gt" | "gt_to_pred"; ``average``: "pooled_capped" | "per_video"; ``pred_offset``: predicted
    frame ``t + pred_offset`` is scored against GT frame ``t``."""

    name: str
    clips: str
    colour: str
    ssim_window: Optional[str]
    resize: str
    average: str
    pred_offset: int
    source: str
    same_as: Optional[str] = None

    def describe(self) -> dict:
        """JSON record of the protocol's rules (stored in the evaluation summary)."""
        d = dataclasses.asdict(self)
        d["average"] = {"pooled_capped": "mean over all scored frames, each PSNR capped at 100 dB",
                        "per_video": "mean over videos (clips) of each video's per-frame mean, no cap"}[self.average]
        d["frame0_excluded"] = True
        return d


_DEFS = (
    Protocol("short", "first_chunk", "rgb", "gaussian", "pred_to_gt", "pooled_capped", 0,
             "this project: IRASim's one-pass short task from frame 0 of each episode, scored like cosmos-long"),
    Protocol("long", "episode", "rgb", "gaussian", "pred_to_gt", "pooled_capped", 0,
             "this project's name for cosmos-long", same_as="cosmos-long"),
    Protocol("cosmos-long", "episode", "rgb", "gaussian", "pred_to_gt", "pooled_capped", 0,
             "Cosmos-Predict2.5 (arXiv 2511.00062) section 6.6: full-episode chunked autoregressive rollout; NVIDIA "
             "published no evaluation script, so the scoring rules are this project's assumptions"),
    Protocol("irasim-short", "clip_grid", "gray", "uniform", "gt_to_pred", "per_video", 0,
             _IRASIM + "evaluate/evaluate_short_script.py, evaluate/compute_psnr_ssim.py::compute_psnr_ssim"),
    Protocol("irasim-long", "episode", "rgb", None, "gt_to_pred", "per_video", 1,
             _IRASIM + "evaluate/evaluate_long_script.py, evaluate/compute_psnr_ssim.py::compute_psnr"),
)
_BY_NAME = {p.name: p for p in _DEFS}
PROTOCOLS = tuple(_BY_NAME)
DEFAULT_PROTOCOLS = ("short", "long")


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (:data:`PROTOCOLS`)."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown protocol {name!r}: use one of {', '.join(PROTOCOLS)}."
                         f"{did_you_mean(str(name), PROTOCOLS)}")
    return _BY_NAME[name]


@dataclasses.dataclass
class Clip:
    """One rolled-out clip: GT ``frames`` (1+n, H, W, 3) from episode frame ``start``, its ``actions`` (n, D),
    ``key`` (the episode key, plus ``@start`` for protocols with several clips per episode)."""

    key: str
    episode: str
    start: int
    frames: np.ndarray
    actions: np.ndarray


def protocol_clips(episode: Any, protocol: Protocol | str, horizon: int) -> list[Clip]:
    """The clips of ``episode`` (an :class:`~cosmos_predict2.evaluation.episodes.EvalEpisode`) that ``protocol``
    rolls out; ``horizon`` = the short protocols' number of actions H."""
    p = get_protocol(protocol) if isinstance(protocol, str) else protocol
    frames, actions, key = episode.frames, episode.actions, episode.key
    if p.clips == "episode":
        if len(actions) <= p.pred_offset:
            log.warning("protocol %s: episode %s has %d action(s), no frame pair to score; skipped", p.name, key,
                        len(actions))
            return []
        return [Clip(key, key, 0, frames, actions)]
    if p.clips == "first_chunk":
        n = min(int(horizon), len(actions))
        return [Clip(key, key, 0, frames[: n + 1], actions[:n])]
    h = int(horizon)
    return [Clip(f"{key}@{s}", key, s, frames[s: s + h + 1], actions[s: s + h])
            for s in range(0, len(frames) - h, h + 1)]


def score_frames(protocol: Protocol | str, pred: Any, gt: Any) -> dict[str, np.ndarray]:
    """Per-frame scores of one clip under ``protocol``: ``{"frame": (K,) GT frame indices, "psnr": (K,),
    "ssim": (K,) (NaN when the protocol has no SSIM)}`` for GT frames 1 .. T-1-pred_offset, predicted frame
    ``frame + pred_offset`` scored against GT ``frame``."""
    p = get_protocol(protocol) if isinstance(protocol, str) else protocol
    pr, g = to_frames(pred, "prediction"), to_frames(gt, "ground truth")
    if pr.shape[0] != g.shape[0]:
        raise ValueError(f"prediction has {pr.shape[0]} frames but ground truth has {g.shape[0]}; "
                         "compare clips of the same length")
    if p.resize == "gt_to_pred":
        g = resize_frames(g, pr.shape[1:3])
    else:
        pr = resize_frames(pr, g.shape[1:3])
    k = p.pred_offset
    frames = np.arange(1, g.shape[0] - k)
    if frames.size == 0:
        raise ValueError(f"protocol {p.name}: a clip of {g.shape[0]} frame(s) has nothing to score")
    pr, g = pr[1 + k:], g[1: g.shape[0] - k]
    if p.colour == "gray":
        pr, g = gray_frames(pr), gray_frames(g)
    ssim = (ssim_per_frame(pr, g, window=p.ssim_window) if p.ssim_window is not None
            else np.full(frames.size, np.nan))
    return {"frame": frames, "psnr": psnr_per_frame(pr, g), "ssim": ssim}


def aggregate(protocol: Protocol | str, per_video: Mapping[str, Sequence[float]], metric: str) -> float:
    """The protocol's headline mean of ``metric`` ("psnr" or "ssim") from ``{video key: per-frame values}``:
    pooled over all frames (PSNR capped at 100 dB) or the mean over videos of each video's mean (no cap)."""
    p = get_protocol(protocol) if isinstance(protocol, str) else protocol
    videos = [np.asarray(v, dtype=np.float64) for v in per_video.values() if len(v)]
    if not videos:
        return float("nan")
    if p.average == "per_video":
        with np.errstate(invalid="ignore"):
            return float(np.mean([v.mean() for v in videos]))
    pooled = np.concatenate(videos)
    return capped_mean_psnr(pooled) if metric == "psnr" else float(pooled.mean())
