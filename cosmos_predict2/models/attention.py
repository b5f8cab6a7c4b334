"""The single attention dispatch point of the DiT.

`Attention` is a parameter-free leaf ``nn.Module`` that computes softmax attention on
``(B, S, H, D)`` query / key / value tensors and returns ``(B, S, H, D)``. Every DiT block owns two
instances: ``block.self_attn.attn_op`` and ``block.cross_attn.attn_op``. Context parallelism replaces only
the self-attention one, with the wrapper its plan provides (``net.shard_frames(plan)``,
models/frame_sharding.py; e.g. Ulysses all-to-all, parallel/context_parallel.py). The wrapper receives
sequence-sharded ``(B, S/cp, H, D)`` tensors, and may call the inner op on head-sharded ``(B, S, H/cp, D)``
tensors. Cross-attention stays local.

Backends (``atten_backend`` in the net config):

- ``torch`` (default): ``torch.nn.functional.scaled_dot_product_attention``; runs everywhere.
- ``flash``: FlashAttention-3 (``flash_attn_interface``) when importable, else FlashAttention-2
  (``flash_attn``); CUDA fp16/bf16 only.
- ``transformer_engine``: ``transformer_engine.pytorch.DotProductAttention`` (bshd layout).
- ``minimal_a2a``: upstream's config name for "torch attention + Ulysses context parallelism". The op
  itself is plain local attention (``torch``); the parallel/ package installs the all-to-all wrapper.

Optional packages are imported lazily, on the first call, so importing this module never pulls in
flash_attn or transformer_engine.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("torch", "flash", "transformer_engine")
_ALIASES = {"minimal_a2a": "torch", "sdpa": "torch", "te": "transformer_engine", "flash_attn": "flash"}

_INSTALL_HINTS = {
    "flash": (
        "pip install flash-attn --no-build-isolation   (FlashAttention-2; for FlashAttention-3 on Hopper build "
        "`flash_attn_interface` from the flash-attention repo's hopper/ folder)"
    ),
    "transformer_engine": "pip install --no-build-isolation 'transformer-engine[pytorch]'",
}


class AttentionBackendUnavailable(ImportError):
    """Raised when the configured attention backend cannot be imported or cannot run these tensors."""


def normalize_backend(name: str) -> str:
    """Map a config value (incl. upstream aliases) to one of BACKENDS; ValueError on anything else."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BACKENDS:
        raise ValueError(
            f"Unknown attention backend atten_backend={name!r}. Choose one of {BACKENDS} "
            f"(aliases: {sorted(_ALIASES)}), e.g. `model.config.net.atten_backend=torch`."
        )
    return key


def _missing_backend_error(backend: str, cause: BaseException | None) -> AttentionBackendUnavailable:
    return AttentionBackendUnavailable(
        f"Attention backend {backend!r} is not available ({type(cause).__name__}: {cause}). "
        f"Install it with: {_INSTALL_HINTS[backend]}  -- or switch to PyTorch SDPA with the override "
        f"`model.config.net.atten_backend=torch`."
    )


def _import_flash() -> Callable[..., Any]:
    """Return a flash-attention function taking (B, S, H, D) q/k/v; prefer FA3 over FA2."""
    errors = []
    for module_name in ("flash_attn_interface", "flash_attn"):
        try:
            module = importlib.import_module(module_name)
            return module.flash_attn_func
        except (ImportError, AttributeError) as err:  # pragma: no cover - depends on the install
            errors.append(err)
    raise _missing_backend_error("flash", errors[-1])


def _import_transformer_engine() -> Any:
    try:
        return importlib.import_module("transformer_engine.pytorch")
    except ImportError as err:
        raise _missing_backend_error("transformer_engine", err) from err


def torch_attention(q_B_S_H_D: torch.Tensor, k_B_S_H_D: torch.Tensor, v_B_S_H_D: torch.Tensor) -> torch.Tensor:
    """Softmax attention with PyTorch SDPA; (B, S, H, D) in, (B, S, H, D) out (a transposed view)."""
    out_B_H_S_D = F.scaled_dot_product_attention(
        q_B_S_H_D.transpose(1, 2), k_B_S_H_D.transpose(1, 2), v_B_S_H_D.transpose(1, 2)
    )
    return out_B_H_S_D.transpose(1, 2)


class Attention(nn.Module):
    """Parameter-free attention op: ``forward(q, k, v)`` with (B, S, H, D) tensors -> (B, S, H, D).

    Args:
        backend: one of ``torch`` | ``flash`` | ``transformer_engine`` (or an alias, see module doc).
            The name is validated here; the optional package is imported on the first forward.
    """

    def __init__(self, backend: str = "torch") -> None:
        super().__init__()
        self.backend = normalize_backend(backend)
        # Lazily created kernels live in a plain dict (not as sub-modules), so that nothing of theirs
        # (e.g. Transformer Engine's `_extra_state`) ever enters the net's state dict.
        self._lazy: dict[str, Any] = {}

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}"

    def forward(self, q_B_S_H_D: torch.Tensor, k_B_S_H_D: torch.Tensor, v_B_S_H_D: torch.Tensor) -> torch.Tensor:
        if q_B_S_H_D.ndim != 4 or k_B_S_H_D.shape != v_B_S_H_D.shape:
            raise ValueError(
                f"Attention expects (B, S, H, D) q/k/v with equal k/v shapes; got q={tuple(q_B_S_H_D.shape)}, "
                f"k={tuple(k_B_S_H_D.shape)}, v={tuple(v_B_S_H_D.shape)}"
            )
        if self.backend == "torch":
            return torch_attention(q_B_S_H_D, k_B_S_H_D, v_B_S_H_D)
        if self.backend == "flash":
            return self._flash(q_B_S_H_D, k_B_S_H_D, v_B_S_H_D)
        return self._transformer_engine(q_B_S_H_D, k_B_S_H_D, v_B_S_H_D)

    def _flash(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if "flash_fn" not in self._lazy:
            self._lazy["flash_fn"] = _import_flash()
        if not q.is_cuda or q.dtype not in (torch.float16, torch.bfloat16):
            raise AttentionBackendUnavailable(
                f"atten_backend='flash' needs CUDA fp16/bf16 tensors, got device={q.device}, dtype={q.dtype}; "
                "use `model.config.net.atten_backend=torch` for CPU or float32 runs."
            )
        out = self._lazy["flash_fn"](q.contiguous(), k.contiguous(), v.contiguous())
        if isinstance(out, tuple):  # some FA3 builds return (out, softmax_lse)
            out = out[0]
        return out

    def _transformer_engine(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        num_heads, head_dim = q.shape[2], q.shape[3]
        key = f"te_op_{num_heads}_{head_dim}"
        if key not in self._lazy:
            te_pytorch = _import_transformer_engine()
            self._lazy[key] = te_pytorch.DotProductAttention(
                num_heads, head_dim, num_gqa_groups=num_heads, attention_dropout=0.0,
                qkv_format="bshd", attn_mask_type="no_mask",
            ).to(q.device)
        out_B_S_HD = self._lazy[key](q.contiguous(), k.contiguous(), v.contiguous())
        return out_B_S_HD.view(q.shape[0], q.shape[1], num_heads, -1)
