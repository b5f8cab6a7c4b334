"""Video critics for best-of-N rejection sampling (``examples/video2world_bestofn.py``).

Two critics with one interface, ``critic.score(video_path, prompt) -> {"score": float in [0, 1], ...}`` and
``critic.description`` (which critic ranks and why it was chosen, e.g. "heuristic critic (no Cosmos-Reason1 model
found at ...)"; the best-of-N script prints and stores it as ``ranked_by``):

- :class:`VLMCritic`: a local vision-language model (Cosmos-Reason1-7B or any transformers
  image-text-to-text model) asked ``num_trials`` times whether the video shows anomalies/artifacts; it must
  answer ``<answer>yes</answer>`` or ``<answer>no</answer>``. Score = #"no" / #parsed answers (upstream rule;
  sampling temperature 0.6, top_p 0.95, top_k 50, repetition penalty 1.05).
- :class:`HeuristicCritic` (built in, offline, no weights): low-level video statistics only, each a sub-score in
  [0, 1] that natural video earns and noise does not; ``score`` is their geometric mean (one failing part sinks it):

  - ``temporal_consistency``: median correlation of consecutive frames (1 - the fraction of a frame's contrast
    that changes per step: natural video changes a little, independent noise frames entirely), times a
    penalty for a single jump far above the clip's typical motion (a cut or a glitch);
  - ``no_flicker``: brightness does not oscillate from frame to frame;
  - ``spatial_structure``: median correlation of neighbouring pixels (close to 1 for natural images, whose power
    spectrum falls with frequency; ~0 for white noise);
  - ``sharpness``: Laplacian energy of the late frames kept relative to the first frame (blur and washed-out
    endings are penalised; capped at 1), times the late frames' spatial structure, so detail that is noise
    earns nothing;
  - ``motion``: a frozen clip scores lower.

  Frames are box-averaged to at most 320 pixels on the longer side first. It does NOT judge physical
  plausibility, object permanence or prompt adherence, and smooth random patterns (noise blurred in space and
  time) pass its tests: use it to weed out visibly broken samples, and a VLM critic to rank plausible ones.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Optional

import numpy as np

from cosmos_predict2.guardrail.errors import OptionalComponentError

log = logging.getLogger(__name__)
DEFAULT_CRITIC_DIR = "checkpoints/nvidia/Cosmos-Reason1-7B"
CRITIC_PROMPT = (
    "You are a video critic. Watch this generated video carefully. Does it contain any anomalies or artifacts, "
    "such as objects appearing or disappearing, physically implausible motion, distorted shapes, flicker or "
    "blur? Think briefly, then answer with <answer>yes</answer> or <answer>no</answer>."
)
_ANSWER = re.compile(r"<answer>\s*(yes|no)\s*</answer>", re.IGNORECASE)


def parse_answer(text: str) -> Optional[str]:
    """'yes' / 'no' from ``<answer>...</answer>``, else None."""
    m = _ANSWER.search(text or "")
    return m.group(1).lower() if m else None


_MAX_SIDE = 320


def _gray(frames_T_H_W_3: np.ndarray) -> np.ndarray:
    """Luma in 0..255 (float32), box-averaged so that the longer side is at most ``_MAX_SIDE`` pixels."""
    _, H, W, _ = frames_T_H_W_3.shape
    k = -(-max(H, W) // _MAX_SIDE)
    h, w = H // k, W // k
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    # frame by frame: one float frame in memory at a time, not a float copy of the whole clip
    return np.stack([(f[:h * k, :w * k].astype(np.float32) @ luma).reshape(h, k, w, k).mean(axis=(1, 3))
                     for f in frames_T_H_W_3])


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-6))


def _neighbour_corr(g_H_W: np.ndarray) -> float:
    """Mean correlation of horizontally and of vertically adjacent pixels."""
    return 0.5 * (_corr(g_H_W[:, :-1], g_H_W[:, 1:]) + _corr(g_H_W[:-1], g_H_W[1:]))


def _laplacian_energy(g_H_W: np.ndarray) -> float:
    lap = (-4 * g_H_W[1:-1, 1:-1] + g_H_W[:-2, 1:-1] + g_H_W[2:, 1:-1] + g_H_W[1:-1, :-2] + g_H_W[1:-1, 2:])
    return float(lap.var())


HEURISTIC_PARTS = ("temporal_consistency", "no_flicker", "spatial_structure", "sharpness", "motion")


def heuristic_scores(frames_T_H_W_3: np.ndarray) -> dict[str, float]:
    """Sub-scores in [0, 1] and their geometric mean ``score`` (see the module doc)."""
    frames = np.asarray(frames_T_H_W_3)
    if frames.ndim != 4 or len(frames) < 2:
        return {"score": 0.0, **{k: 0.0 for k in HEURISTIC_PARTS}}
    g = _gray(frames)
    coherence = max(0.0, float(np.median([_corr(a, b) for a, b in zip(g[:-1], g[1:])])))
    diffs = np.abs(np.diff(g, axis=0)).mean(axis=(1, 2))  # (T-1,) mean abs change per step
    typical = float(np.median(diffs)) + 1.0
    no_jump = float(np.exp(-max(0.0, diffs.max() / typical - 3.0) / 3.0))  # one jump >> typical motion
    brightness = g.mean(axis=(1, 2))
    # flicker = brightness oscillation: |second difference| is ~0 for steady or smoothly changing light
    flicker = float(np.abs(np.diff(brightness, n=2)).mean()) if len(brightness) > 2 else 0.0
    late = g[len(g) // 2:]
    kept = min(1.0, np.mean([_laplacian_energy(x) for x in late]) / (_laplacian_energy(g[0]) + 1e-6)) ** 0.5
    late_structure = max(0.0, float(np.median([_neighbour_corr(x) for x in late])))
    parts = {"temporal_consistency": coherence * no_jump,
             "no_flicker": float(np.exp(-flicker / 4.0)),
             "spatial_structure": max(0.0, float(np.median([_neighbour_corr(x) for x in g]))),
             "sharpness": float(kept * late_structure),
             "motion": float(1.0 - np.exp(-diffs.mean() / 0.5))}
    score = float(np.prod([max(v, 1e-6) for v in parts.values()]) ** (1.0 / len(parts)))
    return {"score": score, **parts}


class HeuristicCritic:
    name = "heuristic"

    def __init__(self, reason: str = "--critic heuristic"):
        self.description = f"heuristic critic ({reason})"

    def score(self, video_path: str, prompt: str = "") -> dict[str, Any]:
        from cosmos_predict2.data.video_io import read_frames, video_info

        n = video_info(video_path)[0]
        return {**heuristic_scores(read_frames(video_path, list(range(n)))), "critic": self.name}


class VLMCritic:
    """A local transformers vision-language model as critic (see the module doc)."""

    name = "vlm"

    def __init__(self, checkpoint_dir: str, num_trials: int = 5, fps: int = 16, device: Optional[str] = None):
        if not os.path.isfile(os.path.join(checkpoint_dir, "config.json")):
            raise OptionalComponentError(f"critic model not found at {checkpoint_dir} (no config.json); download "
                                         "Cosmos-Reason1-7B there or use --critic heuristic")
        self.checkpoint_dir, self.num_trials, self.fps = checkpoint_dir, int(num_trials), fps
        self.description = f"vision-language model critic ({checkpoint_dir})"
        self.device = device
        self._m = None

    def _load(self):
        if self._m is None:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            proc = AutoProcessor.from_pretrained(self.checkpoint_dir, local_files_only=True)
            dev = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModelForImageTextToText.from_pretrained(
                self.checkpoint_dir, local_files_only=True,
                dtype=torch.bfloat16 if dev.startswith("cuda") else torch.float32).to(dev).eval()
            self._m = (proc, model)
        return self._m

    def score(self, video_path: str, prompt: str = "") -> dict[str, Any]:
        from cosmos_predict2.data.video_io import read_frames, video_info

        proc, model = self._load()
        n = video_info(video_path)[0]
        frames = read_frames(video_path, list(range(0, n, max(1, n // 32))))
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": CRITIC_PROMPT}]}]
        text = proc.apply_chat_template(messages, add_generation_prompt=True)
        inputs = proc(text=[text], videos=[list(frames)], return_tensors="pt").to(model.device)
        out = model.generate(**inputs, do_sample=True, temperature=0.6, top_p=0.95, top_k=50,
                             repetition_penalty=1.05, max_new_tokens=4096, num_return_sequences=self.num_trials)
        responses = proc.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        answers = [parse_answer(r) for r in responses]
        parsed = [a for a in answers if a is not None]
        score = sum(a == "no" for a in parsed) / len(parsed) if parsed else 0.0
        return {"score": float(score), "critic": self.name, "answers": answers, "responses": responses}


def make_critic(kind: str, checkpoint_dir: Optional[str], num_trials: int = 5):
    """``kind``: vlm | heuristic | auto (a VLM when ``checkpoint_dir``, default checkpoints/nvidia/Cosmos-Reason1-7B,
    holds one, else the heuristic critic)."""
    if kind == "heuristic":
        return HeuristicCritic()
    if kind == "auto":
        path = checkpoint_dir or DEFAULT_CRITIC_DIR
        if os.path.isfile(os.path.join(path, "config.json")):
            log.info("critic: vision-language model from %s", path)
            return VLMCritic(path, num_trials)
        log.info("critic: built-in heuristic scorer (no VLM at %s; see cosmos_predict2/inference/critic.py)", path)
        return HeuristicCritic(f"no Cosmos-Reason1 model found at {path}")
    if kind == "vlm":
        return VLMCritic(checkpoint_dir or DEFAULT_CRITIC_DIR, num_trials)
    raise ValueError(f"--critic {kind!r}: use auto, vlm or heuristic")
