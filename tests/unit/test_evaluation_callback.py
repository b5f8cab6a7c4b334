"""RolloutEvalCallback pieces that need no training run: EMA view, flattening, argument checks.
(The callback itself runs inside a real training loop in tests/e2e/test_evaluate_action_conditioned.py.)"""

import pytest
import torch

from cosmos_predict2.trainer.callbacks import Callback
from cosmos_predict2.trainer.eval_callback import EMAModelView, RolloutEvalCallback, flatten_summary


class _TwoNets(torch.nn.Module):
    """A module with a live and an EMA net whose generate() reports which one it used."""

    def __init__(self):
        super().__init__()
        self.net, self.net_ema = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
        self.tokenizer = "tok"

    def generate(self, batch, use_ema=False, **kwargs):
        return ("ema" if use_ema else "net", kwargs)


def test_ema_view_routes_net_and_generate_to_the_ema_copy():
    m = _TwoNets()
    view = EMAModelView(m)
    assert view.net is m.net_ema and view.tokenizer == "tok"
    assert view.generate({}, num_steps=3) == ("ema", {"num_steps": 3})
    assert next(view.parameters()) is next(m.parameters())
    cb = RolloutEvalCallback(every_n=5)
    assert isinstance(cb, Callback) and isinstance(cb._view(m), EMAModelView)
    assert RolloutEvalCallback(use_ema=False)._view(m) is m
    assert cb._view(torch.nn.Linear(1, 1)).__class__ is torch.nn.Linear  # no EMA copy: the live net


def test_flatten_summary_and_bad_every_n():
    summary = {"protocols": {"long": {"model": {"psnr": 20.0, "ssim": 0.5, "latent_l2": 0.1,
                                                "action_sensitivity": 1.5, "per_frame": {}},
                                      "copy_last_frame": {"psnr": 18.0, "dynamic_psnr": 9.0, "ssim": 0.6,
                                                          "latent_l2": 0.2},
                                      "seconds": 3.0}}}
    flat = flatten_summary(summary)
    assert flat == {"rollout_eval/long/model/psnr": 20.0, "rollout_eval/long/model/ssim": 0.5,
                    "rollout_eval/long/model/latent_l2": 0.1, "rollout_eval/long/model/action_sensitivity": 1.5,
                    "rollout_eval/long/copy_last_frame/psnr": 18.0, "rollout_eval/long/copy_last_frame/ssim": 0.6,
                    "rollout_eval/long/copy_last_frame/dynamic_psnr": 9.0,
                    "rollout_eval/long/copy_last_frame/latent_l2": 0.2}
    with pytest.raises(ValueError, match="every_n"):
        RolloutEvalCallback(every_n=0)
