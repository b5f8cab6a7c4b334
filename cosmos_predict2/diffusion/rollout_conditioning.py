"""Training on the model's own rollouts: condition some clips on the frame the model itself predicted.

An autoregressive rollout conditions chunk k on the LAST GENERATED frame of chunk k-1, which is blurrier
and slightly wrong compared with the ground-truth frames every training clip starts from; the error then
compounds chunk after chunk. ``OwnRolloutConditioning`` trains on that situation: the loader gives
two-chunk windows (``1 + 2 * chunk_actions`` frames, e.g. 25) and for a random fraction ``prob`` of the
samples the model (no gradient, current weights, the inference sampler) predicts the first chunk from
its ground-truth first frame; its last frame, round-tripped through uint8 and the tokenizer exactly as in
``cosmos_predict2.inference.action_rollout``, becomes the conditioning frame of the second chunk, whose
ground-truth frames are the training target. The other samples train on one of the two chunks with its
ground-truth conditioning frame (either chunk, at random, so both halves of the windows are used).

Set ``model.config.rollout_conditioning=L(OwnRolloutConditioning)(...)`` and
``dataloader_train.dataset.num_frames = 1 + 2 * chunk_actions``; from the command line::

    python -m scripts.train -- experiment=tiny_action_conditioned_bridge dataloader_train.dataset.num_frames=25 \
        'model.config.rollout_conditioning={_target_:cosmos_predict2.diffusion.rollout_conditioning.OwnRolloutConditioning,prob:0.5}'

Validation batches (one chunk) are left alone. Each own-prediction sample costs one extra no-gradient
forward of the net.

Measured on the tiny recipe (BENCHMARKS.md section 1: prob 0.5 from iteration 1000, 4300 iterations) it
LOWERED long-protocol PSNR (19.70 against 20.06 dB; the gap to shuffled actions 0.99 against 1.58 dB), so
the recipe leaves it off; it is here to try at scales where the rollout error, not the model's own blur,
dominates.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import torch

from cosmos_predict2.tokenizers.common import video_to_uint8

__all__ = ["OwnRolloutConditioning", "RolloutDraw", "split_two_chunk_window", "select_samples"]


@dataclasses.dataclass
class RolloutDraw:
    """What one call drew: ``own_B`` samples conditioned on the model's own prediction, ``second_B`` samples
    whose training clip is the window's second chunk (all ``own_B`` ones), ``seed`` of the prediction's noise."""

    own_B: torch.Tensor
    second_B: torch.Tensor
    seed: int


def select_samples(batch: Mapping[str, Any], index: torch.Tensor, batch_size: int) -> dict:
    """The samples ``index`` of every per-sample tensor / list of ``batch`` (other values kept as they are)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch_size:
            out[key] = value.index_select(0, index.to(value.device))
        elif isinstance(value, (list, tuple)) and len(value) == batch_size:
            out[key] = [value[int(i)] for i in index]
        else:
            out[key] = value
    return out


def split_two_chunk_window(video_B_C_T_H_W: torch.Tensor, action_B_N_D: torch.Tensor, chunk_actions: int):
    """(video, actions) of a ``1 + 2n`` frame window -> ((video1, actions1), (video2, actions2)) of ``1 + n``
    frames each; chunk 2 starts on chunk 1's last frame (frame n)."""
    n = int(chunk_actions)
    T, N = video_B_C_T_H_W.shape[2], action_B_N_D.shape[1]
    if T != 2 * n + 1 or N != 2 * n:
        raise ValueError(
            f"rollout_conditioning needs two-chunk windows of {2 * n + 1} frames and {2 * n} actions, got {T} frames "
            f"and {N} actions; set dataloader_train.dataset.num_frames={2 * n + 1} (or remove "
            "model.config.rollout_conditioning)."
        )
    return ((video_B_C_T_H_W[:, :, : n + 1], action_B_N_D[:, :n]),
            (video_B_C_T_H_W[:, :, n:], action_B_N_D[:, n:]))


