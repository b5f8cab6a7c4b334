"""Typed parameter schemas for JSON-driven inference (``inference_params.json``) with CLI overrides.

A schema is a dict ``field -> (type, default)``; ``REQUIRED`` marks fields without a default. JSON files
and ``--field value`` / ``--field-name value`` CLI overrides are checked against it: an unknown field, a
missing required field or a value of the wrong type raises :class:`ParamError` naming the field (and the
closest valid name for typos).
"""

from __future__ import annotations

import difflib
import json
import os
from typing import Any, Mapping, Optional, Sequence


class ParamError(ValueError):
    """One-line error about an inference parameter."""


REQUIRED = object()
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a series of frames showing ugly scenes, static with no motion, motion blur, "
    "over-saturation, shaky footage, low resolution, grainy texture, pixelated images, poorly lit areas, "
    "underexposed and overexposed scenes, poor color balance, washed out colors, choppy sequences, jerky "
    "movements, low frame rate, artifacting, color banding, unnatural transitions, outdated special effects, "
    "fake elements, unconvincing visuals, poorly edited content, jump cuts, visual noise, and flickering. "
    "Overall, the video is of poor quality."
)

# Predict2.5 ``examples/action_conditioned.py`` schema (field -> (type, default)). The fields of
# EXPERIMENT_EPISODE_FIELDS default to null = the experiment's training dataset value (resolution: its frame
# size); an action field set to another value than training used is an error (see inference/action_conditioned.py).
ACTION_CONDITIONED_SCHEMA: dict[str, tuple[Any, Any]] = {
    "name": (str, REQUIRED),
    "input_root": (str, REQUIRED),
    "input_json_sub_folder": (str, "annotation/test"),
    "save_root": (str, "outputs/action_conditioned"),
    "guidance": (float, 7.0),
    "resolution": ((str, type(None)), None),
    "camera_id": (int, 0),
    "start": (int, 0),
    "end": (int, 100),
    "fps_downsample_ratio": ((int, type(None)), None),
    "gripper_scale": ((float, type(None)), None),
    "gripper_key": ((str, type(None)), None),
    "state_key": ((str, type(None)), None),
    "reverse": (bool, False),
    "single_chunk": (bool, False),
    "start_frame_idx": (int, 0),
    "save_fps": (int, 20),
    "num_latent_conditional_frames": (int, 1),
    "action_scaler": ((float, type(None)), None),
    "use_quat": (bool, False),
    "action_load_fn": (str, "cosmos_predict2.action_conditioned.load_default_action_fn"),
    "negative_prompt": ((str, type(None)), DEFAULT_NEGATIVE_PROMPT),
    "seed": (int, 0),
    "prompt": ((str, type(None)), None),
    "chunk_size": (int, 12),
    "num_steps": (int, 35),
    # Project extension (not an upstream field; absent from the shipped JSON): a short last chunk is
    # zero-padded ("pad", upstream Predict2.5 behaviour) or skipped ("drop", upstream Predict2
    # video2world_action.py). See cosmos_predict2/inference/action_rollout.py.
    "partial_chunk": (str, "pad"),
    # Project extension: for a LeRobot ``input_root`` (meta/info.json), the episodes to roll out (indices, "a:b"
    # or "3,5"); null: the dataset's "test" split (all episodes without one). ``start``/``end`` slice them.
    "episodes": ((list, str, type(None)), None),
}
# params field -> the Bridge dataset argument (EpisodeSettings field) of the experiment it must equal.
EXPERIMENT_EPISODE_FIELDS: dict[str, str] = {
    "action_scaler": "action_scaler", "gripper_scale": "gripper_rescale_factor",
    "fps_downsample_ratio": "sequence_interval", "state_key": "state_key", "gripper_key": "gripper_key",
}
# Allowed values of string fields that have a fixed set (checked by the inference code before any model is built).
ACTION_CONDITIONED_CHOICES: dict[str, tuple[str, ...]] = {"partial_chunk": ("pad", "drop")}


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join("null" if x is type(None) else x.__name__ for x in t)
    return t.__name__


