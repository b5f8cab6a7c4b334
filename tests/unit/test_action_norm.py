"""Action normalisation (data/action_norm.py) against float64 references, and the rot6d actions."""

import numpy as np
import pytest

from cosmos_predict2.data.action_norm import ActionNormalization, action_statistics
from cosmos_predict2.data.actions import (euler2rotm, rot6d, rot6d_actions_from_states, rot6d_to_rotm,
                                          states_from_rot6d_actions)


def _actions(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.arange(1, d + 1) + np.linspace(-3, 3, d)


def test_statistics_match_numpy():
    a = _actions()
    st = action_statistics(a)
    np.testing.assert_allclose(st["mean"], a.mean(0))
    np.testing.assert_allclose(st["std"], a.std(0))
    np.testing.assert_allclose(st["q01"], np.quantile(a, 0.01, axis=0))
    np.testing.assert_allclose(st["q99"], np.quantile(a, 0.99, axis=0))
    assert st["count"] == len(a)


@pytest.mark.parametrize("kind", ["mean_std", "quantile", "min_max", "none"])
def test_kinds_match_their_definition(kind):
    a = _actions()
    norm = ActionNormalization.from_stats(kind, action_statistics(a))
    out = norm.normalize(a)
    if kind == "mean_std":
        ref = (a - a.mean(0)) / a.std(0)
    elif kind == "quantile":
        lo, hi = np.quantile(a, 0.01, axis=0), np.quantile(a, 0.99, axis=0)
        ref = 2 * (a - lo) / (hi - lo) - 1
    elif kind == "min_max":
        ref = 2 * (a - a.min(0)) / (a.max(0) - a.min(0)) - 1
    else:
        ref = a
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.denormalize(out), a, rtol=1e-5, atol=1e-4)


def test_scale_is_the_bridge_scaler_and_records_round_trip():
    a = _actions(d=7)
    norm = ActionNormalization.scaled([20.0] * 6 + [1.0], {"format": "bridge"})
    np.testing.assert_allclose(norm.normalize(a), a * np.array([20.0] * 6 + [1.0]), rtol=1e-6)
    back = ActionNormalization.from_dict(norm.to_dict())
    assert back.same_mapping(norm) and back.source == {"format": "bridge"}
    other = ActionNormalization.scaled([10.0] * 6 + [1.0])
    assert not other.same_mapping(norm)


def test_constant_dimension_and_bad_records():
    a = _actions()
    a[:, 2] = 4.0
    out = ActionNormalization.from_stats("mean_std", action_statistics(a)).normalize(a)
    assert np.isfinite(out).all() and np.allclose(out[:, 2], 0.0)
    with pytest.raises(ValueError, match="kind, dim, center and scale"):
        ActionNormalization.from_dict({"kind": "mean_std"}, "x.yaml")
    with pytest.raises(ValueError, match="use one of"):
        ActionNormalization("zscore", 1, (0.0,), (1.0,))
    with pytest.raises(ValueError, match="are 4-d but the action normalisation is for 5-d"):
        ActionNormalization.identity(5).normalize(np.zeros((3, 4)))


def test_rot6d_actions_integrate_back_to_the_states():
    rng = np.random.default_rng(1)
    n = 30
    xyz = np.cumsum(rng.normal(0, 0.02, (n, 3)), 0)
    rpy = np.cumsum(rng.normal(0, 0.1, (n, 3)), 0) * np.array([0.3, 0.3, 1.0])
    state = np.concatenate([xyz, rpy], 1)
    grip = rng.uniform(0, 1, n)
    act = rot6d_actions_from_states(state, grip)
    assert act.shape == (n - 1, 10)
    np.testing.assert_allclose(act[:, 9], grip[1:])
    back = states_from_rot6d_actions(state[0], act)
    np.testing.assert_allclose(back[:, :3], xyz, atol=1e-9)
    np.testing.assert_allclose(euler2rotm(back[:, 3:6]), euler2rotm(rpy), atol=1e-9)
    R = euler2rotm(rpy[:4])
    np.testing.assert_allclose(rot6d_to_rotm(rot6d(R)), R, atol=1e-12)
    # first step by hand: translation in the previous frame, rotation relative to it
    R0, R1 = euler2rotm(rpy[0]), euler2rotm(rpy[1])
    np.testing.assert_allclose(act[0, :3], R0.T @ (xyz[1] - xyz[0]), atol=1e-12)
    np.testing.assert_allclose(act[0, 3:9], np.concatenate([(R0.T @ R1)[:, 0], (R0.T @ R1)[:, 1]]), atol=1e-12)
