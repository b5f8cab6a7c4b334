"""A training job's ``config.yaml`` that comes with a downloaded checkpoint is data: the inference scripts and the
converter build only this project's classes from it. One naming anything else (``os.system``) is refused with one
line naming the file and the key, and nothing it names is called."""

from __future__ import annotations

import os

import pytest
import torch
from omegaconf import OmegaConf

from cosmos_predict2.checkpoint.weights import CheckpointError
from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config, write_config_yaml
from cosmos_predict2.inference.loading import InferenceSetupError, build_inference_model
from cosmos_predict2.lazy_config.instantiate import foreign_targets


@pytest.fixture(scope="module")
def job_yaml(tmp_path_factory) -> str:
    """A genuine config.yaml of the tiny action experiment, as the trainer writes it."""
    config = compose_config(DEFAULT_CONFIG_FILE, ["experiment=tiny_action_conditioned_bridge",
                                                  "model.config.precision=float32"])
    return open(write_config_yaml(config, str(tmp_path_factory.mktemp("genuine")))).read()


def _job(root, text: str, key: str, marker: str) -> str:
    """``<root>/job/config.yaml`` whose ``key`` node is replaced by a call of ``os.system``; returns a weights path
    inside the job, where the trainer puts them."""
    cfg = OmegaConf.create(text)
    OmegaConf.update(cfg, key, {"_target_": "os.system", "command": f"touch {marker}"}, merge=False)
    job = os.path.join(str(root), "job")
    os.makedirs(os.path.join(job, "checkpoints", "iter_000000002"))
    OmegaConf.save(cfg, os.path.join(job, "config.yaml"))
    weights = os.path.join(job, "checkpoints", "iter_000000002", "model.pt")
    torch.save({"net.x": torch.zeros(1)}, weights)
    return weights


def test_genuine_job_config_names_only_project_classes(job_yaml):
    assert foreign_targets(OmegaConf.create(job_yaml)) == []


@pytest.mark.parametrize("key", ["model.config.tokenizer", "model.config.net"])
def test_inference_refuses_a_job_config_naming_other_code(tmp_path, job_yaml, key):
    marker = tmp_path / "pwned"
    weights = _job(tmp_path, job_yaml, key, str(marker))
    for experiment, config_file in ((None, None), (None, os.path.join(tmp_path, "job", "config.yaml"))):
        with pytest.raises(InferenceSetupError) as err:
            build_inference_model(experiment, weights, config_file=config_file, device="cpu")
        message = str(err.value)
        assert "config.yaml" in message and f"{key}._target_ names 'os.system'" in message and "refusing" in message
        assert "\n" not in message
    assert not marker.exists()


def test_diffusers_export_refuses_a_job_config_naming_other_code(tmp_path, job_yaml):
    from cosmos_predict2.conversion.convert import _net_node

    marker = tmp_path / "pwned"
    weights = _job(tmp_path, job_yaml, "model.config.net", str(marker))
    with pytest.raises(CheckpointError, match="model.config.net._target_ names 'os.system'.*refusing"):
        _net_node(None, None, weights)
    assert not marker.exists()
