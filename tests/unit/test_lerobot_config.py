"""LeRobot data in the experiments: the data group options, the action-width preflight, upstream keys."""


import pytest

from cosmos_predict2.configs.compose import compose_config
from cosmos_predict2.configs.preflight import preflight_findings
from cosmos_predict2.lazy_config import instantiate
from tests.fixture_paths import LEROBOT_V3_OFFICIAL

FIXTURE = LEROBOT_V3_OFFICIAL


def _p25(*extra):
    return compose_config(overrides=["experiment=ac_reason_embeddings_rectified_flow_2b_256_320",
                                     "data_train=lerobot_train", "data_val=lerobot_val",
                                     f"dataloader_train.dataset.root={FIXTURE}", f"dataloader_val.dataset.root={FIXTURE}",
                                     "dataloader_val.dataset.episodes=0:3", *extra])


def test_preflight_compares_the_data_width_with_the_net(monkeypatch):
    width = [f for f in preflight_findings(_p25()) if f.key == "model.config.net.action_dim"]
    assert len(width) == 1 and "the data gives 10-d actions but the net takes 7-d actions" in width[0].problem
    assert "model.config.net.action_dim=10" in width[0].fix
    assert not [f for f in preflight_findings(_p25("model.config.net.action_dim=10"))
                if f.key == "model.config.net.action_dim"]
    bad = [f for f in preflight_findings(_p25("dataloader_train.dataset.camera=left"))
           if f.key == "dataloader_train.dataset.root"]
    assert bad and "its cameras: observation.images.front, observation.images.wrist" in bad[0].problem


def test_upstream_experiment_body_keys_reach_a_lerobot_node(monkeypatch):
    monkeypatch.setenv("COSMOS_ACTION_STATS_CACHE", "off")
    config = _p25("model.config.net.action_dim=10")
    assert config.dataloader_train.dataset.gripper_rescale_factor == 1.0  # set by the Predict2.5 experiment body
    ds = instantiate(config.dataloader_train.dataset, progress=False)
    s = ds[0]
    assert s["video"].shape == (3, 13, 256, 320) and s["action"].shape == (12, 10)
    with pytest.raises(ValueError, match="gripper_rescale_factor=2.0 scales Bridge actions"):
        instantiate(_p25("dataloader_train.dataset.gripper_rescale_factor=2.0").dataloader_train.dataset)
