"""inference_params.json schema: JSON fields, CLI overrides in both spellings, one-line errors naming fields."""

from __future__ import annotations

import json
import os

import pytest

from cosmos_predict2.inference.params import (ACTION_CONDITIONED_SCHEMA, ParamError, parse_cli_overrides,
                                              parse_resolution, resolve_params)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "assets", "action_conditioned", "basic", "inference_params.json")
S = ACTION_CONDITIONED_SCHEMA


def test_shipped_params_have_the_upstream_fields():
    with open(SHIPPED) as f:
        data = json.load(f)
    assert set(data) == set(S) - {"partial_chunk", "episodes"}  # every upstream field; those two are project extensions
    p = resolve_params(S, SHIPPED)
    assert p["chunk_size"] == 12 and p["num_steps"] == 35 and p["guidance"] == 0.0 and p["prompt"] is None
    assert os.path.isfile(os.path.join(ROOT, p["input_root"], p["input_json_sub_folder"], "0.json"))
    sizes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.dirname(SHIPPED)) for f in fs)
    assert sizes < 500_000


def test_cli_overrides_both_spellings_and_bools():
    o = parse_cli_overrides(["--num-steps", "4", "--num_latent_conditional_frames=1", "--single_chunk",
                             "--reverse", "false", "--guidance", "3", "--prompt", "null", "--save-fps", "10"], S)
    assert o == {"num_steps": 4, "num_latent_conditional_frames": 1, "single_chunk": True, "reverse": False,
                 "guidance": 3.0, "prompt": None, "save_fps": 10}
    p = resolve_params(S, SHIPPED, o)
    assert p["num_steps"] == 4 and p["single_chunk"] is True and p["name"] == "basic"


def test_partial_chunk_field_defaults_to_upstream_padding():
    p = resolve_params(S, SHIPPED)
    assert p["partial_chunk"] == "pad"  # as upstream Predict2.5 action_conditioned.py
    o = parse_cli_overrides(["--partial-chunk", "drop"], S)
    assert resolve_params(S, SHIPPED, o)["partial_chunk"] == "drop"


@pytest.mark.parametrize("tokens, match", [
    (["--num-stepz", "4"], "unknown field 'num_stepz'; did you mean 'num_steps'"),
    (["--num-steps", "four"], "--num-steps expects int"),
    (["--single_chunk", "maybe"], "unexpected argument 'maybe'"),
    (["--seed"], "--seed needs a value"),
])
def test_cli_errors_name_the_field(tokens, match):
    with pytest.raises(ParamError, match=match):
        parse_cli_overrides(tokens, S)


def test_json_errors_name_the_field(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"name": "x", "input_root": "r", "chunk_size": "12"}))
    with pytest.raises(ParamError, match=r"p\.json: field 'chunk_size' must be int"):
        resolve_params(S, str(bad))
    bad.write_text(json.dumps({"name": "x", "input_root": "r", "guidence": 1}))
    with pytest.raises(ParamError, match="unknown field 'guidence'; did you mean 'guidance'"):
        resolve_params(S, str(bad))
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ParamError, match="missing required field 'input_root'"):
        resolve_params(S, str(bad))
    bad.write_text(json.dumps({"name": "x", "input_root": "r", "reverse": 1}))
    with pytest.raises(ParamError, match="field 'reverse' must be bool"):
        resolve_params(S, str(bad))
    bad.write_text(json.dumps({"name": "x", "input_root": "r", "reverse": False}))
    assert resolve_params(S, str(bad), {"reverse": True})["reverse"] is True  # CLI wins over JSON


def test_resolution():
    assert parse_resolution("256,320") == (256, 320) and parse_resolution("64x80") == (64, 80)
    with pytest.raises(ParamError, match="resolution"):
        parse_resolution("256")
