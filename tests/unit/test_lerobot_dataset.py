"""LeRobotActionDataset on a dataset written by the project's LeRobot writer (synthetic scene, two cameras,
10-d recorded actions): action sources, strides, splits, short episodes, normalisation and its cache."""

import os

import numpy as np
import pytest

from cosmos_predict2.data.actions import actions_from_states
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.lerobot import LeRobotActionDataset
from cosmos_predict2.data.lerobot_meta import LeRobotMeta
from cosmos_predict2.data.synthetic import SyntheticConfig, generate_episode, write_lerobot_dataset

CFG = SyntheticConfig(height=32, width=48, frames=12)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("lerobot") / "synthetic")
    write_lerobot_dataset(out, episodes=5, seed=3, cfg=CFG, split_ratio=(0.6, 0.2, 0.2))
    return out


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COSMOS_ACTION_STATS_CACHE", str(tmp_path / "stats"))


def _ds(root, **kw):
    args = dict(camera="front", num_frames=5, video_size=(32, 48), progress=False, normalization="none")
    args.update(kw)
    return LeRobotActionDataset(root, **args)


def test_splits_cameras_and_recorded_actions(root):
    meta = LeRobotMeta(root)
    assert meta.cameras == ["observation.images.front", "observation.images.side"]
    assert meta.info["splits"] == {"train": "0:3", "val": "3:4", "test": "4:5"}
    train, val = _ds(root), _ds(root, mode="val")
    assert train.episode_ids == [0, 1, 2] and val.episode_ids == [3]
    assert len(train) == 3 * (12 - 4) and train.action_dim == 10
    s = train[9]  # episode 1, first frame 1
    ep = generate_episode(3, 1, CFG)
    from cosmos_predict2.data.actions import rot6d_actions_from_states

    ref = rot6d_actions_from_states(ep["state"][:, :6], ep["continuous_gripper_state"])[1:5]
    np.testing.assert_allclose(s["action"].numpy(), ref, atol=1e-5)
    assert s["__key__"] == "episode_000001" and s["video"].shape == (3, 5, 32, 48)


def test_state_derived_actions_equal_the_recorded_ones(root):
    rec = _ds(root)
    rot6d = _ds(root, action_source="state_delta", pose_rotation="rot6d")
    euler = _ds(root, action_source="state_delta", pose_rotation="euler")
    assert rot6d.action_dim == 10 and euler.action_dim == 7
    for i in (0, 7, 20):
        np.testing.assert_allclose(rot6d[i]["action"].numpy(), rec[i]["action"].numpy(), atol=1e-5)
    ep = generate_episode(3, 0, CFG)
    ref = actions_from_states(ep["state"][:5, :6], ep["continuous_gripper_state"][:5], scaler=1.0)
    np.testing.assert_allclose(euler[0]["action"].numpy(), ref, atol=1e-5)
    with pytest.raises(DataError, match="action_dims \\[12\\] are outside the 10-d feature"):
        _ds(root, action_dims=[0, 12])
    assert _ds(root, action_dims=[0, 1, 2, 9])[0]["action"].shape == (4, 4)


def test_stride_and_target_fps(root):
    a = _ds(root, sequence_interval=2, num_frames=4)
    b = _ds(root, target_fps=2, num_frames=4)  # the data is 4 fps
    assert a.stride == b.stride == 2 and a.fps == 2.0 and len(a) == 3 * (12 - 6)
    full = _ds(root, num_frames=12, mode="val")
    np.testing.assert_array_equal(a[0]["video"].numpy(), _ds(root, num_frames=12)[0]["video"].numpy()[:, 0:7:2])
    assert full[0]["video"].shape[1] == 12
    with pytest.raises(DataError, match="target_fps=3 does not divide the dataset's fps 4"):
        _ds(root, target_fps=3)


def test_short_episodes_are_counted_and_windows_stay_inside_episodes(tmp_path, caplog):
    from cosmos_predict2.data.dataset_convert import ACTION_NAMES, STATE_NAMES, bridge_step_actions
    from cosmos_predict2.data.lerobot_writer import LeRobotWriter

    out = str(tmp_path / "mixed")
    feats = {"observation.images.front": {"dtype": "video", "shape": [32, 48, 3]},
             "observation.state": {"dtype": "float32", "shape": [7], "names": STATE_NAMES},
             "action": {"dtype": "float32", "shape": [10], "names": ACTION_NAMES}}
    eps = [generate_episode(5, i, CFG) for i in range(3)]
    lengths = [12, 4, 9]
    with LeRobotWriter(out, 4, feats) as w:
        for ep, n in zip(eps, lengths):
            st, g = ep["state"][:n, :6], ep["continuous_gripper_state"][:n]
            w.add_episode({"observation.images.front": ep["frames"][:n]},
                          {"observation.state": np.concatenate([st, g[:, None]], 1),
                           "action": bridge_step_actions(st, g)})
        w.finalize({"train": "0:3"})
    with caplog.at_level("WARNING"):
        ds = _ds(out, num_frames=5)
    assert ds.num_short_episodes == 1 and "1 of 3 episodes are shorter than one 5-frame window" in caplog.text
    assert "from 2 of 3 episodes, 1 shorter than one window skipped" in ds.describe()
    assert len(ds) == (12 - 4) + (9 - 4)
    for i in range(len(ds)):  # every window is frames of the one episode it names
        s = ds[i]
        e = int(s["__key__"].split("_")[1])
        start = ds.samples[i][1]
        ref = eps[e]["frames"][start:start + 5].astype(np.float64)
        got = s["video"].permute(1, 2, 3, 0).numpy().astype(np.float64)
        assert got.shape == ref.shape and np.abs(got - ref).mean() < 6, (i, e, start)
    with pytest.raises(DataError, match="no 13-frame windows"):
        _ds(out, num_frames=13)


def test_normalisation_is_computed_once_and_cached(root, tmp_path):
    first = _ds(root, normalization="quantile")
    files = os.listdir(tmp_path / "stats")
    assert len(files) == 1
    again = _ds(root, normalization="quantile")
    assert again.normalization.same_mapping(first.normalization)
    every = np.concatenate([_ds(root, num_frames=12)[i]["action"].numpy() for i in range(3)])
    lo, hi = np.quantile(every, 0.01, axis=0), np.quantile(every, 0.99, axis=0)
    np.testing.assert_allclose(first.normalization.center, (lo + hi) / 2, atol=1e-6)
    # a given record is used as is; one for another width is refused
    given = _ds(root, action_normalization=first.normalization.to_dict())
    np.testing.assert_allclose(given[0]["action"].numpy(),
                               first.normalization.normalize(_ds(root)[0]["action"].numpy()), atol=1e-6)
    with pytest.raises(DataError, match="is for 10-d actions but the dataset's actions \\(state_delta\\) are 7-d"):
        _ds(root, action_source="state_delta", action_normalization=first.normalization.to_dict())
