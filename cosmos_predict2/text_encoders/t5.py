"""T5 text encoder wrapper (HF ``T5EncoderModel`` + ``AutoTokenizer``) producing Video2World text embeddings.

``encode_prompts`` pads/truncates to ``max_length`` (512 upstream) and zeroes the embeddings past each
prompt's token count. ``encode_to_arrays`` gives the on-disk format of ``t5_xxl/<name>.pickle``: per prompt a
float16 array (n_tokens, D) trimmed to the real token count; the pickle holds a Python list with that one array
(written and read by :mod:`cosmos_predict2.data.safe_pickle`).

Nothing is downloaded at import time; ``transformers`` is imported lazily. By default loading is
``local_files_only=True``: either a local directory (``save_pretrained`` / ``huggingface-cli download
--local-dir`` layout), a directory used as HF ``cache_dir`` by upstream scripts (holding one
``models--<owner>--<name>``), or a hub id already present in the HF cache (``cache_dir``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch


DEFAULT_T5_ID = "google-t5/t5-11b"
DOWNLOAD_HINT = (
    "Download it with `huggingface-cli download google-t5/t5-11b --local-dir checkpoints/google-t5/t5-11b` "
    "or `python scripts/download_checkpoints.py`, then pass model_path_or_id='checkpoints/google-t5/t5-11b'. "
    "For tests/synthetic data, `cosmos_predict2.text_encoders.tiny_t5.save_tiny_t5(dir)` builds a tiny "
    "random T5 offline."
)


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything absolute, relative-dotted or deeper is a path."""
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1


class T5TextEncoder:
    """Frozen T5 encoder: prompts -> (B, max_length, D) embeddings zeroed past each prompt's length."""

    def __init__(
        self,
        model_path_or_id: str = DEFAULT_T5_ID,
        max_length: int = 512,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | str = torch.bfloat16,
        cache_dir: str | None = None,
        local_files_only: bool = True,
    ):
        if isinstance(dtype, str):
            dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}.get(dtype, dtype)
            if isinstance(dtype, str):
                raise ValueError(f"dtype must be 'bfloat16' or 'float32', got {dtype!r}")
        if dtype == torch.float16 and torch.device(device).type == "cpu":
            raise ValueError("float16 is not supported on CPU; use dtype=torch.bfloat16 or torch.float32")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        from transformers import AutoTokenizer, T5EncoderModel

        source = os.path.expanduser(str(model_path_or_id))
        is_dir = os.path.isdir(source)
        if is_dir and not os.path.isfile(os.path.join(source, "config.json")):
            # Upstream layout: the folder is an HF cache_dir holding models--<owner>--<name>/snapshots/...
            cached = sorted(d for d in os.listdir(source) if d.startswith("models--"))
            if len(cached) == 1:
                source, cache_dir, is_dir = cached[0][len("models--") :].replace("--", "/"), source, False
        if is_dir and not os.path.isfile(os.path.join(source, "config.json")):
            raise FileNotFoundError(
                f"T5 directory {source!r} has no config.json (incomplete download?). {DOWNLOAD_HINT}"
            )
        if not is_dir and _looks_like_path(source):
            raise FileNotFoundError(f"T5 text encoder not found at {source!r}. {DOWNLOAD_HINT}")
        kwargs = dict(cache_dir=cache_dir, local_files_only=local_files_only)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = T5EncoderModel.from_pretrained(source, dtype=dtype, **kwargs)
        except OSError as err:
            where = "directory" if is_dir else f"hub id (cache_dir={cache_dir!r}, local_files_only={local_files_only})"
            raise FileNotFoundError(f"Could not load T5 from {where} {source!r}: {err}. {DOWNLOAD_HINT}") from err
        self.model = model.to(device).eval().requires_grad_(False)
        self.max_length = int(max_length)
        self.embed_dim = int(model.config.d_model)
        self.source = source

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode_prompts(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> (emb_B_L_D float32 zero past each length, lengths_B int64), L = max_length."""
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"encode_prompts expects a list of strings, got {type(prompts).__name__}")
        batch = self.tokenizer(
            list(prompts), return_tensors="pt", padding="max_length", truncation=True, max_length=self.max_length
        )
        ids_B_L = batch["input_ids"].to(self.device)
        mask_B_L = batch["attention_mask"].to(self.device)
        emb_B_L_D = self.model(input_ids=ids_B_L, attention_mask=mask_B_L).last_hidden_state.float()
        lengths_B = mask_B_L.sum(dim=1).long()
        keep_B_L = torch.arange(ids_B_L.shape[1], device=self.device)[None, :] < lengths_B[:, None]
        return emb_B_L_D * keep_B_L[..., None], lengths_B

    def encode_to_arrays(self, prompts: Sequence[str], batch_size: int = 8) -> list[np.ndarray]:
        """Prompts -> list of float16 arrays (n_tokens, D) trimmed to each prompt's real token count."""
        arrays = []
        for start in range(0, len(prompts), batch_size):
            emb_B_L_D, lengths_B = self.encode_prompts(prompts[start : start + batch_size])
            for emb_L_D, length in zip(emb_B_L_D, lengths_B.tolist()):
                arrays.append(emb_L_D[:length].cpu().numpy().astype(np.float16))
        return arrays
