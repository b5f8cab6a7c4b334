"""Autoregressive action rollout: frame bookkeeping, conditioning on the last generated frame, actions
from state like training, and a real tiny-model rollout."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from cosmos_predict2.data.bridge_episode import EpisodeSettings, load_bridge_episode
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.inference.action_modes import counterfactual_actions, derangement
from cosmos_predict2.inference.action_rollout import chunk_plan, rollout_episode
from cosmos_predict2.pipelines.model_config import Video2WorldConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSET = os.path.join(ROOT, "assets", "action_conditioned", "basic", "bridge")
AT_64_80 = EpisodeSettings(video_size=(64, 80))


def perturb_actions(actions, mode="gt", seed=0):
    """One episode's counterfactual actions."""
    return counterfactual_actions([actions], mode, seed)[0]


class IntegratorWorld(nn.Module):
    """A world whose next frame is exactly the conditioning frame plus the running sum of action[:, 0].

    Frame k of a chunk = img + sum(actions[:k, 0]) (uniform grey levels), so the correct rollout of actions
    that are all 1 is the ramp v0, v0+1, ..., v0+N: any duplicated or dropped boundary frame breaks it.
    Records the conditioning frames it was given.
    """

    text_encoder_kind, text_embed_dim = "none", 8
    config = Video2WorldConfig(fps=4)  # the rollout conditions on the model's fps

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(1, 1)
        self.seen_first_frames, self.seen_seeds, self.seen_actions = [], [], []

    def generate(self, batch, num_steps=None, guidance=0.0, seed=0, num_conditional_frames=1):
        video = batch["video"].float()  # (1, 3, 1+K, H, W) uint8 values
        act = batch["action"][0, :, 0]  # (K,)
        assert (video[:, :, 1:] == 0).all(), "only frame 0 may carry content"
        self.seen_first_frames.append(int(video[0, 0, 0, 0, 0]))
        self.seen_seeds.append(seed)
        self.seen_actions.append(batch["action"][0].clone())
        steps = torch.cat([torch.zeros(1), torch.cumsum(act.float(), 0)])  # (1+K,)
        out = video[:, :, :1] + steps.view(1, 1, -1, 1, 1)
        return out / 127.5 - 1.0

    def decode(self, x):
        return x


@pytest.mark.parametrize("n_actions", [12, 24, 29, 5, 1])
def test_rollout_frames_are_contiguous(n_actions):
    world = IntegratorWorld()
    frames = np.full((1, 8, 8, 3), 10, dtype=np.uint8)
    out = rollout_episode(world, frames, np.ones((n_actions, 7), np.float32), chunk_size=12, seed=3)
    assert out.shape == (1 + n_actions, 8, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0, 0, 0], 10 + np.arange(n_actions + 1))
    # chunk j is conditioned on chunk j-1's last generated frame; seeds follow the chunk start index
    starts = [s for s, _ in chunk_plan(n_actions, 12)]
    assert world.seen_first_frames == [10 + s for s in starts]
    assert world.seen_seeds == [3 + s for s in starts]


def test_short_last_chunk_is_zero_padded_and_single_chunk():
    world = IntegratorWorld()
    out = rollout_episode(world, np.zeros((1, 4, 4, 3), np.uint8), np.full((29, 7), 2, np.float32), single_chunk=True)
    assert out.shape[0] == 13 and out[-1, 0, 0, 0] == 24
    assert chunk_plan(29, 12) == [(0, 12), (12, 12), (24, 5)]
    assert chunk_plan(24, 12) == [(0, 12), (12, 12)]


