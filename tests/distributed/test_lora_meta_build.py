"""DoRA adapters built by the launcher on the meta device and materialised shard by shard: initial weights
identical on 1 and 2 gloo ranks with every magnitude the row norm of its base weight, and with released base
weights the fresh adapters leave the net computing what the plain net computes (torch's own load_state_dict)."""

from __future__ import annotations

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_fixtures import bridge_dir  # noqa: E402
from dist_helpers import run_ranks  # noqa: E402
from test_meta_build import _build, _overrides, released_weights_and_eager_net  # noqa: E402

from cosmos_predict2.models.lora import checkpoint_key  # noqa: E402

pytestmark = pytest.mark.distributed
DORA = ["model.config.train_architecture=lora", "model.config.use_dora=True"]


def test_dora_initial_weights_do_not_depend_on_world_size(tmp_path):
    data = bridge_dir()
    one = run_ranks(_build, 1, str(tmp_path / "w1"), _overrides(data) + DORA)[0]
    two = run_ranks(_build, 2, str(tmp_path / "w2"), _overrides(data) + DORA)[0]
    assert one[0].keys() == two[0].keys()
    for k in one[0]:
        assert torch.equal(one[0][k], two[0][k]), k
        assert torch.equal(two[1][k], two[0][k])  # EMA starts as the net
    magnitudes = [k for k in two[0] if ".lora_magnitude_vector." in k]
    assert magnitudes
    for k in magnitudes:
        base = k.split(".lora_magnitude_vector.")[0] + ".base_layer.weight"
        torch.testing.assert_close(two[0][k], two[0][base].norm(dim=1))
    torch.testing.assert_close(one[2], two[2])


def test_dora_on_released_base_weights_equals_plain_net(tmp_path):
    data = bridge_dir()
    path, eager, expected = released_weights_and_eager_net(tmp_path, data)
    net, _, out = run_ranks(_build, 2, str(tmp_path / "w2"), _overrides(data, dit_path=path) + DORA)[0]
    net = {checkpoint_key(k): v for k, v in net.items()}
    for k, v in eager.state_dict().items():
        assert torch.equal(net[k], v), k
    torch.testing.assert_close(out, expected)
