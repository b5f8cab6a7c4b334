"""The launcher builds a real (tiny) experiment on the meta device: initial weights identical on 1 and 2 gloo
ranks, and a released-layout file loaded shard by shard gives the same outputs as the file loaded into an
eagerly built net with torch's own ``load_state_dict``."""

from __future__ import annotations

import copy
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_fixtures import bridge_dir  # noqa: E402
from dist_helpers import run_ranks  # noqa: E402

from cosmos_predict2.checkpoint.random_weights import random_dit_state_dict  # noqa: E402
from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, compose_config  # noqa: E402
from cosmos_predict2.lazy_config import instantiate  # noqa: E402
from cosmos_predict2.models.key_maps import is_non_learned_key  # noqa: E402
from cosmos_predict2.parallel.materialize import init_parameters_  # noqa: E402

pytestmark = pytest.mark.distributed
EXPERIMENT = "tiny_action_conditioned_bridge"


def _overrides(data: str, dit_path: str = "", seed: int = 0) -> list[str]:
    return [f"experiment={EXPERIMENT}", f"dataloader_train.dataset.dataset_dir={data}",
            f"dataloader_val.dataset.dataset_dir={data}", "model.config.precision=float32",
            "dataloader_train.num_workers=0", "dataloader_train.batch_size=2", "~trainer.callbacks.rollout_eval",
            f"trainer.seed={seed}",
            f"model.config.model_manager_config.dit_path={dit_path!r}" if dit_path else
            "model.config.model_manager_config.dit_path=''"]


def _inputs():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 64, 4, 8, 10, generator=g)
    mask = torch.zeros(2, 1, 4, 8, 10)
    mask[:, :, 0] = 1
    return (x, torch.rand(2, 4, generator=g), torch.zeros(2, 1, 64)), dict(
        action=torch.randn(2, 12, 7, generator=g), condition_video_input_mask_B_C_T_H_W=mask)


def _build(rank: int, world: int, root: str, overrides: list[str]):
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = root
    from cosmos_predict2.trainer.launch import build

    trainer = build(compose_config(DEFAULT_CONFIG_FILE, overrides))
    model = trainer.model
    net = {k: v.full_tensor() for k, v in model.net.state_dict().items()}  # collective on every rank
    ema = {k: v.full_tensor() for k, v in model.net_ema.state_dict().items()}
    args, kwargs = _inputs()
    with torch.no_grad():
        out = model.net(*args, **kwargs)
    return (net, ema, out) if rank == 0 else None


def test_initial_weights_do_not_depend_on_world_size(tmp_path):
    data = bridge_dir()
    one = run_ranks(_build, 1, str(tmp_path / "w1"), _overrides(data))[0]
    two = run_ranks(_build, 2, str(tmp_path / "w2"), _overrides(data))[0]
    assert one[0].keys() == two[0].keys()
    for k in one[0]:
        assert torch.equal(one[0][k], two[0][k]), k  # bit-identical on 1 and 2 ranks
        assert torch.equal(one[1][k], one[0][k]) and torch.equal(two[1][k], two[0][k])  # EMA starts as the net
    torch.testing.assert_close(one[2], two[2])
    # the same deterministic init in this process (no process group); another seed gives other weights
    config = compose_config(DEFAULT_CONFIG_FILE, _overrides(data))
    for seed, same in ((0, True), (1, False)):
        with torch.device("meta"):
            net = instantiate(config.model.config.net)
        template = copy.deepcopy(net)
        net.to_empty(device="cpu")
        init_parameters_(net, template, seed, torch.device("cpu"))
        assert all(torch.equal(v, one[0][k]) for k, v in net.state_dict().items()) == same


def released_weights_and_eager_net(tmp_path, data):
    """A random file in the released layout, the eager net that loaded it (torch's load_state_dict) and its
    output on :func:`_inputs`: (path, eager net, output)."""
    config = compose_config(DEFAULT_CONFIG_FILE, _overrides(data))
    sd = random_dit_state_dict(config.model.config.net, seed=7)
    path = str(tmp_path / "released.pt")
    torch.save(sd, path)
    eager = instantiate(config.model.config.net)
    eager.load_state_dict({k[4:]: v for k, v in sd.items() if not is_non_learned_key(k)}, strict=True)
    args, kwargs = _inputs()
    with torch.no_grad():
        expected = eager(*args, **kwargs)
    return path, eager, expected


def test_meta_built_and_loaded_equals_eager_load(tmp_path):
    data = bridge_dir()
    path, eager, expected = released_weights_and_eager_net(tmp_path, data)
    net, ema, out = run_ranks(_build, 2, str(tmp_path / "w2"), _overrides(data, dit_path=path))[0]
    for k, v in eager.state_dict().items():
        assert torch.equal(net[k], v) and torch.equal(ema[k], v), k
    torch.testing.assert_close(out, expected)
