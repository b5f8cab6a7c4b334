"""Shared helpers for the example entry points: repo-root imports, logging, one-line user errors, argv clean-up."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable, Optional, Sequence


def user_errors() -> tuple[type, ...]:
    """Exception types that mean "the user gave bad input": printed as one line, exit code 2."""
    from cosmos_predict2.checkpoint.weights import CheckpointError
    from cosmos_predict2.lazy_config.errors import ConfigError
    from cosmos_predict2.data.errors import DataError
    from cosmos_predict2.guardrail.errors import OptionalComponentError
    from cosmos_predict2.inference.loading import InferenceSetupError
    from cosmos_predict2.inference.params import ParamError

    return (CheckpointError, ConfigError, DataError, InferenceSetupError, ParamError,
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


def clean_argv(argv: Optional[Sequence[str]] = None) -> list[str]:
    """``argv`` (default ``sys.argv[1:]``) with leading whitespace removed from tokens that then start with ``--``.

    A stray ``\\ `` in a multi-line shell command (the Predict1 guide has ``rgb.mp4 \\ --action_annotation_path``)
    glues an escaped space onto the next flag: the shell passes ``" --action_annotation_path"``, which argparse
    would take as a positional value. Such a token can only have been meant as the flag."""
    argv = sys.argv[1:] if argv is None else argv
    out = []
    for token in argv:
        stripped = token.lstrip() if isinstance(token, str) else token
        out.append(stripped if isinstance(token, str) and stripped != token and stripped.startswith("--") else token)
    return out


def run_main(main: Callable[[], int], prog: str) -> int:
    """Run ``main()``; user errors become ``error: <message>`` on stderr (set COSMOS_DEBUG=1 for tracebacks).
    ``sys.argv`` is cleaned first (:func:`clean_argv`), so every entry point accepts the guides' command lines."""
    _setup_logging()
    sys.argv[1:] = clean_argv(sys.argv[1:])
    try:
        return int(main() or 0)
    except user_errors() as err:
        if os.environ.get("COSMOS_DEBUG"):
            raise
        message = " ".join(str(err).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
