"""Where the project's per-user caches live."""

from __future__ import annotations

import os
from typing import Optional


def cache_dir(env: str, name: str) -> Optional[str]:
    """``$env`` when set (``off`` / ``0`` / ``none``: no cache, None), else ``$XDG_CACHE_HOME/cosmos_predict2/<name>``,
    else ``~/.cache/cosmos_predict2/<name>``."""
    value = os.environ.get(env, "").strip()
    if value.lower() in ("off", "0", "none"):
        return None
    if value:
        return os.path.expanduser(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cosmos_predict2", name)
