"""Evaluation bookkeeping: chunks, baselines, shuffled actions, aggregation, report files.

The "world" here is a toy one where a bright square moves by the first two action components, so a
predictor that renders from (frame 0, actions) is exact with the true actions and wrong with others.
"""

import csv
import json
import os

import numpy as np
import pytest

from cosmos_predict2.evaluation.baselines import (
    chunk_spans,
    copy_last_frame,
    derangement,
    fit_length,
    shuffled_actions,
    zero_actions,
)
from cosmos_predict2.evaluation.episodes import EvalEpisode, read_episode_list, select_episodes, write_episode_list
from cosmos_predict2.evaluation.evaluate import evaluate
from cosmos_predict2.evaluation.metrics import dynamic_psnr, frame_metrics
from cosmos_predict2.evaluation.protocols import protocol_clips
from cosmos_predict2.evaluation.report import format_table
from cosmos_predict2.tokenizers.tiny_tokenizer import TinyVideoTokenizer

H, W = 24, 32


def _render(pos_N_2):
    frames = np.full((len(pos_N_2), H, W, 3), 40, np.uint8)
    for i, (y, x) in enumerate(np.round(pos_N_2).astype(int)):
        frames[i, max(y, 0):max(y + 6, 0), max(x, 0):max(x + 6, 0)] = (230, 200, 60)
    return frames


def _toy_episode(key, n_actions, seed):
    rng = np.random.default_rng(seed)
    act = np.zeros((n_actions, 7), np.float32)
    act[:, :2] = rng.choice([-2.0, -1.0, 1.0, 2.0], size=(n_actions, 2))
    start = np.array([9.0, 13.0])
    pos = start + np.concatenate([np.zeros((1, 2)), np.cumsum(act[:, :2], 0)])
    return EvalEpisode(key, _render(pos), act)


def toy_rollout(model, frames_1_H_W_3, actions_N_7, chunk_size=12, guidance=None, seed=0, num_steps=None):
    """Exact renderer of the toy world from frame 0's square position (found by colour) and the actions."""
    ys, xs = np.nonzero(frames_1_H_W_3[0, :, :, 0] == 230)
    start = np.array([ys.min(), xs.min()], float)
    pos = start + np.concatenate([np.zeros((1, 2)), np.cumsum(np.asarray(actions_N_7)[:, :2], 0)])
    return _render(pos)


def test_chunk_spans_25_actions():
    spans = chunk_spans(25, 12)
    assert [(s.first_action, s.end_action) for s in spans] == [(0, 12), (12, 24), (24, 25)]
    assert [(s.first_frame, s.last_frame) for s in spans] == [(1, 12), (13, 24), (25, 25)]
    assert [list(s.frames) for s in spans][2] == [25] and len(spans[0].frames) == 12
    assert sum(len(s.frames) for s in spans) == 25
    assert [(s.first_frame, s.last_frame) for s in chunk_spans(12, 12)] == [(1, 12)]
    assert chunk_spans(0, 12) == []
    with pytest.raises(ValueError):
        chunk_spans(5, 0)


def test_copy_last_frame_and_zero_actions():
    ep = _toy_episode("a", 7, 0)
    pred = copy_last_frame(ep.frames, 7)
    assert pred.shape == ep.frames.shape and pred.dtype == np.uint8
    assert all(np.array_equal(p, ep.frames[0]) for p in pred)
    z = zero_actions(ep.actions)
    assert z.shape == ep.actions.shape and not z.any()


def test_shuffled_actions_are_another_episodes_and_deterministic():
    for n in range(2, 9):
        d = derangement(n, seed=3)
        assert sorted(d) == list(range(n)) and all(d[i] != i for i in range(n))
        assert d == derangement(n, seed=3)
    with pytest.raises(ValueError):
        derangement(1)
    acts = [np.full((5 + i, 7), float(i), np.float32) for i in range(5)]  # episode i's actions are all == i
    out = shuffled_actions(acts, seed=0)
    donors = derangement(5, seed=0)
    for i, a in enumerate(out):
        assert a.shape == acts[i].shape
        assert np.all(a == donors[i]) and donors[i] != i  # someone else's values, never its own
    assert all(np.array_equal(a, b) for a, b in zip(out, shuffled_actions(acts, seed=0)))
    seq = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert np.array_equal(fit_length(seq, 2), seq[:2])
    assert np.array_equal(fit_length(seq, 7)[:, 0], [0, 2, 4, 0, 2, 4, 0])


def _one_clip(ep, protocol, horizon):
    [clip] = protocol_clips(ep, protocol, horizon)
    return clip.frames, clip.actions


def test_protocol_clip_lengths():
    ep = _toy_episode("a", 25, 0)
    gt, a = _one_clip(ep, "short", 12)
    assert gt.shape[0] == 13 and a.shape[0] == 12 and np.array_equal(gt, ep.frames[:13])
    gt, a = _one_clip(ep, "long", 12)
    assert gt.shape[0] == 26 and a.shape[0] == 25
    short = _toy_episode("b", 5, 1)
    assert _one_clip(short, "short", 12)[1].shape[0] == 5


