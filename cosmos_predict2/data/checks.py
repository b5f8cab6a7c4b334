"""Per-file dataset checks: one implementation for the training scan (:mod:`.scan`) and
``scripts/validate_dataset.py`` (:mod:`.validate`).

A :class:`Check` names one file, its kind and what it must hold (``params``); :func:`run_check` performs it
and returns the :class:`Problem` or None. Kinds:

- ``video``: exists, opens, and has at least ``min_frames`` frames (:func:`~.video_io.probe_frames`: packets
  demuxed and the first frame decoded; every frame decoded with ``full_decode=True``);
- ``embedding``: loads without running code (:func:`~.safe_pickle.load_embedding`), width ``dim``, at most
  ``max_tokens`` rows;
- ``bridge_annotation``: the JSON parses, state / gripper agree, and an ``action`` field, though unread by
  training, is well formed (:mod:`~.bridge_annotation`);
- ``caption``: a UTF-8 text file;
- ``failed``: a problem found while listing the checks (``params`` hold it; never cached).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from cosmos_predict2.data.bridge_annotation import action_field_problem, parse_bridge_annotation
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.safe_pickle import load_embedding
from cosmos_predict2.data.video_io import probe_frames

KINDS = ("video", "embedding", "bridge_annotation", "caption", "failed")
PREFLIGHT_MODES = ("on", "off", "full")


def parse_preflight(value: Any) -> str:
    """A dataset's ``preflight`` argument as "on" | "off" | "full" (True / False accepted)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip().lower()
    text = {"true": "on", "false": "off"}.get(text, text)
    if text not in PREFLIGHT_MODES:
        raise ValueError(f"dataset preflight={value!r} is not one of on, off, full, True, False "
                         "(fix: e.g. dataloader_train.dataset.preflight=off to skip the up-front file scan)")
    return text


@dataclasses.dataclass(frozen=True)
class Check:
    """One file to check: ``kind`` (see the module doc), ``path``, ``params`` (sorted (name, value) pairs) and
    ``origin``, the file that names this one (said in messages)."""

    kind: str
    path: str
    params: tuple = ()
    origin: str = ""

    @classmethod
    def make(cls, kind: str, path: str, origin: str = "", **params) -> "Check":
        if kind not in KINDS:
            raise ValueError(f"unknown check kind {kind!r}; expected one of {KINDS}")
        return cls(kind, str(path), tuple(sorted(params.items())), str(origin or ""))

    @classmethod
    def failed(cls, err: DataError) -> "Check":
        return cls("failed", err.path or "", (("fix", err.fix or ""), ("problem", err.problem)))

    def key(self) -> str:
        """Cache key: kind, path and parameters (``origin`` only changes the wording)."""
        return json.dumps([self.kind, self.path, [list(p) for p in self.params]])


@dataclasses.dataclass(frozen=True)
class Problem:
    """What is wrong with one file, as :class:`DataError` words it."""

    path: str
    problem: str
    fix: Optional[str] = None

    @classmethod
    def from_error(cls, err: DataError) -> "Problem":
        return cls(err.path or "", err.problem, err.fix)

    def __str__(self) -> str:
        return str(DataError(self.path or None, self.problem, self.fix))


def check_video(path: str, min_frames: int = 1, full_decode: bool = False, origin: str = "") -> int:
    """Frame count of a usable video holding ``min_frames`` frames; DataError otherwise."""
    n, _, _ = probe_frames(path, full_decode=full_decode)
    if n < min_frames:
        of = f" (episode {origin})" if origin else ""
        raise DataError(path, f"video has {n} frames but its windows need {min_frames}{of}",
                        "replace it with the complete video, or lower num_frames / sequence_interval")
    return n


def check_embedding(path: str, dim: Optional[int] = None, max_tokens: Optional[int] = None) -> tuple:
    """Shape (n_tokens, D) of an embedding that loads safely with the expected width; DataError otherwise."""
    return tuple(load_embedding(path, dim, max_tokens).shape)


def check_bridge_annotation(path: str, state_key: str = "state", gripper_key: str = "continuous_gripper_state") -> dict:
    """The parsed Bridge annotation (:func:`~.bridge_annotation.parse_bridge_annotation`), ``action`` field checked."""
    parsed = parse_bridge_annotation(path, state_key, gripper_key)
    err = action_field_problem(path, parsed["ann"], len(parsed["state"]))
    if err is not None:
        raise err
    return parsed


def check_caption(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError as e:
        raise DataError(path, "caption file does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(path, f"cannot read caption as UTF-8 text ({type(e).__name__}: {e})",
                        "rewrite the file as UTF-8") from e


def run_check(check: Check) -> Optional[Problem]:
    """Perform one check; the problem found, or None."""
    p = dict(check.params)
    try:
        if check.kind == "video":
            check_video(check.path, int(p.get("min_frames", 1)), bool(p.get("full_decode", False)), check.origin)
        elif check.kind == "embedding":
            check_embedding(check.path, p.get("dim"), p.get("max_tokens"))
        elif check.kind == "bridge_annotation":
            check_bridge_annotation(check.path, p.get("state_key", "state"),
                                    p.get("gripper_key", "continuous_gripper_state"))
        elif check.kind == "caption":
            check_caption(check.path)
        elif check.kind == "failed":
            return Problem(check.path, p["problem"], p.get("fix") or None)
        else:
            raise ValueError(f"unknown check kind {check.kind!r}")
    except DataError as err:
        problem = Problem.from_error(err)
        if check.origin and check.kind in ("video", "embedding") and "does not exist" in err.problem:
            problem = dataclasses.replace(problem, problem=f"{err.problem} (needed by {check.origin})")
        if problem.fix is None and check.kind in _DEFAULT_FIX:
            problem = dataclasses.replace(problem, fix=_DEFAULT_FIX[check.kind])
        return problem
    return None


_DEFAULT_FIX = {"video": "restore or re-encode the file, or remove the episode / video that needs it",
                "embedding": "compute it with scripts/get_t5_embeddings.py, or set load_t5_embeddings=False",
                "bridge_annotation": "correct the JSON, or remove the episode"}


def run_checks(checks: list) -> list:
    """:func:`run_check` over a chunk (the unit of work a scan worker process gets)."""
    return [run_check(c) for c in checks]
