"""Build the diffusion condition from a batch: text embedding (with dropout), actions, the
conditioning-frame mask, padding mask and fps.

The result is a ``VideoCondition``: a plain dataclass that the world model turns into network keyword
arguments (``net_kwargs``) and into the objective's ``condition_mask_B_1_T_1_1`` / ``condition_state``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import torch

__all__ = ["VideoCondition", "VideoConditioner"]


@dataclasses.dataclass
class VideoCondition:
    """Everything the net and the objective need besides the noisy latents."""

    crossattn_emb_B_N_D: torch.Tensor
    condition_mask_B_1_T_1_1: torch.Tensor  # 1 on conditioning latent frames
    num_conditional_frames_B: torch.Tensor  # long
    use_video_condition_B: torch.Tensor  # bool; False -> condition state zeroed (mask kept)
    gt_latent_B_C_T_H_W: Optional[torch.Tensor] = None
    fps_B: Optional[torch.Tensor] = None
    padding_mask_B_1_H_W: Optional[torch.Tensor] = None
    action: Optional[torch.Tensor] = None

    @property
    def condition_state_B_C_T_H_W(self) -> Optional[torch.Tensor]:
        """GT latents on conditioning frames (zeros where the video condition was dropped)."""
        if self.gt_latent_B_C_T_H_W is None:
            return None
        keep = self.use_video_condition_B.to(self.gt_latent_B_C_T_H_W.dtype).view(-1, 1, 1, 1, 1)
        return self.gt_latent_B_C_T_H_W * self.condition_mask_B_1_T_1_1.to(keep.dtype) * keep

    def net_kwargs(self, H: int, W: int, dtype: torch.dtype) -> dict[str, Any]:
        """Keyword arguments for ``net(x, timesteps, **kwargs)`` (see ``MiniTrainDIT.forward``)."""
        mask = self.condition_mask_B_1_T_1_1.to(dtype)
        kwargs: dict[str, Any] = dict(
            crossattn_emb_B_N_D=self.crossattn_emb_B_N_D.to(dtype),
            condition_video_input_mask_B_C_T_H_W=mask.expand(-1, 1, -1, H, W),
            fps=self.fps_B,
            padding_mask=None if self.padding_mask_B_1_H_W is None else self.padding_mask_B_1_H_W.to(dtype),
        )
        if self.action is not None:
            kwargs["action"] = self.action.to(dtype)
        return kwargs

    def replace(self, **changes) -> "VideoCondition":
        return dataclasses.replace(self, **changes)


def _as_tensor(value, B: int, device, dtype) -> Optional[torch.Tensor]:
    if value is None:
        return None
    t = torch.as_tensor(value, device=device, dtype=dtype)
    return t.expand(B) if t.ndim == 0 else t


class VideoConditioner:
    """Turns a batch (dict of tensors, see the dataset sample dict) into a ``VideoCondition``.

    Args:
        text_dropout_rate: per-sample probability of dropping the text (zeros, or the empty-string
            embedding when ``use_empty_string``).
        use_video_condition_dropout_rate: per-sample probability of dropping the video condition
            (conditioning frames then carry zeros; the mask is kept, as upstream).
        use_empty_string: dropped text is replaced by ``empty_string_embedding`` (a (N, D) tensor or a
            batch key ``empty_string_key``) instead of zeros.
        use_action: pass ``batch[action_key]`` to the net (required then).
    """

    def __init__(
        self,
        text_dropout_rate: float = 0.2,
        use_video_condition_dropout_rate: float = 0.0,
        use_empty_string: bool = False,
        use_action: bool = False,
        text_key: str = "t5_text_embeddings",
        action_key: str = "action",
        fps_key: str = "fps",
        padding_mask_key: str = "padding_mask",
        num_conditional_frames_key: str = "num_conditional_frames",
        empty_string_key: str = "empty_string_text_embeddings",
        empty_string_embedding: Optional[torch.Tensor] = None,
    ):
        for name, rate in (("text_dropout_rate", text_dropout_rate),
                           ("use_video_condition_dropout_rate", use_video_condition_dropout_rate)):
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"VideoConditioner: {name} must be in [0, 1], got {rate}.")
        self.text_dropout_rate = float(text_dropout_rate)
        self.video_dropout_rate = float(use_video_condition_dropout_rate)
        self.use_empty_string = bool(use_empty_string)
        self.use_action = bool(use_action)
        self.text_key, self.action_key, self.fps_key = text_key, action_key, fps_key
        self.padding_mask_key, self.num_cond_key = padding_mask_key, num_conditional_frames_key
        self.empty_string_key = empty_string_key
        self.empty_string_embedding = empty_string_embedding

    # ------------------------------------------------------------------ pieces
    def _text(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.text_key not in batch:
            raise ValueError(
                f"VideoConditioner: batch has no text embedding key {self.text_key!r} (keys: {sorted(batch)}); "
                "precompute T5 embeddings (scripts/get_t5_embeddings.py) or use a dataset that provides zeros."
            )
        emb = batch[self.text_key]
        if emb.ndim != 3:
            raise ValueError(f"VideoConditioner: {self.text_key!r} must be (B, N, D), got {tuple(emb.shape)}.")
        if emb.shape[1] > 1 and not emb.any():
            # All-zero text (action datasets without T5 files give 512 zero tokens): cross-attention over N
            # identical tokens equals cross-attention over one of them (uniform softmax over equal values), so
            # keep one token and skip the 512-key attention.
            return emb[:, :1]
        return emb

    def _empty_text(self, batch: Mapping[str, Any], emb: torch.Tensor) -> torch.Tensor:
        """What a dropped text becomes: zeros, or the empty-string embedding."""
        if not self.use_empty_string:
            return torch.zeros_like(emb)
        empty = batch.get(self.empty_string_key, self.empty_string_embedding)
        if empty is None:
            raise ValueError(
                "VideoConditioner: use_empty_string=True needs the empty-string embedding: pass "
                f"empty_string_embedding=(N, D) tensor or put it in the batch under {self.empty_string_key!r}."
            )
        return torch.as_tensor(empty).to(emb).expand_as(emb)

    def _action(self, batch: Mapping[str, Any]) -> Optional[torch.Tensor]:
        if not self.use_action:
            return None
        if self.action_key not in batch:
            raise ValueError(
                f"VideoConditioner: use_action=True but the batch has no {self.action_key!r} key "
                f"(keys: {sorted(batch)}); use an action dataset or set conditioner.use_action=False."
            )
        return batch[self.action_key]

    @staticmethod
    def sample_num_conditional_frames(B: int, min_frames: int, max_frames: int, probs: Optional[Mapping] = None,
                                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Per-sample number of conditioning latent frames: ``probs`` {n: p} if given, else U[min, max]."""
        if probs:
            keys = [int(k) for k in probs]
            p = torch.tensor([float(probs[k]) for k in probs], dtype=torch.float64)
            if (p < 0).any() or p.sum() <= 0:
                raise ValueError(f"conditional_frames_probs must be non-negative with a positive sum, got {dict(probs)}.")
            idx = torch.multinomial(p / p.sum(), B, replacement=True, generator=generator)
            return torch.tensor(keys, dtype=torch.long)[idx]
        if min_frames > max_frames or min_frames < 0:
            raise ValueError(
                f"min_num_conditional_frames={min_frames} / max_num_conditional_frames={max_frames}: need 0 <= min <= max."
            )
        return torch.randint(int(min_frames), int(max_frames) + 1, (B,), generator=generator)

    # ------------------------------------------------------------------ main entry
    def __call__(
        self,
        batch: Mapping[str, Any],
        gt_latent_B_C_T_H_W: torch.Tensor,
        *,
        min_num_conditional_frames: int = 1,
        max_num_conditional_frames: int = 2,
        conditional_frames_probs: Optional[Mapping] = None,
        num_conditional_frames: Optional[int] = None,
        training: bool = True,
        generator: Optional[torch.Generator] = None,
    ) -> VideoCondition:
        """Build the condition. ``num_conditional_frames`` (or the batch key of that name) fixes the count;
        otherwise it is drawn per sample. Dropout applies only when ``training``."""
        x = gt_latent_B_C_T_H_W
        B, T, device = x.shape[0], x.shape[2], x.device
        emb = self._text(batch).to(device)
        if emb.shape[0] != B:
            raise ValueError(f"VideoConditioner: text embedding batch {emb.shape[0]} != latent batch {B}.")

        if num_conditional_frames is None and self.num_cond_key in batch:
            num_conditional_frames = batch[self.num_cond_key]
        if num_conditional_frames is not None:
            n_B = _as_tensor(num_conditional_frames, B, "cpu", torch.long).clone()
        else:
            n_B = self.sample_num_conditional_frames(B, min_num_conditional_frames, max_num_conditional_frames,
                                                     conditional_frames_probs, generator)
        if (n_B < 0).any() or (n_B > T).any():
            raise ValueError(
                f"VideoConditioner: number of conditional latent frames {n_B.tolist()} must be in [0, {T}] "
                f"(latent frames of this batch); check min/max_num_conditional_frames and the clip length."
            )
        mask = (torch.arange(T)[None, :] < n_B[:, None]).to(device=device, dtype=x.dtype).view(B, 1, T, 1, 1)

        keep_video = torch.ones(B, dtype=torch.bool)
        if training and self.text_dropout_rate > 0:
            drop = torch.rand(B, generator=generator) < self.text_dropout_rate
            emb = torch.where(drop.to(device).view(B, 1, 1), self._empty_text(batch, emb), emb)
        if training and self.video_dropout_rate > 0:
            keep_video = torch.rand(B, generator=generator) >= self.video_dropout_rate

        pad = batch.get(self.padding_mask_key)
        action = self._action(batch)
        return VideoCondition(
            crossattn_emb_B_N_D=emb,
            condition_mask_B_1_T_1_1=mask,
            num_conditional_frames_B=n_B.to(device),
            use_video_condition_B=keep_video.to(device),
            gt_latent_B_C_T_H_W=x,
            fps_B=_as_tensor(batch.get(self.fps_key), B, device, torch.float32),
            padding_mask_B_1_H_W=None if pad is None else pad.to(device),
            action=None if action is None else action.to(device),
        )

    def for_inference(self, batch: Mapping[str, Any], gt_latent_B_C_T_H_W: torch.Tensor, num_conditional_frames: int,
                      negative_text_embeddings: Optional[torch.Tensor] = None) -> tuple[VideoCondition, VideoCondition]:
        """(conditional, unconditional) conditions for guidance: no dropout; the unconditional one drops
        the text (zeros / empty string, or ``negative_text_embeddings``) and keeps the video condition."""
        cond = self(batch, gt_latent_B_C_T_H_W, num_conditional_frames=num_conditional_frames, training=False)
        emb = cond.crossattn_emb_B_N_D
        if negative_text_embeddings is not None:
            neg = negative_text_embeddings.to(emb)
            uncond_emb = neg.expand_as(emb) if neg.ndim == 2 else neg
        else:
            uncond_emb = self._empty_text(batch, emb)
        return cond, cond.replace(crossattn_emb_B_N_D=uncond_emb)
