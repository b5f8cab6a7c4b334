"""scripts/benchmark_dit.py runs end to end at a tiny size and times the same work on both nets (no timing
assertions: what is checked is that the ratio compares like with like and every reported field is there)."""

import importlib.util
import pathlib

import pytest
import torch

pytest.importorskip("diffusers", reason="diffusers (optional, in the test extra) is the benchmark's other side")

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "benchmark_dit.py"
TINY = ["--width", "128", "--blocks", "1", "--latent", "1x4x4", "--iters", "2", "--warmup", "0", "--text-len", "4",
        "--dtypes", "fp32", "--device", "cpu"]


def _module():
    spec = importlib.util.spec_from_file_location("benchmark_dit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_times_identical_work_on_both_nets():
    module = _module()
    r = module.bench_one(module.parse_args(TINY), torch.device("cpu"), torch.float32)
    assert r["output_rel_diff"] < 1e-5  # the same function of the same inputs on both sides
    assert r["ours_steps"] == r["diffusers_steps"] == 2 and r["tokens"] == 1 * 2 * 2
    assert r["ratio"] == pytest.approx(r["ours_s"] / r["diffusers_s"])
    assert r["ours_tok_s"] == pytest.approx(r["tokens"] / r["ours_s"])
    assert r["diffusers_tok_s"] == pytest.approx(r["tokens"] / r["diffusers_s"])


def test_benchmark_script_tiny(capsys):
    assert _module().main(TINY) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], [line for line in lines if line.startswith("| cpu | float32")]
    assert len(rows) == 1 and rows[0].count("|") == header.count("|")
    columns = [c.strip() for c in header.strip("|").split("|")]
    row = dict(zip(columns, (c.strip() for c in rows[0].strip("|").split("|"))))
    assert row["tokens"] == "4" and float(row["output rel. diff"]) < 1e-5
    for key in ("ours fwd+bwd (s)", "diffusers (s)", "ratio ours/diffusers", "ratio of best times"):
        float(row[key])  # both measurements and their ratios are reported as numbers


def test_flop_count_matches_hand_count():
    module = _module()
    # D=2, 1 block, S=1 token, N=1 text token, ctx dim 1, B=1, 1 in / 1 out feature per token
    # self qkvo 2*4*4=32, self attn 2*2*2=8, cross q,o 2*2*4=16, cross k,v 2*2*1*2=8, cross attn 8, mlp 2*8*4=64
    # embed + final 2*1*2*(1+1)=8
    assert module.dit_forward_flops(2, 1, 1, 1, 1, 1, 1, 1) == 32 + 8 + 16 + 8 + 8 + 64 + 8
