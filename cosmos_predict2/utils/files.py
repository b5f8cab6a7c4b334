"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import os


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, flush it to disk, then rename it over ``path``."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """:func:`atomic_write_bytes` for text (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))
