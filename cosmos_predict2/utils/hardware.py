"""What the machine can do fast."""

from __future__ import annotations

import functools
import platform

import torch


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """Native bfloat16 matmuls on this CPU (x86: AVX512_BF16 or AMX; without them a bf16 matmul runs about
    100x slower than float32). True where torch cannot tell (other architectures)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    probes = [p for p in probes if p is not None]
    return not probes or any(p() for p in probes)