def test_evaluate_scores_methods_and_writes_reports(tmp_path):
    episodes = [_toy_episode("ep0", 25, 0), _toy_episode("ep1", 14, 1), _toy_episode("ep2", 9, 2)]
    out = tmp_path / "report"
    summary = evaluate(None, episodes, rollout_fn=toy_rollout, tokenizer=TinyVideoTokenizer(), chunk_size=12,
                       output_dir=str(out), progress=False, print_table=False)
    long = summary["protocols"]["long"]
    assert set(long) >= {"model", "shuffled_actions", "zero_actions", "copy_last_frame"}
    assert long["model"]["psnr"] == pytest.approx(100.0)  # exact renderer: every frame identical (capped)
    assert long["model"]["ssim"] == pytest.approx(1.0) and long["model"]["latent_l2"] == pytest.approx(0.0, abs=1e-12)
    assert long["shuffled_actions"]["psnr"] < 60 and long["model"]["action_sensitivity"] > 40
    assert long["model"]["num_frames"] == 25 + 14 + 9  # frame 0 excluded everywhere
    assert [c["frames"] for c in long["copy_last_frame"]["per_chunk"]] == [[1, 12], [13, 24], [25, 25]]
    assert [c["num_frames"] for c in long["copy_last_frame"]["per_chunk"]] == [33, 14, 1]
    short = summary["protocols"]["short"]
    assert short["copy_last_frame"]["num_frames"] == 12 + 12 + 9

    # per-chunk means agree with an independent recomputation from the copy baseline
    chunk0 = []
    for ep in episodes:
        m = frame_metrics(copy_last_frame(ep.frames, len(ep.actions)), ep.frames)
        chunk0 += [min(p, 100.0) for f, p in zip(m["frame"], m["psnr"]) if f <= 12]
    assert long["copy_last_frame"]["per_chunk"][0]["psnr"] == pytest.approx(np.mean(chunk0))

    # dynamic PSNR beside PSNR for every protocol, method and chunk: means of per-episode values
    for protocol, horizon in (("long", None), ("short", 12)):
        by_method = summary["protocols"][protocol]
        for method in ("model", "shuffled_actions", "zero_actions", "copy_last_frame"):
            assert by_method[method]["dynamic_psnr"] is not None
            assert all(c["dynamic_psnr"] is not None for c in by_method[method]["per_chunk"])
        assert by_method["model"]["dynamic_psnr"] == pytest.approx(100.0)  # exact: inf per episode, capped
        copy = by_method["copy_last_frame"]
        clips = [ep.frames[: (horizon or len(ep.frames)) + 1] for ep in episodes]
        per_episode = [dynamic_psnr(copy_last_frame(gt, len(gt) - 1), gt) for gt in clips]
        assert copy["dynamic_psnr"] == pytest.approx(np.mean(per_episode))
        assert copy["dynamic_psnr"] < copy["psnr"] - 3  # the frozen frame misses exactly the moving square
        assert by_method["model"]["dynamic_sensitivity"]["shuffled_actions"] == pytest.approx(
            100.0 - by_method["shuffled_actions"]["dynamic_psnr"])
    chunk1 = [dynamic_psnr(copy_last_frame(ep.frames, len(ep.actions))[12:25], ep.frames[12:25])
              for ep in episodes if len(ep.actions) > 12]  # frames 13..24 with GT frame 12 as motion reference
    assert long["copy_last_frame"]["per_chunk"][1]["dynamic_psnr"] == pytest.approx(np.mean(chunk1))
    table = format_table(summary)
    assert "dynPSNR" in table and "action sensitivity (dynPSNR model - dynPSNR other)" in table

    # files
    saved = json.loads((out / "summary.json").read_text())
    assert saved["episodes"] == ["ep0", "ep1", "ep2"] and saved["settings"]["frame0_excluded"] is True
    assert saved["settings"]["partial_chunk"] == "pad"  # the short last chunk's protocol is recorded
    with open(out / "episodes" / "long" / "ep0.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0].keys() == {"frame", "method", "psnr", "ssim"}
    assert len(rows) == 25 * 4 and min(int(r["frame"]) for r in rows) == 1
    assert (out / "latent_l2.csv").is_file()
    with open(out / "dynamic_psnr.csv") as f:
        dyn_rows = list(csv.DictReader(f))
    ep0 = [r for r in dyn_rows
           if r["protocol"] == "long" and r["episode"] == "ep0" and r["method"] == "copy_last_frame"]
    assert [(r["chunk"], r["first_frame"], r["last_frame"]) for r in ep0] == [
        ("all", "1", "25"), ("0", "1", "12"), ("1", "13", "24"), ("2", "25", "25")]
    assert float(ep0[0]["dynamic_psnr"]) == pytest.approx(
        dynamic_psnr(copy_last_frame(episodes[0].frames, 25), episodes[0].frames), abs=1e-5)
    assert saved["protocols"]["short"]["zero_actions"]["dynamic_psnr"] is not None
    for name in ("long_metrics_vs_frame.png", "short_metrics_vs_frame.png", "long_grid_ep0.png", "long_grid_ep1.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    assert not (out / "plots" / "long_grid_ep2.png").exists()  # previews for the first two episodes only


def test_evaluate_rejects_bad_input():
    eps = [_toy_episode("ep0", 5, 0)]
    with pytest.raises(ValueError, match="need a model"):
        evaluate(None, eps, methods=("model",), progress=False, print_table=False)
    with pytest.raises(ValueError, match="unknown protocols"):
        evaluate(None, eps, protocols=("medium",), methods=("copy_last_frame",), print_table=False)
    with pytest.raises(ValueError, match="frames need"):
        EvalEpisode("x", np.zeros((3, 8, 8, 3), np.uint8), np.zeros((3, 7)))


def test_episode_lists_roundtrip_and_selection(tmp_path):
    path = str(tmp_path / "list.txt")
    write_episode_list(path, ["3", "10", "7"], header="test list\nseed 0")
    assert read_episode_list(path) == ["3", "10", "7"]
    names = [str(i) for i in range(50)]
    pick = select_episodes(names, 10, seed=0)
    assert len(pick) == 10 and pick == select_episodes(list(reversed(names)), 10, seed=0)
    assert pick == sorted(pick, key=int) and select_episodes(names, None) == names
    with open(path, "a") as f:
        f.write("3\n")
    with pytest.raises(ValueError, match="twice"):
        read_episode_list(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_episode_list(str(tmp_path / "nope.txt"))


def test_load_episodes_and_frozen_list(tmp_path):
    from cosmos_predict2.data.actions import actions_from_states
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset
    from cosmos_predict2.data.video_io import read_frames
    from cosmos_predict2.evaluation.episodes import load_episodes
    from scripts.evaluate_action_conditioned import main

    data = str(tmp_path / "bridge")
    write_bridge_dataset(data, episodes=3, seed=0, cfg=SyntheticConfig(frames=9), split_ratio=(0.0, 0.0, 1.0))
    from cosmos_predict2.data.bridge_episode import EpisodeSettings

    eps = load_episodes(data, "test", names=["2", "0"], settings=EpisodeSettings(video_size=(32, 40)))
    assert [e.key for e in eps] == ["2", "0"]
    assert eps[0].frames.shape == (9, 32, 40, 3) and eps[0].actions.shape == (8, 7)
    ann = json.load(open(os.path.join(data, "annotation", "test", "2.json")))
    ref = actions_from_states(np.array(ann["state"]), np.array(ann["continuous_gripper_state"]), scaler=20.0)
    np.testing.assert_allclose(eps[0].actions, ref, rtol=1e-6, atol=1e-6)  # the training convention
    full = load_episodes(data, "test", max_episodes=2)
    assert [e.key for e in full] == ["0", "1"]
    np.testing.assert_array_equal(full[0].frames, read_frames(os.path.join(data, "videos/test/0/rgb.mp4"), range(9)))
    with pytest.raises(ValueError, match="not in"):
        load_episodes(data, "test", names=["7"])

    out = str(tmp_path / "list.txt")
    assert main(["--dataset-dir", data, "--split", "test", "--write-episodes-file", out, "--select", "2"]) == 0
    names = read_episode_list(out)
    assert len(names) == 2 and set(names) <= {"0", "1", "2"}
    main(["--dataset-dir", data, "--split", "test", "--write-episodes-file", out, "--select", "2"])
    assert read_episode_list(out) == names  # deterministic


def test_evaluation_rollout_pads_the_short_last_chunk_explicitly():
    """The evaluation scores every action: its rollout binds partial_chunk="pad" (not the function default), so a
    29-action episode gives 30 frames; a rollout that drops the short chunk is rejected."""
    import functools

    import torch

    from cosmos_predict2.evaluation.evaluate import PARTIAL_CHUNK, evaluation_rollout
    from cosmos_predict2.inference.action_rollout import rollout_episode
    from cosmos_predict2.pipelines.model_config import Video2WorldConfig

    assert PARTIAL_CHUNK == "pad"
    fn = evaluation_rollout(fps=4.0)
    assert fn.func is rollout_episode and fn.keywords == {"partial_chunk": "pad", "fps": 4.0}

    class Still(torch.nn.Module):  # repeats the conditioning frame
        config = Video2WorldConfig(fps=4)

        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(1, 1)

        def generate(self, batch, **kw):
            v = batch["video"].float()
            return (v[:, :, :1].expand_as(v) / 127.5 - 1.0).clone()

        def decode(self, x):
            return x

    ep = _toy_episode("e", 29, 3)
    summary = evaluate(Still(), [ep], methods=("model",), protocols=("long",), chunk_size=12, progress=False,
                       print_table=False)
    assert summary["protocols"]["long"]["model"]["num_frames"] == 29
    dropping = functools.partial(rollout_episode, partial_chunk="drop")
    with pytest.raises(ValueError, match=r"25 frames for 29 actions.*partial_chunk='pad'"):
        evaluate(Still(), [ep], methods=("model",), protocols=("long",), chunk_size=12, rollout_fn=dropping,
                 progress=False, print_table=False)