class OwnRolloutConditioning:
    """See the module doc. ``prob``: fraction of samples conditioned on the model's own prediction (from
    ``start_iteration`` on; before, every sample uses ground truth); ``num_steps``: sampler steps of that
    prediction (None: the model's sampler default, i.e. what inference uses); ``chunk_actions``: actions
    per chunk (12 for Bridge). The batch keys are the model's (``input_video_key``, ``input_latent_key``) and
    its conditioner's (``action_key``)."""

    def __init__(self, prob: float = 0.5, start_iteration: int = 0, num_steps: Optional[int] = None,
                 chunk_actions: int = 12):
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"OwnRolloutConditioning: prob={prob} must be in [0, 1]")
        if int(start_iteration) < 0 or int(chunk_actions) < 1:
            raise ValueError(f"OwnRolloutConditioning: start_iteration={start_iteration} must be >= 0 and "
                             f"chunk_actions={chunk_actions} >= 1")
        if num_steps is not None and int(num_steps) < 1:
            raise ValueError(f"OwnRolloutConditioning: num_steps={num_steps} must be >= 1 (or None)")
        self.prob = float(prob)
        self.start_iteration = int(start_iteration)
        self.num_steps = None if num_steps is None else int(num_steps)
        self.chunk_actions = int(chunk_actions)

    def __repr__(self) -> str:
        return (f"OwnRolloutConditioning(prob={self.prob}, start_iteration={self.start_iteration}, "
                f"num_steps={self.num_steps}, chunk_actions={self.chunk_actions})")

    def __call__(self, model: Any, batch: Mapping[str, Any], iteration: int,
                 generator: Optional[torch.Generator] = None) -> tuple[dict, RolloutDraw]:
        """Two-chunk ``batch`` -> (one-chunk batch with ``latent`` set, what was drawn)."""
        video_key, latent_key = model.input_video_key, model.input_latent_key
        action_key = model.conditioner.action_key
        for key in (video_key, action_key):
            if key not in batch:
                raise ValueError(f"rollout_conditioning needs batch[{key!r}] (uint8 video + actions); got keys "
                                 f"{sorted(batch)}")
        video, action = batch[video_key], batch[action_key]
        (video1, action1), (video2, action2) = split_two_chunk_window(video, action, self.chunk_actions)
        B = video.shape[0]
        device = video.device
        draw_device = "cpu" if generator is None else generator.device
        draws = torch.rand(2, B, generator=generator, device=draw_device)
        active = iteration >= self.start_iteration
        own_B = (draws[0] < self.prob) & active  # conditioned on the model's own chunk-1 prediction
        second_B = own_B | (draws[1] < 0.5)  # which chunk is the training clip
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=draw_device))
        pick = second_B.to(device).view(B, *([1] * (video.ndim - 1)))
        clip = torch.where(pick, video2, video1)
        actions = torch.where(second_B.to(device).view(B, 1, 1), action2, action1)
        latent = model.encode(clip)  # (B, C, t, h, w), chunk 2's frame 0 still the ground truth
        if bool(own_B.any()):
            index = own_B.nonzero().flatten()
            first = select_samples({**batch, video_key: video1, action_key: action1}, index, B)
            first.pop(latent_key, None)
            predicted = model.generate(first, num_steps=self.num_steps, seed=seed)  # (b, C, t, h, w)
            last_frame = video_to_uint8(model.decode(predicted)[:, :, -1:])  # uint8 (b, 3, 1, H, W), as saved
            latent[index.to(device), :, :1] = model.encode(last_frame).to(latent.dtype)
        out = {**batch, video_key: clip, action_key: actions, latent_key: latent}
        if isinstance(out.get("num_frames"), torch.Tensor):
            out["num_frames"] = torch.full_like(out["num_frames"], self.chunk_actions + 1)
        elif "num_frames" in out:
            out["num_frames"] = self.chunk_actions + 1
        return out, RolloutDraw(own_B=own_B, second_B=second_B, seed=seed)
