"""Text + image/video conditioned generation (``examples/video2world.py`` and friends).

``Video2WorldPipeline(model, config, text_encoder)`` turns (prompt, input image or video) into a video:
1. input: an image gives 1 conditioning frame; a video gives its LAST ``num_conditional_frames`` frames
   (1 or 5 pixel frames = 1 or 2 latent frames), resized to cover the target size and centre-cropped;
2. the clip is ``num_video_frames`` long (the experiment's): conditioning frames then zeros;
3. text: T5 embeddings of the prompt (and of the negative prompt for the unconditional branch when
   guidance != 0); experiments without a text encoder (``text_encoder.kind == "none"``) use zeros and say
   that the prompt is ignored;
4. ``model.generate`` with the experiment's sampler, ``decode``, uint8 frames.

Context parallelism (``--num_gpus N`` under torchrun): when ``WORLD_SIZE > 1`` the DiT gets the Ulysses
context parallelism of :mod:`cosmos_predict2.parallel.context_parallel` over all ranks; every rank runs the
same sampling loop with the same seed (identical noise), the attention is split across ranks, and rank 0
writes the files.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Optional

import numpy as np
import torch

from cosmos_predict2.data.video_io import read_frames, video_info
from cosmos_predict2.inference import experiment_info
from cosmos_predict2.inference.loading import InferenceSetupError
from cosmos_predict2.tokenizers.common import video_to_uint8

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
ASPECT_RATIOS = ("16:9", "1:1", "4:3", "3:4", "9:16")


def target_size(config: Any, resolution: Optional[str], aspect_ratio: str = "16:9") -> tuple[int, int]:
    """(H, W): the experiment's size by default; with ``resolution`` the 16:9 size of that name, re-shaped to
    ``aspect_ratio`` at about the same pixel count (multiples of 16)."""
    if aspect_ratio not in ASPECT_RATIOS:
        raise InferenceSetupError(f"--aspect_ratio {aspect_ratio!r}: use one of {', '.join(ASPECT_RATIOS)}")
    h, w = experiment_info.video_size(config, resolution)
    if aspect_ratio == "16:9" or resolution is None:
        return h, w
    a, b = (int(x) for x in aspect_ratio.split(":"))
    area = h * w
    new_h = int(round(math.sqrt(area * b / a) / 16)) * 16
    new_w = int(round(new_h * a / b / 16)) * 16
    return new_h, new_w


def resize_cover_crop(frames_T_H_W_3: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize so the frames cover ``size`` (aspect kept), then centre-crop to it."""
    from cosmos_predict2.data.resize import resize_video

    h, w = size
    t, h0, w0, _ = frames_T_H_W_3.shape
    scale = max(h / h0, w / w0)
    rh, rw = max(h, int(math.ceil(h0 * scale))), max(w, int(math.ceil(w0 * scale)))
    v = resize_video(torch.from_numpy(np.ascontiguousarray(frames_T_H_W_3)).permute(3, 0, 1, 2), (rh, rw))
    top, left = (rh - h) // 2, (rw - w) // 2
    return v[:, :, top:top + h, left:left + w].permute(1, 2, 3, 0).contiguous().numpy()


def read_conditioning_frames(path: str, num_frames: int) -> np.ndarray:
    """uint8 (n, H, W, 3): an image (n = 1) or the last ``num_frames`` frames of a video."""
    if not os.path.isfile(path):
        raise InferenceSetupError(f"input {path!r} does not exist")
    if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
        import imageio.v2 as imageio

        img = np.asarray(imageio.imread(path))
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        return img[None, ..., :3].astype(np.uint8)
    n = video_info(path)[0]
    if n < num_frames:
        raise InferenceSetupError(f"input video {path} has {n} frames; --num_conditional_frames {num_frames} needs "
                                  f"at least {num_frames}")
    return read_frames(path, list(range(n - num_frames, n)))


def latent_conditional_frames(num_pixel_frames: int, temporal_compression: int = 4) -> int:
    """Pixel conditioning frames -> latent frames (1 -> 1, 5 -> 2)."""
    return 1 + (num_pixel_frames - 1) // temporal_compression


def check_text_encoder(config: Any, text_encoder_path: Optional[str]) -> None:
    """Before building the model: the T5 folder the prompts need must be on disk (no loading here)."""
    text_cfg = experiment_info.model_config(config).text_encoder
    kind = text_cfg.kind
    path = text_encoder_path or (text_cfg.path if kind == "t5" else "")
    from cosmos_predict2.text_encoders.t5 import _looks_like_path  # hub ids (owner/name) resolve from the HF cache

    if path and _looks_like_path(path) and not os.path.isdir(os.path.expanduser(path)):
        raise InferenceSetupError(f"text encoder folder {path} not found; download it (python "
                                  "scripts/download_checkpoints.py --model_types Video2World fetches google-t5/t5-11b) "
                                  "or pass --text_encoder_path")
    if not path and kind not in ("none", "t5"):
        raise InferenceSetupError(f"the experiment's text encoder is {kind!r}; pass --text_encoder_path to a local T5 "
                                  "folder (scripts/download_checkpoints.py fetches google-t5/t5-11b)")