@pytest.mark.parametrize("n_actions", [12, 24, 29, 13, 35])
def test_drop_partial_chunk_stops_after_the_last_full_chunk(n_actions):
    """partial_chunk="drop" (upstream Predict2 video2world_action.py): a short final chunk is not generated."""
    world = IntegratorWorld()
    out = rollout_episode(world, np.full((1, 8, 8, 3), 10, np.uint8), np.ones((n_actions, 7), np.float32),
                          chunk_size=12, seed=3, partial_chunk="drop")
    full = 12 * (n_actions // 12)
    assert out.shape == (1 + full, 8, 8, 3)
    np.testing.assert_array_equal(out[:, 0, 0, 0], 10 + np.arange(full + 1))  # still contiguous
    assert len(world.seen_actions) == n_actions // 12
    assert all(bool((a == 1).all()) for a in world.seen_actions)  # only real actions, no padding
    assert chunk_plan(n_actions, 12, "drop") == [(s, 12) for s in range(0, full, 12)]


@pytest.mark.parametrize("n_actions", [29, 5, 13])
def test_pad_partial_chunk_zero_pads_and_keeps_one_frame_per_action(n_actions):
    """partial_chunk="pad" (default; upstream Predict2.5 action_conditioned.py): the short last chunk gets the
    remaining actions followed by zeros, and only the frames of real actions are kept (1 + N in all)."""
    world = IntegratorWorld()
    actions = np.full((n_actions, 7), 2, np.float32)
    out = rollout_episode(world, np.full((1, 8, 8, 3), 10, np.uint8), actions, chunk_size=12, partial_chunk="pad")
    assert out.shape[0] == 1 + n_actions
    np.testing.assert_array_equal(out[:, 0, 0, 0], 10 + 2 * np.arange(n_actions + 1))
    n_last = n_actions % 12
    last = world.seen_actions[-1]
    assert last.shape == (12, 7) and len(world.seen_actions) == -(-n_actions // 12)
    assert bool((last[:n_last] == 2).all()) and bool((last[n_last:] == 0).all())  # zero padding
    default = IntegratorWorld()
    np.testing.assert_array_equal(rollout_episode(default, np.full((1, 8, 8, 3), 10, np.uint8), actions), out)


def test_partial_chunk_errors():
    world = IntegratorWorld()
    with pytest.raises(ValueError, match=r"5 actions make no full chunk of 12.*partial_chunk='pad'"):
        rollout_episode(world, np.zeros((1, 4, 4, 3), np.uint8), np.ones((5, 7), np.float32), partial_chunk="drop")
    with pytest.raises(ValueError, match="partial_chunk='trim'"):
        rollout_episode(world, np.zeros((1, 4, 4, 3), np.uint8), np.ones((5, 7), np.float32), partial_chunk="trim")
    assert world.seen_actions == []  # nothing generated
    # single chunk with "drop": the first full chunk
    out = rollout_episode(world, np.zeros((1, 4, 4, 3), np.uint8), np.ones((29, 7), np.float32), single_chunk=True,
                          partial_chunk="drop")
    assert out.shape[0] == 13


def test_perturbed_actions_go_through_the_same_path():
    a = np.arange(20 * 7, dtype=np.float32).reshape(20, 7)
    assert (perturb_actions(a, "zero") == 0).all()
    s = perturb_actions(a, "permuted", seed=1)  # the episode's own actions in another time order
    assert sorted(map(tuple, s)) == sorted(map(tuple, a)) and not np.array_equal(s, a)
    np.testing.assert_array_equal(perturb_actions(a, "reversed"), a[::-1])
    with pytest.raises(ValueError, match="action mode"):
        perturb_actions(a, "random")
    with pytest.raises(ValueError, match="'shuffled' gives each episode another episode's actions"):
        perturb_actions(a, "shuffled")  # one episode has no other episode to take actions from
    eps = [np.full((n, 7), i, np.float32) for i, n in enumerate((20, 9, 31))]
    donors = derangement(3, seed=2)
    for i, got in enumerate(counterfactual_actions(eps, "shuffled", seed=2)):  # another episode's, fitted
        assert got.shape == eps[i].shape and (got == donors[i]).all() and donors[i] != i
    world = IntegratorWorld()
    out = rollout_episode(world, np.full((1, 4, 4, 3), 7, np.uint8), perturb_actions(np.ones((14, 7)), "zero"))
    assert (out == 7).all() and out.shape[0] == 15


def test_example_shuffled_mode_gives_each_episode_another_episodes_actions(tmp_path):
    """``--action-mode shuffled`` of examples/action_conditioned.py is the evaluation's shuffled actions: episode i is
    rolled out with the actions of episode derangement(n, seed)[i]."""
    from cosmos_predict2.configs.compose import compose_config
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset
    from cosmos_predict2.evaluation.metrics import episode_scores
    from cosmos_predict2.inference.action_conditioned import run_episodes
    from cosmos_predict2.inference.params import ACTION_CONDITIONED_SCHEMA, ParamError, resolve_params

    data = str(tmp_path / "bridge")
    write_bridge_dataset(data, episodes=3, seed=0, cfg=SyntheticConfig(frames=9), split_ratio=(0.0, 0.0, 1.0))
    cfg = compose_config("cosmos_predict2/configs/base/config.py", ["experiment=tiny_action_conditioned_bridge"])
    params = resolve_params(ACTION_CONDITIONED_SCHEMA, os.path.join(ROOT, "assets", "action_conditioned", "basic",
                                                                    "inference_params.json"), {"input_root": data})
    seen = {}
    for mode in ("gt", "shuffled"):
        world = IntegratorWorld()
        summary = run_episodes(world, cfg, params, str(tmp_path / mode), action_mode=mode, score=episode_scores,
                               echo=lambda line: None)
        assert [e["episode"] for e in summary["episodes"]] == ["0", "1", "2"]
        seen[mode] = [a[:8] for a in world.seen_actions]  # one chunk per episode: 8 actions, zero-padded to 12
    donors = derangement(3, seed=params["seed"])
    for i in range(3):
        assert donors[i] != i and not torch.equal(seen["shuffled"][i], seen["gt"][i])
        torch.testing.assert_close(seen["shuffled"][i], seen["gt"][donors[i]], rtol=0, atol=0)
    with pytest.raises(ParamError, match="select at least 2"):
        run_episodes(IntegratorWorld(), cfg, {**params, "end": 1}, str(tmp_path / "one"), action_mode="shuffled",
                     score=episode_scores)


def test_episode_actions_match_training_dataset():
    """Actions of the inference loader == actions the training dataset computes for the same frames."""
    from cosmos_predict2.data.bridge import BridgeActionDataset

    ann = os.path.join(ASSET, "annotation", "test", "0.json")
    ep = load_bridge_episode(ann, AT_64_80, dataset_dir=ASSET)
    assert ep["frames"].shape == (30, 64, 80, 3) and ep["actions"].shape == (29, 7)
    ds = BridgeActionDataset(ASSET, mode="test", num_frames=13, video_size=(64, 80), num_scan_threads=1)
    for idx, start in ((0, 0), (5, 5)):
        sample = ds[idx]
        np.testing.assert_allclose(sample["action"].numpy(), ep["actions"][start:start + 12], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(sample["video"].permute(1, 2, 3, 0).numpy(), ep["frames"][start:start + 13])
    sub = load_bridge_episode(ann, EpisodeSettings(video_size=(32, 40), sequence_interval=2), dataset_dir=ASSET,
                              start_frame_idx=1)
    assert sub["frames"].shape == (15, 32, 40, 3) and sub["frame_indices"][:3] == [1, 3, 5]


def test_episode_without_state_names_the_file(tmp_path):
    import json

    bad = tmp_path / "7.json"
    bad.write_text(json.dumps({"videos": [{"video_path": "x.mp4"}], "continuous_gripper_state": [0, 1]}))
    with pytest.raises(DataError, match=r"7\.json.*'state'"):
        load_bridge_episode(str(bad), dataset_dir=str(tmp_path))


def test_real_tiny_model_rollout():
    from cosmos_predict2.inference.loading import build_inference_model

    torch.manual_seed(0)
    model, _ = build_inference_model("tiny_action_conditioned_bridge", None, allow_random=True, device="cpu")
    ep = load_bridge_episode(os.path.join(ASSET, "annotation", "test", "0.json"), AT_64_80)
    acts = ep["actions"][:14]
    a = rollout_episode(model, ep["frames"], acts, num_steps=2, seed=0)
    assert a.shape == (15, 64, 80, 3) and a.dtype == np.uint8
    b = rollout_episode(model, ep["frames"], acts, num_steps=2, seed=0)
    np.testing.assert_array_equal(a, b)  # seeded: reproducible
    c = rollout_episode(model, ep["frames"], perturb_actions(acts, "zero"), num_steps=2, seed=0)
    assert not np.array_equal(a, c)  # the actions reach the net


def test_action_settings_follow_the_experiment_dataset():
    from cosmos_predict2.configs.compose import compose_config
    from cosmos_predict2.inference import experiment_info

    cfg = compose_config("cosmos_predict2/configs/base/config.py", [
        "experiment=tiny_action_conditioned_bridge", "dataloader_train.dataset.action_scaler=10.0",
        "dataloader_train.dataset.accumulate_action=true"])
    s = experiment_info.action_settings(cfg)
    assert s.action_scaler == 10.0 and s.accumulate_action is True and s.sequence_interval == 1
    ann = os.path.join(ASSET, "annotation", "test", "0.json")
    a = load_bridge_episode(ann, s, dataset_dir=ASSET)["actions"]
    b = load_bridge_episode(ann, AT_64_80, dataset_dir=ASSET)["actions"]
    assert not np.allclose(a, b)  # accumulated deltas at half the scale differ from the default
    np.testing.assert_allclose(a[0, :6], b[0, :6] / 2, rtol=1e-5, atol=1e-6)  # first step: same base frame
    assert experiment_info.video_size(cfg) == (64, 80) and experiment_info.num_frames(cfg) == 13


def test_image_start_frame(tmp_path):
    """An image instead of the episode video (Predict1 --input_image_or_video_path): one start frame, all actions."""
    import imageio.v2 as imageio

    from cosmos_predict2.data.video_io import read_frames

    first = read_frames(os.path.join(ASSET, "videos", "test", "0", "rgb.mp4"), [0])[0]
    imageio.imwrite(tmp_path / "start.png", first)
    ep = load_bridge_episode(os.path.join(ASSET, "annotation", "test", "0.json"), AT_64_80,
                             video_path=str(tmp_path / "start.png"))
    assert ep["frames"].shape == (1, 64, 80, 3) and ep["actions"].shape == (29, 7)
    np.testing.assert_array_equal(ep["frames"][0], first)
