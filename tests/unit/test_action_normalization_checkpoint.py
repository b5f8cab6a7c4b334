"""The action normalisation travels with the checkpoint: launcher -> config.yaml -> converted files -> inference.

Data: the LeRobot v3.0 fixture written by the official ``lerobot`` writer (10-d actions, two cameras).
"""

import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from cosmos_predict2.checkpoint.metadata import read_metadata, write_metadata
from cosmos_predict2.checkpoint.random_weights import random_dit_state_dict
from cosmos_predict2.configs.action_data import config_normalization, data_action_dim, fill_action_normalization
from cosmos_predict2.configs.compose import compose_config, write_config_yaml
from cosmos_predict2.conversion.convert import convert_checkpoint
from cosmos_predict2.data.action_norm import ActionNormalization
from cosmos_predict2.evaluation.episodes import load_episodes
from cosmos_predict2.inference.experiment_info import action_normalization, action_settings
from cosmos_predict2.inference.loading import InferenceSetupError, apply_checkpoint_normalization
from tests.fixture_paths import LEROBOT_V3_OFFICIAL

FIXTURE = LEROBOT_V3_OFFICIAL


@pytest.fixture(autouse=True)
def _no_stats_cache(monkeypatch):
    monkeypatch.setenv("COSMOS_ACTION_STATS_CACHE", "off")


def _config(**extra):
    overrides = ["experiment=tiny_action_conditioned_lerobot", f"dataloader_train.dataset.root={FIXTURE}",
                 f"dataloader_val.dataset.root={FIXTURE}", "dataloader_val.dataset.episodes=0:3"]
    return compose_config(overrides=overrides + [f"{k}={v}" for k, v in extra.items()])


def _raw_actions(episode: int) -> np.ndarray:
    t = pq.read_table(os.path.join(FIXTURE, "data", "chunk-000", "file-000.parquet")).to_pydict()
    rows = [i for i, e in enumerate(t["episode_index"]) if e == episode]
    rows.sort(key=lambda i: t["frame_index"][i])
    return np.asarray([t["action"][i] for i in rows], dtype=np.float64)


def _write_ckpt(path, config, record):
    sd = random_dit_state_dict(config.model.config.net, dtype=torch.float32)
    torch.save(sd, path)
    write_metadata(str(path), {"action_normalization": record})


def test_launcher_fills_the_training_statistics_into_every_dataset_node(tmp_path):
    config = _config()
    assert config_normalization(config) is None and data_action_dim(config) == 10
    norm = fill_action_normalization(config, progress=False)
    every = np.concatenate([_raw_actions(e)[:-1] for e in range(3)])  # the steps between frames
    np.testing.assert_allclose(norm.center, every.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.scale, every.std(0), rtol=1e-6)
    assert config.dataloader_val.dataset.action_normalization["center"] == list(norm.center)
    path = write_config_yaml(config, str(tmp_path))
    from omegaconf import OmegaConf

    saved = OmegaConf.load(path)
    assert ActionNormalization.from_dict(saved.dataloader_train.dataset.action_normalization).same_mapping(norm)


def test_converted_files_carry_the_job_normalisation(tmp_path):
    config = _config()
    norm = fill_action_normalization(config, progress=False)
    job = tmp_path / "job"
    write_config_yaml(config, str(job))
    ckpt_dir = job / "checkpoints" / "model"
    ckpt_dir.mkdir(parents=True)
    sd = random_dit_state_dict(config.model.config.net, dtype=torch.float32)
    torch.save({**sd, **{k.replace("net.", "net_ema.", 1): v.clone() for k, v in sd.items()}},
               ckpt_dir / "iter_000000010.pt")
    for fmt in ("pt", "safetensors"):
        written = convert_checkpoint(str(ckpt_dir / "iter_000000010.pt"), str(tmp_path / fmt), fmt=fmt,
                                     progress=False, echo=lambda s: None)
        for path in written.values():
            rec = read_metadata(path)["action_normalization"]
            assert ActionNormalization.from_dict(rec).same_mapping(norm), path
    # the state dict stays the released layout (tensors only, as torch.load sees it); our loader reads it
    from cosmos_predict2.checkpoint.weights import match_net_node

    loaded = torch.load(tmp_path / "pt" / "model_ema_fp32.pt", weights_only=True)
    assert all(torch.is_tensor(v) for v in loaded.values()) and set(loaded) == set(sd)
    match_net_node(config.model.config.net, str(tmp_path / "pt" / "model_ema_bf16.pt"))


