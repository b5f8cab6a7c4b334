"""Shared helpers for the example entry points: repo-root imports, logging, one-line user errors."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable


def user_errors() -> tuple[type, ...]:
    """Exception types that mean "the user gave bad input": printed as one line, exit code 2."""
    from cosmos_predict2.checkpoint.weights import CheckpointError
    from cosmos_predict2.configs.errors import ConfigError
    from cosmos_predict2.data.errors import DataError
    from cosmos_predict2.guardrail.errors import OptionalComponentError
    from cosmos_predict2.inference.action_rollout import EpisodeError
    from cosmos_predict2.inference.loading import InferenceSetupError
    from cosmos_predict2.inference.params import ParamError

    return (CheckpointError, ConfigError, DataError, EpisodeError, InferenceSetupError, ParamError,
            OptionalComponentError, FileNotFoundError)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (safe when stderr is swapped, e.g. under pytest)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging() -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(os.environ.get("LOGLEVEL", "INFO"))


def run_main(main: Callable[[], int], prog: str) -> int:
    """Run ``main()``; user errors become ``error: <message>`` on stderr (set COSMOS_DEBUG=1 for tracebacks)."""
    _setup_logging()
    try:
        return int(main() or 0)
    except user_errors() as err:
        if os.environ.get("COSMOS_DEBUG"):
            raise
        message = " ".join(str(err).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
