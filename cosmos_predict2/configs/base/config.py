"""``make_config()``: the root training config with every group and experiment registered.

Used by ``python -m scripts.train --config=cosmos_predict2/configs/base/config.py -- experiment=NAME``.
"""

from __future__ import annotations

from cosmos_predict2.configs.schema import Config, JobConfig, TrainerConfig

_REGISTERED = False


def register_all() -> None:
    """Register every config group option and every experiment (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from cosmos_predict2.configs.action_conditional.defaults import conditioner as ac_conditioner
    from cosmos_predict2.configs.action_conditional.defaults import data as ac_data
    from cosmos_predict2.configs.action_conditional.experiment import exp as ac_exp
    from cosmos_predict2.configs.base.defaults import (callbacks, checkpoint, conditioner, data, ema, model, net,
                                                       optimizer, tokenizer)
    from cosmos_predict2.configs.base.experiment import agibot_head_center_fisheye_color, groot, tiny, twins
    from cosmos_predict2.configs.predict1 import experiment as p1_exp
    from cosmos_predict2.configs.predict2p5 import experiment as p25_action

    for module in (net, tokenizer, conditioner, ac_conditioner, ema, optimizer, checkpoint, callbacks, data,
                   ac_data, model):
        module.register()
    for module in (ac_exp, p25_action, p1_exp, agibot_head_center_fisheye_color, groot, tiny, twins):
        module.register()
    _REGISTERED = True


def make_config() -> Config:
    register_all()
    return Config(
        job=JobConfig(project="cosmos_predict2", group="debug", name="default_${now:%Y-%m-%d}_${now:%H-%M-%S}"),
        trainer=TrainerConfig(max_iter=400_000, logging_iter=10, run_validation=False),
    )
