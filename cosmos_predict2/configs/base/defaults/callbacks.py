"""Group ``callbacks`` (package ``trainer.callbacks``): a dict of named callback nodes."""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

CB = "cosmos_predict2.trainer.callbacks"


def basic() -> dict:
    return dict(
        grad_clip=L(f"{CB}.GradClip")(clip_norm=1.0),
        progress=L(f"{CB}.ProgressBar")(),
        metrics=L(f"{CB}.MetricsLogger")(),
        # loss with true / shuffled / zero actions on a fixed batch; inert unless the model's conditioner uses
        # actions (model.config.conditioner.use_action); off: trainer.callbacks.action_monitor.every_n=0
        action_monitor=L("cosmos_predict2.trainer.action_monitor.ActionSensitivityMonitor")(
            every_n=200, warn_after=2000, batch_size=None, noise_k=2.0, min_relative_gap=0.0),
    )


def register() -> None:
    register_group_option("callbacks", "basic", basic())
    register_group_option("callbacks", "wandb", dict(basic(), wandb=L(f"{CB}.WandbLogger")()))
