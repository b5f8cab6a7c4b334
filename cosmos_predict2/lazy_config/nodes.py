"""Reading composed config nodes (omegaconf ``DictConfig`` or plain dicts) without raising on absent keys."""

from __future__ import annotations

from typing import Any


def node_get(node: Any, *path: str, default: Any = None) -> Any:
    """``node[path[0]][path[1]]...``, or ``default`` when a level is missing, not a mapping, or the value is None."""
    for key in path:
        try:
            if node is None or key not in node:
                return default
            node = node[key]
        except TypeError:  # not a mapping
            return default
    return default if node is None else node
