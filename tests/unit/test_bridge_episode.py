"""The one Bridge episode reader: training windows and the inference / evaluation episodes agree, and the episode
settings come from the experiment's training dataset."""

from __future__ import annotations

import inspect
import json
import os

import numpy as np
import pytest

from cosmos_predict2.configs.compose import compose_config
from cosmos_predict2.data.actions import actions_from_states
from cosmos_predict2.data.bridge import BridgeActionDataset
from cosmos_predict2.data.bridge_episode import EpisodeSettings, load_bridge_episode
from cosmos_predict2.inference.action_conditioned import episode_settings, load_default_action_fn
from cosmos_predict2.inference.params import ACTION_CONDITIONED_SCHEMA, ParamError, resolve_params
from cosmos_predict2.lazy_config import instantiate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAMS = os.path.join(ROOT, "assets", "action_conditioned", "basic", "inference_params.json")
CONFIG = "cosmos_predict2/configs/base/config.py"


@pytest.fixture(scope="module")
def bridge_data(tmp_path_factory) -> str:
    """Two 30-frame training episodes at 32x48 (scripts/prepare_synthetic_data.py --layout bridge)."""
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset

    out = str(tmp_path_factory.mktemp("bridge_episode"))
    write_bridge_dataset(out, episodes=2, seed=0, cfg=SyntheticConfig(height=32, width=48, frames=30),
                         split_ratio=(1.0, 0.0, 0.0))
    return out


def _experiment(*overrides: str):
    return compose_config(CONFIG, ["experiment=tiny_action_conditioned_bridge", *overrides])


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_training_window_actions_equal_inference_actions(bridge_data, accumulate, stride):
    """Each window of the experiment's training dataset gets the same actions (and frames) on the inference path
    (the example's settings and default loader), both from that window's first frame and as chunk j of a rollout
    from frame 0; the reference is the IRASim formula on the window's states from the JSON."""
    cfg = _experiment(f"dataloader_train.dataset.accumulate_action={accumulate}",
                      f"dataloader_train.dataset.sequence_interval={stride}",
                      "dataloader_train.dataset.video_size=[32,48]")
    ds = instantiate(cfg.dataloader_train.dataset, dataset_dir=bridge_data, mode="train", num_scan_threads=1)
    params = resolve_params(ACTION_CONDITIONED_SCHEMA, PARAMS, {"input_root": bridge_data, "resolution": "32,48",
                                                                "fps_downsample_ratio": stride})
    settings = episode_settings(cfg, params)
    assert (settings.accumulate_action, settings.sequence_interval, settings.chunk_size) == (accumulate, stride, 12)

    def infer(path: str, start: int) -> dict:
        video = os.path.join(bridge_data, json.load(open(path))["videos"][0]["video_path"])
        args = {**params, "annotation_path": path, "episode_settings": settings, "start_frame_idx": start}
        return load_default_action_fn(None, video, args)

    chunk_span = 12 * stride  # frames one chunk of a whole-episode rollout advances
    whole = {}
    checked = 0
    for idx, (ep_idx, start) in enumerate(ds.samples):
        path = ds.episodes[ep_idx]["path"]
        sample = ds[idx]
        ann = json.load(open(path))
        ids = [start + i * stride for i in range(13)]
        ref = actions_from_states(np.array(ann["state"])[ids], np.array(ann["continuous_gripper_state"])[ids],
                                  accumulate, 20.0)
        np.testing.assert_allclose(sample["action"].numpy(), ref, rtol=1e-5, atol=1e-5)
        from_window = infer(path, start)
        np.testing.assert_array_equal(from_window["actions"][:12], sample["action"].numpy())
        np.testing.assert_array_equal(from_window["video_array"][:13], sample["video"].permute(1, 2, 3, 0).numpy())
        if start % chunk_span == 0:  # chunk j of the rollout from frame 0 is this window
            whole.setdefault(path, infer(path, 0))
            j = start // chunk_span
            np.testing.assert_array_equal(whole[path]["actions"][12 * j:12 * (j + 1)], sample["action"].numpy())
            checked += 1
    assert checked == 2 * (1 + (stride == 1))  # windows at frames 0 and (stride 1) 12 of both episodes


def test_accumulated_actions_restart_at_every_chunk(bridge_data):
    """With accumulate_action a rollout's chunk j is relative to its own first frame (as the training window),
    not to the episode's frame 0."""
    path = os.path.join(bridge_data, "annotation", "train", "0.json")
    acc = load_bridge_episode(path, EpisodeSettings(video_size=None, accumulate_action=True))["actions"]
    ann = json.load(open(path))
    s, g = np.array(ann["state"]), np.array(ann["continuous_gripper_state"])
    from_frame0 = actions_from_states(s, g, True)
    assert acc.shape == (29, 7)
    np.testing.assert_allclose(acc[:12], from_frame0[:12], rtol=1e-5, atol=1e-5)
    for a, b in ((12, 24), (24, 29)):  # chunk 1 and the short last chunk
        np.testing.assert_allclose(acc[a:b], actions_from_states(s[a:b + 1], g[a:b + 1], True), rtol=1e-5, atol=1e-5)
    assert not np.allclose(acc[12:24], from_frame0[12:24], atol=1e-3)


def test_episode_settings_follow_the_training_dataset_and_params_must_agree():
    cfg = _experiment("dataloader_train.dataset.action_scaler=10.0", "+dataloader_train.dataset.state_key=pose")
    defaults = resolve_params(ACTION_CONDITIONED_SCHEMA, None, {"name": "x", "input_root": "."})
    s = episode_settings(cfg, defaults)  # fields left out: the experiment's
    assert (s.action_scaler, s.state_key, s.video_size, s.num_frames) == (10.0, "pose", (64, 80), 13)
    with pytest.raises(ParamError, match=r"'action_scaler'=20\.0 but the experiment's training dataset has "
                                         r"action_scaler=10\.0.*set it to 10\.0"):
        episode_settings(cfg, {**defaults, "action_scaler": 20.0})
    with pytest.raises(ParamError, match="'state_key'='state' .* state_key='pose'"):
        episode_settings(cfg, {**defaults, "action_scaler": 10.0, "state_key": "state"})
    assert episode_settings(cfg, {**defaults, "action_scaler": 10, "resolution": "32,48"}).video_size == (32, 48)


def test_settings_defaults_and_upstream_names():
    """EpisodeSettings() holds the dataset's defaults; Predict2.5's num_action_per_chunk / fps_downsample_ratio map
    onto the window length and stride."""
    sig = inspect.signature(BridgeActionDataset.__init__).parameters
    d = EpisodeSettings()
    for field in ("num_frames", "sequence_interval", "accumulate_action", "action_scaler", "gripper_rescale_factor",
                  "state_key", "gripper_key"):
        assert getattr(d, field) == sig[field].default, field
    assert d.cam_ids == tuple(sig["cam_ids"].default) and d.video_size == tuple(sig["video_size"].default)
    s = EpisodeSettings.from_dataset_args({"num_frames": 5, "num_action_per_chunk": 12, "fps_downsample_ratio": 3,
                                           "cam_ids": [2, 1], "video_size": [32, 48], "state_key": None})
    assert (s.num_frames, s.chunk_size, s.sequence_interval, s.cam_id, s.video_size, s.state_key) == \
        (13, 12, 3, 2, (32, 48), "state")
    with pytest.raises(ValueError, match="num_frames must be >= 2"):
        EpisodeSettings(num_frames=1)
