"""Group ``ema`` (package ``model.config.ema``): power-function EMA (EDM2 style, rate 0.10)."""

from cosmos_predict2.configs.registry import register_group_option


def register() -> None:
    register_group_option("ema", "power", dict(enabled=True, rate=0.10, iteration_shift=0))
    register_group_option("ema", "none", dict(enabled=False, rate=0.10, iteration_shift=0))
