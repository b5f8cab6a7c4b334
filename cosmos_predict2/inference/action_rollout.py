"""Autoregressive action-conditioned rollout of a Bridge episode.

A chunk is ``1 + chunk_size`` pixel frames (13 = 4 latent frames for chunk_size 12): the conditioning
frame followed by one frame per action. For chunk j (actions ``[j*12, (j+1)*12)``):

1. the model input is ``[img, 0 x 12]`` (uint8) with ``img`` = the episode's first frame for j = 0 and the
   LAST GENERATED frame of chunk j-1 afterwards (round-tripped through uint8, as upstream);
2. a short last chunk (n < 12 actions, when N is not a multiple of 12) follows ``partial_chunk``:

   - ``"pad"`` (default of :func:`rollout_episode`; upstream Predict2.5 ``examples/action_conditioned.py``,
     whose ``inference()`` in ``cosmos_predict2/action_conditioned.py`` takes actions ``[i : i+12]`` and
     zero-pads a short one, lines ~312-321 at commit 7e5ffc8): the chunk is generated with its n actions
     followed by 12 - n zero actions and only its first ``1 + n`` frames are kept (upstream also keeps the
     frames generated under the zero padding; they follow no episode action, so they are not kept here);
   - ``"drop"`` (upstream Predict2 ``examples/video2world_action.py``, whose autoregressive loop stops at a
     short final chunk, lines ~185-188 at commit 661da47): the short chunk is not generated, the output
     ends after the last full chunk and its trailing actions are unused. An episode with fewer than
     ``chunk_size`` actions then has nothing to generate and raises a ``ValueError``;
3. the output is chunk 0 (all its frames, including the decoded conditioning frame) followed by each later
   chunk WITHOUT its frame 0: frame 0 of chunk j is the re-decoded copy of chunk j-1's last frame, so
   dropping it leaves no duplicated and no missing frames at the boundaries. The result has exactly
   ``1 + M`` frames for the M actions used (M = N with ``"pad"``, ``chunk_size * (N // chunk_size)`` with
   ``"drop"``), frame k showing the state after action k.

Upstream (Predict2 ``video2world_action.py`` / Predict2.5 ``action_conditioned.py``) keeps frame 0 of later
chunks and drops their LAST frame instead, which repeats a frame at every boundary and loses the final
frame of each chunk; this module does not.

Which scripts use which mode: ``examples/action_conditioned.py`` (JSON field / flag ``partial_chunk``) pads
by default and ``examples/video2world_action.py`` (``--partial_chunk``) drops by default, each as its
upstream counterpart; the evaluation (``cosmos_predict2.evaluation``) always pads so that every action of
an episode is scored (``PARTIAL_CHUNK`` there).

Episodes (frames and actions computed from ``state`` exactly as in training, not read from the JSON ``action``
field) come from :func:`cosmos_predict2.data.bridge_episode.load_bridge_episode`; counterfactual actions from
:mod:`cosmos_predict2.inference.action_modes`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import numpy as np
import torch

from cosmos_predict2.tokenizers.common import video_to_uint8

log = logging.getLogger(__name__)

__all__ = ["rollout_episode", "generate_chunk", "chunk_plan", "PARTIAL_CHUNK_MODES"]

# What to do with a short last chunk (see the module doc): "pad" as upstream Predict2.5, "drop" as Predict2.
PARTIAL_CHUNK_MODES = ("pad", "drop")


def chunk_plan(num_actions: int, chunk_size: int = 12, partial_chunk: str = "pad") -> list[tuple[int, int]]:
    """[(start, n_actions)] per chunk: the full chunks, then (``partial_chunk="pad"``) a short last one when
    N % chunk_size != 0; ``"drop"`` leaves that short chunk out."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if partial_chunk not in PARTIAL_CHUNK_MODES:
        raise ValueError(f"partial_chunk={partial_chunk!r}: use one of {PARTIAL_CHUNK_MODES}")
    plan = [(s, min(chunk_size, num_actions - s)) for s in range(0, num_actions, chunk_size)]
    if partial_chunk == "drop":
        plan = [(s, n) for s, n in plan if n == chunk_size]
    return plan


def _to_uint8_frames(video_B_C_T_H_W: torch.Tensor) -> np.ndarray:
    """[-1, 1] float video (1, C, T, H, W) -> uint8 (T, H, W, 3)."""
    return video_to_uint8(video_B_C_T_H_W[0]).permute(1, 2, 3, 0).cpu().numpy()


