"""One Bridge / IRASim annotation JSON, parsed and checked (no torch: the dataset scan's worker processes import it).

:func:`parse_bridge_annotation` is what the dataset reads; :func:`action_field_problem` checks the ``action``
field, which training never reads (actions are computed from ``state``) but the scan and the validator report.
"""

from __future__ import annotations

import json

import numpy as np

from cosmos_predict2.data.errors import DataError


def parse_bridge_annotation(path: str, state_key: str = "state", gripper_key: str = "continuous_gripper_state",
                            need_videos: bool = True) -> dict:
    """Read and check one annotation JSON. Returns dict(state (N,>=6) f64, gripper (N,) f64, ann=raw JSON)."""
    try:
        with open(path) as f:
            ann = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, f"invalid JSON ({e})") from e
    except OSError as e:
        raise DataError(path, f"cannot read annotation ({e})") from e
    if not isinstance(ann, dict):
        raise DataError(path, f"annotation is a JSON {type(ann).__name__}, expected an object")
    keys = [state_key, gripper_key] + (["videos"] if need_videos else [])
    for k in keys:
        if k not in ann:
            raise DataError(path, f"no '{k}' field (missing key '{k}'; keys present: {sorted(ann)[:12]})",
                            None if k == "videos" else "actions are computed from the state and gripper fields as "
                            "in training: set the dataset's state_key / gripper_key to this JSON's names")
    try:
        state = np.asarray(ann[state_key], dtype=np.float64)
        grip = np.asarray(ann[gripper_key], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise DataError(path, f"'{state_key}' / '{gripper_key}' are not numeric arrays ({e})") from e
    if state.ndim != 2 or state.shape[1] < 6:
        raise DataError(path, f"'{state_key}' has shape {state.shape}, expected (N, >=6) [x,y,z,roll,pitch,yaw,...]")
    if len(grip) != len(state):
        raise DataError(path, f"'{gripper_key}' has {len(grip)} entries but '{state_key}' has {len(state)} rows")
    if not (np.isfinite(state[:, :6]).all() and np.isfinite(grip).all()):
        raise DataError(path, f"'{state_key}' or '{gripper_key}' contains NaN/inf")
    if need_videos and (not isinstance(ann["videos"], list) or not ann["videos"]):
        raise DataError(path, "'videos' must be a non-empty list of {\"video_path\": ...}")
    return {"state": state, "gripper": grip, "ann": ann}


ACTION_WIDTH = 7  # [dx, dy, dz, droll, dpitch, dyaw, gripper]


def action_field_problem(path: str, ann: dict, num_states: int) -> DataError | None:
    """A malformed ``action`` field (rows != states - 1, or rows not 7 numbers), else None. Training computes
    the actions from the states and never reads the field; the scan and the validator still report it."""
    act = ann.get("action")
    if act is None:
        return None
    unread = "; training does not read this field (actions come from 'state') but it is malformed"
    fix = "correct the 'action' field or remove it from the JSON"
    if not isinstance(act, list):
        return DataError(path, f"'action' is a JSON {type(act).__name__}, expected a list of rows{unread}", fix)
    if len(act) != num_states - 1:
        return DataError(path, f"'action' has {len(act)} rows but there are {num_states} states "
                               f"(expected {num_states - 1} = N-1){unread}", fix)
    for i, row in enumerate(act):
        if not isinstance(row, list):
            what = f"is a JSON {type(row).__name__}"
        elif len(row) != ACTION_WIDTH:
            what = f"has width {len(row)}"
        elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            what = "holds a non-number"
        else:
            continue
        return DataError(path, f"'action' row {i} {what}, expected {ACTION_WIDTH} numbers "
                               f"[dx,dy,dz,droll,dpitch,dyaw,gripper]{unread}", fix)
    return None
