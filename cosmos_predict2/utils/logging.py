"""Rank-aware logging: INFO on rank 0, WARNING and above on the other ranks, one format everywhere."""

from __future__ import annotations

import logging
import sys

_FORMAT = "[%(asctime)s %(levelname)s r{rank}] %(name)s: %(message)s"
_configured = False


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of the record (it may be replaced after setup)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property always wins
        pass


def setup_logging(rank: int = 0, level: int = logging.INFO) -> None:
    """Configure the root logger once per process (rank 0 logs INFO, others WARNING)."""
    global _configured
    root = logging.getLogger()
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter(_FORMAT.format(rank=rank), datefmt="%H:%M:%S"))
    if _configured:
        for h in list(root.handlers):
            if getattr(h, "_cosmos", False):
                root.removeHandler(h)
    handler._cosmos = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if rank == 0 else logging.WARNING)
    _configured = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
