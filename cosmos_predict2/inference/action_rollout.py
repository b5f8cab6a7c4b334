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

Actions are computed from ``state`` exactly as in training (:func:`cosmos_predict2.data.actions.actions_from_states`),
not read from the JSON ``action`` field.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Optional

import numpy as np
import torch

from cosmos_predict2.data.actions import actions_from_states
from cosmos_predict2.data.resize import resize_video
from cosmos_predict2.data.video_io import read_frames, video_info
from cosmos_predict2.tokenizers.common import video_to_uint8

log = logging.getLogger(__name__)

__all__ = ["rollout_episode", "generate_chunk", "chunk_plan", "perturb_actions", "load_bridge_episode",
           "EpisodeError", "ACTION_MODES", "PARTIAL_CHUNK_MODES"]

ACTION_MODES = ("gt", "zero", "shuffled", "reversed")
# What to do with a short last chunk (see the module doc): "pad" as upstream Predict2.5, "drop" as Predict2.
PARTIAL_CHUNK_MODES = ("pad", "drop")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class EpisodeError(ValueError):
    """A bad annotation / video (one line naming the file)."""


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
                   seed: int = 0, num_steps: Optional[int] = None, fps: float = 4.0,
                   num_latent_conditional_frames: int = 1, text_embeddings: Optional[torch.Tensor] = None) -> np.ndarray:
    """One chunk: ``first_frame`` + ``chunk_size`` actions -> uint8 (1 + chunk_size, H, W, 3)."""
    from cosmos_predict2.inference.loading import empty_text_embeddings

    device = next(model.net.parameters()).device
    H, W = first_frame_H_W_3.shape[:2]
    K = actions_K_7.shape[0]
    video = torch.zeros(1, 3, K + 1, H, W, dtype=torch.uint8, device=device)
    video[0, :, 0] = torch.from_numpy(np.ascontiguousarray(first_frame_H_W_3)).to(device).permute(2, 0, 1)
    batch = {
        "video": video,
        "action": torch.as_tensor(np.asarray(actions_K_7, dtype=np.float32), device=device)[None],
        "fps": torch.tensor([float(fps)], device=device),
        "padding_mask": torch.zeros(1, 1, H, W, device=device),
        "t5_text_embeddings": text_embeddings if text_embeddings is not None else empty_text_embeddings(model, 1, device),
    }
    latents = model.generate(batch, num_steps=num_steps, guidance=guidance, seed=seed,
                             num_conditional_frames=num_latent_conditional_frames)
    return _to_uint8_frames(model.decode(latents))


