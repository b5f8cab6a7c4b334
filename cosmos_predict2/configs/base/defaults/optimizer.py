"""Groups ``optimizer`` and ``scheduler``.

``fusedadamw``: AdamW with fp32 master weights (fused kernel on CUDA), lr 1e-4, wd 0.1, betas (0.9, 0.99).
``adamw``: torch AdamW, betas (0.9, 0.999). LambdaLinear: lr x f, f rising linearly from f_start to
f_max over warm_up_steps, then falling linearly to f_min at cycle_lengths.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import PLACEHOLDER, L

BUILD_OPTIMIZER = "cosmos_predict2.trainer.optim.build_optimizer"
LAMBDA_LINEAR = "cosmos_predict2.trainer.schedulers.build_lambda_linear"
CONSTANT = "cosmos_predict2.trainer.schedulers.build_constant"


def register() -> None:
    register_group_option("optimizer", "fusedadamw", L(BUILD_OPTIMIZER)(
        model=PLACEHOLDER, name="fusedadamw", lr=1e-4, weight_decay=0.1, betas=[0.9, 0.99], eps=1e-8,
        master_weights=True))
    register_group_option("optimizer", "adamw", L(BUILD_OPTIMIZER)(
        model=PLACEHOLDER, name="adamw", lr=1e-4, weight_decay=0.1, betas=[0.9, 0.999], eps=1e-8,
        master_weights=True))
    register_group_option("scheduler", "lambdalinear", L(LAMBDA_LINEAR)(
        optimizer=PLACEHOLDER, warm_up_steps=[1000], cycle_lengths=[10_000_000_000_000], f_start=[1.0e-6],
        f_max=[1.0], f_min=[1.0]))
    register_group_option("scheduler", "constant", L(CONSTANT)(optimizer=PLACEHOLDER))