def _check_value(field: str, value: Any, typ: Any, where: str) -> Any:
    types = typ if isinstance(typ, tuple) else (typ,)
    if value is None and type(None) in types:
        return None
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and bool not in types:
        raise ParamError(f"{where}: field '{field}' must be {_type_name(typ)}, got {value!r}")
    if not isinstance(value, tuple(t for t in types if t is not type(None))):
        raise ParamError(f"{where}: field '{field}' must be {_type_name(typ)}, got {type(value).__name__} {value!r}")
    return value


def _unknown(field: str, schema: Mapping[str, Any], where: str) -> ParamError:
    close = difflib.get_close_matches(field, list(schema), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid fields: {', '.join(schema)}"
    return ParamError(f"{where}: unknown field '{field}'{hint}")


def load_params(path: str, schema: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Read and check a params JSON (without filling defaults)."""
    if not os.path.isfile(path):
        raise ParamError(f"{path}: params file does not exist")
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ParamError(f"{path}: invalid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ParamError(f"{path}: expected a JSON object of fields, got a {type(data).__name__}")
    out = {}
    for key, value in data.items():
        if key not in schema:
            raise _unknown(key, schema, path)
        out[key] = _check_value(key, value, schema[key][0], path)
    return out


def _parse_cli_value(field: str, text: str, typ: Any) -> Any:
    types = typ if isinstance(typ, tuple) else (typ,)
    if type(None) in types and text.lower() in ("null", "none"):
        return None
    if bool in types:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ParamError(f"command line: --{field} expects true/false, got {text!r}")
    for t in types:
        if t is type(None):
            continue
        try:
            return t(text)
        except ValueError:
            continue
    raise ParamError(f"command line: --{field} expects {_type_name(typ)}, got {text!r}")


def parse_cli_overrides(tokens: Sequence[str], schema: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """``["--num-steps", "4", "--single_chunk", "--guidance=0"]`` -> {"num_steps": 4, "single_chunk": True, ...}.

    Both ``--field_name`` and ``--field-name`` work; a bool flag without a value means true.
    """
    out: dict[str, Any] = {}
    i = 0
    tokens = list(tokens)
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise ParamError(f"command line: unexpected argument {tok!r} (overrides look like --field value)")
        name, eq, value = tok[2:].partition("=")
        field = name.replace("-", "_")
        if field not in schema:
            raise _unknown(field, schema, "command line")
        typ = schema[field][0]
        if not eq:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            is_bool = typ is bool
            if is_bool and (nxt is None or nxt.startswith("--") or nxt.lower() not in
                            ("1", "0", "true", "false", "yes", "no", "on", "off")):
                out[field] = True
                i += 1
                continue
            if nxt is None:
                raise ParamError(f"command line: --{name} needs a value")
            value = nxt
            i += 1
        out[field] = _parse_cli_value(name, value, typ)
        i += 1
    return out


def resolve_params(schema: Mapping[str, tuple[Any, Any]], json_path: Optional[str] = None,
                   overrides: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Defaults <- JSON file <- overrides; every REQUIRED field must end up set."""
    params = {k: d for k, (_, d) in schema.items() if d is not REQUIRED}
    if json_path:
        params.update(load_params(json_path, schema))
    for key, value in (overrides or {}).items():
        if key not in schema:
            raise _unknown(key, schema, "overrides")
        params[key] = _check_value(key, value, schema[key][0], "overrides")
    missing = [k for k, (_, d) in schema.items() if d is REQUIRED and k not in params]
    if missing:
        where = json_path or "parameters"
        raise ParamError(f"{where}: missing required field '{missing[0]}' (add it to the JSON or pass --{missing[0]})")
    return params


def parse_resolution(text: str, field: str = "resolution") -> tuple[int, int]:
    """``"256,320"`` -> (256, 320)."""
    parts = str(text).replace("x", ",").split(",")
    try:
        h, w = (int(p) for p in parts)
    except ValueError as err:
        raise ParamError(f"field '{field}' must be 'H,W' (e.g. '256,320'), got {text!r}") from err
    if h <= 0 or w <= 0 or h % 2 or w % 2:
        raise ParamError(f"field '{field}' must be positive even 'H,W', got {text!r}")
    return h, w
