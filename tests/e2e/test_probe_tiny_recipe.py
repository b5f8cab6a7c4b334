"""scripts/probe_tiny_recipe.py: diffusion and regression probes run on a small synthetic split."""

from __future__ import annotations

import math
import re

import pytest

from scripts.probe_tiny_recipe import main, psnr_excluding_first


@pytest.fixture(scope="module")
def bridge_data(tmp_path_factory) -> str:
    from cosmos_predict2.data.synthetic import write_bridge_dataset

    out = str(tmp_path_factory.mktemp("probe_bridge"))
    write_bridge_dataset(out, episodes=10, seed=0)  # 8 train / 1 val / 1 test episodes
    return out


@pytest.fixture(autouse=True)
def output_root(tmp_path, monkeypatch):
    """The probe's job folder (config.yaml, memory plan) goes under the output root."""
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    return tmp_path


def test_psnr_excluding_first_matches_float64_formula():
    import torch

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 4, 8, 8, generator=g) * 2 - 1, torch.rand(2, 3, 4, 8, 8, generator=g) * 2 - 1
    y[:, :, 0] = 5.0  # frame 0 must not count
    want = []
    for b in range(2):
        for t in range(1, 4):
            mse = float((((x[b, :, t] - y[b, :, t]) / 2).double() ** 2).mean())
            want.append(10 * math.log10(1 / mse))
    assert psnr_excluding_first(x, y) == pytest.approx(sum(want) / len(want), rel=1e-9)


@pytest.mark.parametrize("mode", [[], ["--regress"]])
def test_probe_runs_and_reports(bridge_data, capsys, mode, output_root):
    argv = ["--data", bridge_data, "--iters", "2", "--eval-every", "2", "--batch-size", "2", "--num-steps", "2",
            "--val-stride", "10", *mode, "model.config.net.num_blocks=1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"PSNR copy-first-frame [\d.]+ dB, tokenizer round trip [\d.]+ dB", out)
    assert re.search(r"iter 2: PSNR true actions [\d.]+ dB, rolled actions [\d.]+ dB", out)
    assert re.search(r"iter 2: loss \d+\.\d+, \d+ ms/iter", out)  # the trainer's reduced losses of both steps
    # built like a training run: the job's config trains on the in-memory latents with the experiment's optimizer
    job_config = (output_root / "cosmos_predict2_tiny" / "action_conditioned" / "probe" / "config.yaml").read_text()
    assert "LatentWindows" in job_config and "build_optimizer" in job_config


def test_probe_long_protocol(bridge_data, capsys):
    argv = ["--data", bridge_data, "--iters", "2", "--eval-every", "2", "--batch-size", "2", "--num-steps", "1",
            "--val-stride", "10", "--long-episodes", "1", "model.config.net.num_blocks=1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # one validation episode here: shuffled actions need a second one, so only model and copy-last-frame
    assert re.search(r"long protocol model [\d.]+ dB, .*copy_last_frame [\d.]+ dB", out)
    with pytest.raises(SystemExit) as err:
        main([*argv, "--regress"])
    assert err.value.code == 2
    assert "cannot be combined with --regress" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data", bridge_data, "--long-episodes", "-1"])
    assert "--long-episodes must be >= 0" in capsys.readouterr().err