def test_inference_follows_the_checkpoint_not_the_config(tmp_path):
    config = _config()
    ours = fill_action_normalization(config, progress=False)
    theirs = ActionNormalization(ours.kind, ours.dim, tuple(c + 1.0 for c in ours.center),
                                 tuple(2.0 * s for s in ours.scale), ours.stats, ours.source)
    ckpt = tmp_path / "model_ema_fp32.pt"
    _write_ckpt(ckpt, config, theirs.to_dict())
    apply_checkpoint_normalization(config, str(ckpt))
    norm = action_normalization(config)
    assert norm.same_mapping(theirs) and not norm.same_mapping(ours)
    eps = load_episodes(FIXTURE, "train", names=["1"], settings=action_settings(config), normalization=norm)
    raw = _raw_actions(1)[:-1]  # step t -> t+1 uses the action recorded with frame t
    np.testing.assert_allclose(eps[0].actions, (raw - np.array(theirs.center)) / np.array(theirs.scale),
                               rtol=1e-5, atol=1e-5)
    assert eps[0].frames.shape == (25, 64, 80, 3)


def test_a_checkpoint_for_another_action_width_is_refused_before_the_build(tmp_path):
    config = _config()
    ckpt = tmp_path / "seven.pt"
    _write_ckpt(ckpt, config, ActionNormalization.identity(7).to_dict())
    with pytest.raises(InferenceSetupError, match="trained on 7-d actions but the experiment's net takes 10-d"):
        apply_checkpoint_normalization(config, str(ckpt))
    bare = tmp_path / "bare.pt"
    torch.save(random_dit_state_dict(config.model.config.net, dtype=torch.float32), bare)
    with pytest.raises(InferenceSetupError, match="carries the action normalisation"):
        apply_checkpoint_normalization(_config(), str(bare))


def test_bridge_checkpoint_with_another_scaler_is_refused(tmp_path):
    config = compose_config(overrides=["experiment=tiny_action_conditioned_bridge"])
    ours = config_normalization(config)
    assert ours.kind == "scale" and ours.dim == 7
    ckpt = tmp_path / "bridge.pt"
    _write_ckpt(ckpt, config, ActionNormalization.scaled([10.0] * 6 + [1.0]).to_dict())
    with pytest.raises(InferenceSetupError, match="scale"):
        apply_checkpoint_normalization(config, str(ckpt))
    _write_ckpt(ckpt, config, ours.to_dict())
    apply_checkpoint_normalization(config, str(ckpt))  # the same scaling: accepted


def test_a_resumed_job_keeps_the_statistics_of_its_first_launch(tmp_path):
    first = _config()
    norm = fill_action_normalization(first, progress=False)
    kept = ActionNormalization(norm.kind, norm.dim, tuple(c + 0.5 for c in norm.center), norm.scale, norm.stats,
                               norm.source)  # as if the data had changed since the first launch
    first.dataloader_train.dataset.action_normalization = kept.to_dict()
    path = write_config_yaml(first, str(tmp_path))
    again = _config()
    assert fill_action_normalization(again, progress=False, resumed_from=path).same_mapping(kept)
    assert ActionNormalization.from_dict(again.dataloader_val.dataset.action_normalization).same_mapping(kept)
    assert fill_action_normalization(_config(), progress=False).same_mapping(norm)  # a fresh job recomputes