class PromptEncoder:
    """Prompts -> (1, N, D) embeddings: a T5 encoder, or zeros when the experiment has no text encoder."""

    def __init__(self, model: Any, text_encoder_path: Optional[str] = None, device: Optional[torch.device] = None):
        self.dim = model.config.text_encoder.embed_dim
        self.kind = model.config.text_encoder.kind
        self.device = device or torch.device("cpu")
        self.encoder = None
        path = text_encoder_path
        if path is None and self.kind == "t5":
            path = model.config.text_encoder.path
        if path:
            from cosmos_predict2.text_encoders.t5 import T5TextEncoder

            self.encoder = T5TextEncoder(path, device=self.device,
                                         dtype=torch.bfloat16 if self.device.type == "cuda" else torch.float32)
            if self.encoder.embed_dim != self.dim:
                raise InferenceSetupError(f"text encoder {path} gives {self.encoder.embed_dim}-d embeddings but the "
                                          f"model expects {self.dim}-d; pass the matching --text_encoder_path")
        elif self.kind != "none":
            raise InferenceSetupError(f"the experiment's text encoder is {self.kind!r}; pass --text_encoder_path to a "
                                      "local T5 folder (scripts/download_checkpoints.py fetches google-t5/t5-11b)")

    def __call__(self, prompt: Optional[str]) -> torch.Tensor:
        if self.encoder is None:
            return torch.zeros(1, 1, self.dim, device=self.device)
        emb, _ = self.encoder.encode_prompts([prompt or ""])
        return emb.to(self.device)


class Video2WorldPipeline:
    """See the module doc. ``__call__`` returns uint8 (T, H, W, 3)."""

    def __init__(self, model: Any, config: Any, *, text_encoder_path: Optional[str] = None,
                 resolution: Optional[str] = None, aspect_ratio: str = "16:9", guardrail: Any = None,
                 prompt_refiner: Any = None):
        self.model, self.config = model, config
        self.device = next(model.net.parameters()).device
        self.size = target_size(config, resolution, aspect_ratio)
        self.num_frames = experiment_info.num_frames(config)
        self.fps = experiment_info.fps(config)
        self.prompts = PromptEncoder(model, text_encoder_path, self.device)
        if self.prompts.encoder is None and self.prompts.kind == "none":
            log.info("experiment has no text encoder: prompts are ignored (zero text embeddings)")
        self.guardrail, self.prompt_refiner = guardrail, prompt_refiner

    def check_prompt(self, prompt: str) -> str:
        if self.prompt_refiner is not None:
            prompt = self.prompt_refiner.refine(prompt)
        if self.guardrail is not None:
            ok, why = self.guardrail.is_safe(prompt)
            if not ok:
                raise InferenceSetupError(f"the guardrail blocked the prompt ({why}); change the prompt")
        return prompt

    @torch.no_grad()
    def __call__(self, input_path: str, prompt: str = "", *, negative_prompt: Optional[str] = None,
                 num_conditional_frames: int = 1, guidance: float = 7.0, seed: int = 0,
                 num_steps: Optional[int] = None) -> np.ndarray:
        if num_conditional_frames not in (1, 5):
            raise InferenceSetupError(f"--num_conditional_frames {num_conditional_frames}: use 1 or 5")
        cond = resize_cover_crop(read_conditioning_frames(input_path, num_conditional_frames), self.size)
        n_lat = latent_conditional_frames(len(cond)) if len(cond) == num_conditional_frames else 1
        H, W = self.size
        video = torch.zeros(1, 3, self.num_frames, H, W, dtype=torch.uint8, device=self.device)
        video[0, :, : len(cond)] = torch.from_numpy(cond).to(self.device).permute(3, 0, 1, 2)
        batch = {"video": video, "fps": torch.tensor([float(self.fps)], device=self.device),
                 "padding_mask": torch.zeros(1, 1, H, W, device=self.device),
                 "t5_text_embeddings": self.prompts(prompt)}
        neg = self.prompts(negative_prompt) if (guidance != 0 and negative_prompt) else None
        latents = self.model.generate(batch, num_steps=num_steps, guidance=guidance, seed=seed,
                                      num_conditional_frames=n_lat, negative_text_embeddings=neg)
        return video_to_uint8(self.model.decode(latents)[0]).permute(1, 2, 3, 0).cpu().numpy()


def setup_context_parallel(model: Any, num_gpus: int) -> tuple[int, int]:
    """(rank, world). With ``num_gpus > 1`` (under torchrun) install context parallelism over all ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if num_gpus <= 1 and world <= 1:
        return 0, 1
    if world != num_gpus:
        raise InferenceSetupError(f"--num_gpus {num_gpus} but WORLD_SIZE={world}; launch with "
                                  f"torchrun --nproc_per_node={num_gpus} ...")
    heads = int(getattr(model.net, "num_heads", 0) or 0)
    t_lat = int(model.tokenizer.get_latent_num_frames(model.config.num_video_frames))
    if heads % world or t_lat % world:
        raise InferenceSetupError(f"--num_gpus {world}: context parallelism needs the attention heads ({heads}) and "
                                  f"the latent frames ({t_lat}) to be divisible by the number of ranks")
    import torch.distributed as dist

    from cosmos_predict2.parallel.context_parallel import apply_context_parallel
    from cosmos_predict2.utils.distributed import init_distributed

    rank, world = init_distributed()
    apply_context_parallel(model.net, dist.group.WORLD, world, rank)
    return rank, world


def load_batch_json(path: str) -> list[dict[str, str]]:
    """``[{"input_video"|"input_path"|"visual_input", "prompt", "output_video"}, ...]`` -> normalised entries."""
    import json

    try:
        with open(path) as f:
            items = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise InferenceSetupError(f"--batch_input_json {path}: cannot read ({err})") from err
    if not isinstance(items, list):
        raise InferenceSetupError(f"--batch_input_json {path}: expected a JSON list of objects")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InferenceSetupError(f"--batch_input_json {path}: entry {i} is not an object")
        src = item.get("input_video", item.get("input_path", item.get("visual_input")))
        if not src:
            raise InferenceSetupError(f"--batch_input_json {path}: entry {i} has no 'input_video'")
        out.append({"input_video": src, "prompt": item.get("prompt", ""),
                    "output_video": item.get("output_video", item.get("output_path", f"output_{i}.mp4"))})
    return out
