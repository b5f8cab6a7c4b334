"""LambdaLinear / constant schedulers vs hand-computed multipliers."""

import pytest
import torch

from cosmos_predict2.trainer.schedulers import build_constant, build_lambda_linear


def _opt(lr=2.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_lambda_linear_single_cycle_hand_values():
    opt = _opt()
    sch = build_lambda_linear(opt, warm_up_steps=[10], cycle_lengths=[100], f_start=[1e-6], f_max=[0.5], f_min=[0.1])
    f = sch.lr_lambdas[0]
    assert f(0) == pytest.approx(1e-6)
    assert f(5) == pytest.approx(1e-6 + (0.5 - 1e-6) * 5 / 10)
    assert f(10) == pytest.approx(0.1 + 0.4 * 90 / 100)  # decay measured from the cycle start
    assert f(60) == pytest.approx(0.1 + 0.4 * 40 / 100)
    assert f(100) == pytest.approx(0.1)
    assert f(10_000) == pytest.approx(0.1)  # past the last cycle: f_min
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    assert lrs[0] == pytest.approx(2e-6) and lrs[5] == pytest.approx(2 * (1e-6 + (0.5 - 1e-6) * 0.5))
    assert lrs[11] == pytest.approx(2 * (0.1 + 0.4 * 89 / 100))


def test_lambda_linear_multi_cycle_and_scalars():
    f = build_lambda_linear(_opt(), warm_up_steps=[2, 0], cycle_lengths=[10, 20], f_start=[0.0, 1.0],
                            f_max=[1.0, 1.0], f_min=[0.0, 0.5]).lr_lambdas[0]
    assert f(1) == pytest.approx(0.5)
    assert f(10) == pytest.approx(0.0)  # end of cycle 1 (n <= cum boundary stays in cycle 1)
    assert f(11) == pytest.approx(0.5 + 0.5 * 19 / 20)  # cycle 2, n = 1, no warm-up
    assert f(30) == pytest.approx(0.5)
    g = build_lambda_linear(_opt(), warm_up_steps=4, cycle_lengths=8, f_start=0.0, f_max=1.0, f_min=1.0).lr_lambdas[0]
    assert [g(i) for i in range(6)] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.0])
    with pytest.raises(ValueError, match="f_max"):
        build_lambda_linear(_opt(), [1, 1], [5, 5], [0.0], [1.0, 1.0, 1.0], [0.0])


def test_constant_and_state_dict_roundtrip():
    opt = _opt(0.3)
    sch = build_constant(opt)
    for _ in range(3):
        opt.step()
        sch.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3)
    a = build_lambda_linear(_opt(), [10], [100], [1e-6], [1.0], [0.1])
    for _ in range(7):
        a.optimizer.step()
        a.step()
    b = build_lambda_linear(_opt(), [10], [100], [1e-6], [1.0], [0.1])
    b.load_state_dict(a.state_dict())
    assert b.last_epoch == 7 and b.get_last_lr() == pytest.approx(a.get_last_lr())
