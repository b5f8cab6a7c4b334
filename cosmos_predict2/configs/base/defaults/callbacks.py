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
    )


def register() -> None:
    register_group_option("callbacks", "basic", basic())
    register_group_option("callbacks", "wandb", dict(basic(), wandb=L(f"{CB}.WandbLogger")()))
