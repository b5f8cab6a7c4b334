"""Loss-curve PNG from metrics.jsonl: parsing (validation split, action_monitor series, malformed lines, resumed
runs), the plotted data and axes, ``scripts.plot_training``'s output and errors, and the never-failing variant
used at the end of training."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from matplotlib.image import imread

from cosmos_predict2.trainer.loss_curve import plot_run, read_metrics, smooth, write_loss_curve_or_warn
from scripts.plot_training import main as plot_main

TRAIN_LOSS = [10.0 * 0.8 ** i for i in range(40)]  # spans more than two decades


def _write(path, monitor: bool, malformed: bool = False, losses=TRAIN_LOSS):
    lines = []
    for i, loss in enumerate(losses, 1):
        rec = {"loss": loss, "lr": 1e-4, "iteration": i, "split": "train"}
        if monitor and i % 5 == 0:
            rec.update({"action_monitor/true": 0.5 / i, "action_monitor/shuffled": 0.6 / i,
                        "action_monitor/gap": 0.1 / i, "action_monitor/gap_se": 0.01})
        lines.append(json.dumps(rec))
        if i % 10 == 0:
            lines.append(json.dumps({"loss": 2 * loss, "num_batches": 2.0, "iteration": i, "split": "val"}))
    if malformed:
        lines.insert(3, "not json")
        lines.append('{"loss": 0.1, "itera')  # truncated last line of a killed run
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_metrics_splits_series_and_skips_malformed_lines(tmp_path):
    run = read_metrics(str(_write(tmp_path / "metrics.jsonl", monitor=True, malformed=True)))
    assert list(run.train.values()) == pytest.approx(TRAIN_LOSS) and list(run.train) == list(range(1, 41))
    assert run.val == pytest.approx({i: 2 * TRAIN_LOSS[i - 1] for i in (10, 20, 30, 40)})
    assert sorted(run.monitor) == ["action_monitor/gap", "action_monitor/gap_se", "action_monitor/shuffled",
                                   "action_monitor/true"]
    assert run.monitor["action_monitor/true"] == pytest.approx({i: 0.5 / i for i in range(5, 41, 5)})
    assert run.malformed_lines == [4, 46]


def test_a_resumed_run_keeps_the_latest_line_per_iteration(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"loss": v, "iteration": i, "split": "train"}) + "\n"
                            for i, v in [(1, 3.0), (2, 2.0), (3, 9.0), (3, 1.5), (4, 1.0)]))
    assert read_metrics(str(path)).train == {1: 3.0, 2: 2.0, 3: 1.5, 4: 1.0}


def test_smooth_is_a_trailing_mean():
    y = np.array([4.0, 2.0, 6.0, 0.0, 8.0])
    ref = [np.mean(y[max(0, i - 2):i + 1]) for i in range(len(y))]  # window 3
    assert smooth(y, 3) == pytest.approx(ref)


def test_plotted_data_and_axes(tmp_path):
    run = read_metrics(str(_write(tmp_path / "m.jsonl", monitor=True)))
    fig = plot_run(run, str(tmp_path / "a.png"))
    top, levels, gaps = fig.axes
    lines = {ln.get_label(): ln for ln in top.get_lines()}
    assert lines["train (raw)"].get_ydata() == pytest.approx(TRAIN_LOSS)
    ref = [np.mean(TRAIN_LOSS[max(0, i - 1):i + 1]) for i in range(40)]  # 40 points -> window 2
    assert lines["train (smoothed)"].get_ydata() == pytest.approx(ref)
    assert list(lines["validation"].get_xdata()) == [10, 20, 30, 40]
    assert top.get_yscale() == "log"  # train + validation span > 1 decade
    assert sorted(ln.get_label() for ln in levels.get_lines()) == ["shuffled", "true"]
    assert levels.get_yscale() == "linear"  # 0.5/40 .. 0.6/5: just under a decade
    gap = [ln for ln in gaps.get_lines() if ln.get_label() == "gap"][0]
    assert gap.get_ydata() == pytest.approx([0.1 / i for i in range(5, 41, 5)])
    (band,) = gaps.collections  # gap +- 2 gap_se
    lo, hi = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert (lo, hi) == pytest.approx((0.1 / 40 - 0.02, 0.1 / 5 + 0.02))

    flat = read_metrics(str(_write(tmp_path / "flat.jsonl", monitor=False, losses=[1.0 - 0.01 * i for i in range(20)])))
    (only,) = plot_run(flat, str(tmp_path / "b.png")).axes
    assert only.get_yscale() == "linear"


def test_script_with_and_without_monitor(tmp_path, capsys):
    for name, monitor in (("with", True), ("without", False)):
        job = tmp_path / name
        job.mkdir()
        _write(job / "metrics.jsonl", monitor=monitor, malformed=True)
        assert plot_main([str(job)]) == 0  # a job folder: PNG beside metrics.jsonl
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].endswith(f"; wrote {job / 'loss_curve.png'}")
        assert "40 training points (iterations 1-40" in out[0] and "4 validation points" in out[0]
        assert "skipped 2 malformed lines (line 4 and more)" in out[0]
        assert ("4 action_monitor series" in out[0]) == monitor
    h_with, h_without = (imread(str(tmp_path / n / "loss_curve.png")).shape[0] for n in ("with", "without"))
    assert h_with > 2.5 * h_without  # three panels vs one

    png = tmp_path / "elsewhere" / "curve.png"
    assert plot_main([str(tmp_path / "with" / "metrics.jsonl"), "--out", str(png)]) == 0
    assert imread(str(png)).ndim == 3 and str(png) in capsys.readouterr().out


def test_script_errors_are_one_line_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "metrics.jsonl"
    assert plot_main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "not found" in err
    assert plot_main([str(tmp_path)]) == 2  # a folder without metrics.jsonl
    assert str(tmp_path / "metrics.jsonl") in capsys.readouterr().err
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n{\"iteration\": 1, \"split\": \"val\", \"loss\": 1.0}\n")
    assert plot_main([str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(junk) in err and "no training lines" in err
    assert not (tmp_path / "loss_curve.png").exists()


def test_end_of_training_variant_only_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cosmos_predict2.trainer.loss_curve"):
        write_loss_curve_or_warn(str(tmp_path / "missing.jsonl"), str(tmp_path / "loss_curve.png"))
    assert "loss curve not written" in caplog.text and "missing.jsonl" in caplog.text