def rollout_episode(model: Any, frames_T_H_W_3: np.ndarray, actions_N_7: np.ndarray, chunk_size: int = 12,
                    guidance: float = 0.0, seed: int = 0, num_steps: Optional[int] = None, *, fps: float = 4.0,
                    single_chunk: bool = False, num_latent_conditional_frames: int = 1,
                    text_embeddings: Optional[torch.Tensor] = None,
                    on_chunk: Optional[Callable[[int, int], None]] = None,
                    partial_chunk: str = "pad") -> np.ndarray:
    """Roll the model out over the N actions from ``frames_T_H_W_3[0]``; returns uint8 (1 + M, H, W, 3).

    Only frame 0 of ``frames_T_H_W_3`` is used (it must already be at the model's resolution). Chunk j uses
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


def perturb_actions(actions_N_D: np.ndarray, mode: str = "gt", seed: int = 0) -> np.ndarray:
    """Counterfactual actions fed through the same rollout: gt | zero | shuffled (time-permuted) | reversed."""
    a = np.asarray(actions_N_D, dtype=np.float32)
    if mode == "gt":
        return a.copy()
    if mode == "zero":
        return np.zeros_like(a)
    if mode == "shuffled":
        return a[np.random.default_rng(seed).permutation(len(a))]
    if mode == "reversed":
        return a[::-1].copy()
    raise ValueError(f"action mode {mode!r}: use one of {ACTION_MODES}")


def _resize_frames(frames_T_H_W_3: np.ndarray, size: Optional[tuple[int, int]]) -> np.ndarray:
    if size is None:
        return frames_T_H_W_3
    v = resize_video(torch.from_numpy(frames_T_H_W_3).permute(3, 0, 1, 2), size)
    return v.permute(1, 2, 3, 0).numpy()


def load_bridge_episode(annotation_path: str, input_root: Optional[str] = None, *, camera_id: int = 0,
                        state_key: str = "state", gripper_key: str = "continuous_gripper_state",
                        start_frame_idx: int = 0, fps_downsample_ratio: int = 1, action_scaler: float = 20.0,
                        gripper_scale: float = 1.0, reverse: bool = False, use_quat: bool = False,
                        resolution: Optional[tuple[int, int]] = None, video_path: Optional[str] = None,
                        max_frames: Optional[int] = None, accumulate_action: bool = False) -> dict[str, Any]:
    """Read one Bridge episode: {"frames" uint8 (T,H,W,3) at `resolution`, "actions" (T-1, 7), "video_path",
    "key"}. Frames ``start_frame_idx, +r, +2r, ...`` (r = fps_downsample_ratio); actions from ``state``.
    ``video_path`` may be an image: then "frames" holds that one frame (the rollout's start)."""
    try:
        with open(annotation_path) as f:
            ann = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise EpisodeError(f"{annotation_path}: cannot read annotation JSON ({err})") from err
    if not isinstance(ann, dict):
        raise EpisodeError(f"{annotation_path}: annotation is not a JSON object")
    for key in (state_key, gripper_key):
        if key not in ann:
            raise EpisodeError(f"{annotation_path}: no '{key}' field (keys: {sorted(ann)[:10]}); action-conditioned "
                               f"inference computes actions from '{state_key}' + '{gripper_key}' like training")
    if use_quat:
        raise EpisodeError(f"{annotation_path}: use_quat=true gives 8-d quaternion actions; the shipped action nets "
                           "take 7-d [xyz, rpy, gripper] actions; set use_quat=false")
    state = np.asarray(ann[state_key], dtype=np.float64)
    grip = np.asarray(ann[gripper_key], dtype=np.float64).reshape(-1)
    if state.ndim != 2 or state.shape[1] < 6 or len(grip) != len(state):
        raise EpisodeError(f"{annotation_path}: '{state_key}' {state.shape} / '{gripper_key}' {grip.shape} must be "
                           "(N, >=6) and (N,)")
    if video_path is None:
        videos = ann.get("videos")
        if not isinstance(videos, list) or not 0 <= camera_id < len(videos):
            raise EpisodeError(f"{annotation_path}: 'videos' has no entry for camera_id={camera_id}")
        entry = videos[camera_id]
        rel = entry.get("video_path") if isinstance(entry, dict) else entry
        root = input_root if input_root is not None else os.path.dirname(os.path.dirname(os.path.dirname(annotation_path)))
        video_path = os.path.join(root, rel)
    if not os.path.isfile(video_path):
        raise EpisodeError(f"{annotation_path}: video {video_path} does not exist")
    is_image = os.path.splitext(video_path)[1].lower() in IMAGE_EXTENSIONS
    n = len(state) if is_image else min(len(state), video_info(video_path)[0])
    step = max(1, int(fps_downsample_ratio))
    idx = list(range(int(start_frame_idx), n, step))
    if max_frames is not None:
        idx = idx[:max_frames]
    if len(idx) < 2:
        raise EpisodeError(f"{annotation_path}: fewer than 2 frames from start_frame_idx={start_frame_idx} "
                           f"(episode has {n} frames)")
    if reverse:
        idx = idx[::-1]
    if is_image:  # only the first frame is known: the rollout needs no more (no ground truth after it)
        import imageio.v2 as imageio

        first = np.asarray(imageio.imread(video_path))[..., :3]
        frames = _resize_frames(first[None].astype(np.uint8), resolution)
    else:
        frames = _resize_frames(read_frames(video_path, idx), resolution)
    actions = actions_from_states(state[idx], grip[idx], accumulate=accumulate_action, scaler=action_scaler,
                                  gripper_rescale_factor=gripper_scale).astype(np.float32)
    key = str(ann.get("episode_id", os.path.splitext(os.path.basename(annotation_path))[0]))
    return {"frames": frames, "actions": actions, "video_path": video_path, "key": key,
            "texts": ann.get("texts"), "frame_indices": idx}
