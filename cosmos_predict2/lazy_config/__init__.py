"""Python-first lazy configs: ``L(Class)(**kwargs)`` records a call, ``instantiate`` performs it."""

from cosmos_predict2.lazy_config.instantiate import instantiate
from cosmos_predict2.lazy_config.lazy import PLACEHOLDER, LazyCall, LazyDict, L, locate, target_name

__all__ = ["L", "LazyCall", "LazyDict", "PLACEHOLDER", "instantiate", "locate", "target_name"]