@torch.no_grad()
def generate_chunk(model: Any, first_frame_H_W_3: np.ndarray, actions_K_7: np.ndarray, *, guidance: float = 0.0,
                   seed: int = 0, num_steps: Optional[int] = None, fps: Optional[float] = None,
                   num_latent_conditional_frames: int = 1, text_embeddings: Optional[torch.Tensor] = None) -> np.ndarray:
    """One chunk: ``first_frame`` + ``chunk_size`` actions -> uint8 (1 + chunk_size, H, W, 3). ``fps`` defaults
    to the model's ``config.fps`` (the typed ``model.config``)."""
    from cosmos_predict2.inference.loading import empty_text_embeddings

    device = next(model.net.parameters()).device
    H, W = first_frame_H_W_3.shape[:2]
    K = actions_K_7.shape[0]
    video = torch.zeros(1, 3, K + 1, H, W, dtype=torch.uint8, device=device)
    video[0, :, 0] = torch.from_numpy(np.ascontiguousarray(first_frame_H_W_3)).to(device).permute(2, 0, 1)
    batch = {
        "video": video,
        "action": torch.as_tensor(np.asarray(actions_K_7, dtype=np.float32), device=device)[None],
        "fps": torch.tensor([float(model.config.fps if fps is None else fps)], device=device),
        "padding_mask": torch.zeros(1, 1, H, W, device=device),
        "t5_text_embeddings": text_embeddings if text_embeddings is not None else empty_text_embeddings(model, 1, device),
    }
    latents = model.generate(batch, num_steps=num_steps, guidance=guidance, seed=seed,
                             num_conditional_frames=num_latent_conditional_frames)
    return _to_uint8_frames(model.decode(latents))


def rollout_episode(model: Any, frames_T_H_W_3: np.ndarray, actions_N_7: np.ndarray, chunk_size: int = 12,
                    guidance: float = 0.0, seed: int = 0, num_steps: Optional[int] = None, *,
                    fps: Optional[float] = None, single_chunk: bool = False, num_latent_conditional_frames: int = 1,
                    text_embeddings: Optional[torch.Tensor] = None,
                    on_chunk: Optional[Callable[[int, int], None]] = None,
                    partial_chunk: str = "pad") -> np.ndarray:
    """Roll the model out over the N actions from ``frames_T_H_W_3[0]``; returns uint8 (1 + M, H, W, 3).

    Only frame 0 of ``frames_T_H_W_3`` is used (it must already be at the model's resolution); ``fps`` defaults to
    the model's ``config.fps``. Chunk j uses
    seed ``seed + j * chunk_size`` (upstream uses the chunk's first action index). ``partial_chunk`` decides
    a short last chunk: ``"pad"`` (default, as upstream Predict2.5 ``action_conditioned.py``) zero-pads its
    actions and keeps ``1 + n`` of its frames, so M = N; ``"drop"`` (as upstream Predict2
    ``video2world_action.py``) skips it, so M = ``chunk_size * (N // chunk_size)`` and fewer than
    ``chunk_size`` actions raise a ``ValueError``. ``single_chunk`` stops after the first chunk (output
    ``1 + min(N, chunk_size)`` frames with "pad"). See the module doc for the frame layout.
    """
    frames = np.asarray(frames_T_H_W_3)
    actions = np.asarray(actions_N_7, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"rollout_episode: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if actions.ndim != 2 or actions.shape[0] < 1:
        raise ValueError(f"rollout_episode: actions must be (N >= 1, D), got {actions.shape}")
    plan = chunk_plan(actions.shape[0], chunk_size, partial_chunk)
    if not plan:  # only with "drop": N < chunk_size
        raise ValueError(f"rollout_episode: {actions.shape[0]} actions make no full chunk of {chunk_size} and "
                         "partial_chunk='drop' (upstream Predict2 video2world_action.py) skips a short chunk; "
                         "use partial_chunk='pad' to zero-pad it (upstream Predict2.5 action_conditioned.py)")
    if single_chunk:
        plan = plan[:1]
    img = frames[0]
    pieces: list[np.ndarray] = []
    for j, (start, n) in enumerate(plan):
        act = np.zeros((chunk_size, actions.shape[1]), dtype=np.float32)  # zero actions pad a short chunk
        act[:n] = actions[start:start + n]
        out = generate_chunk(model, img, act, guidance=guidance, seed=seed + start, num_steps=num_steps, fps=fps,
                             num_latent_conditional_frames=num_latent_conditional_frames,
                             text_embeddings=text_embeddings)  # (1 + chunk_size, H, W, 3)
        kept = out[: 1 + n]
        pieces.append(kept if j == 0 else kept[1:])
        img = kept[-1]  # last generated frame conditions the next chunk
        if on_chunk is not None:
            on_chunk(j, len(plan))
    video = np.concatenate(pieces, axis=0)
    expected = 1 + sum(n for _, n in plan)
    assert video.shape[0] == expected, (video.shape, expected)
    return video
