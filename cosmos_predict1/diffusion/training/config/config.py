"""The config path used by the Predict1 post-training guide; it is the same root config."""

from cosmos_predict2.configs.base.config import make_config

__all__ = ["make_config"]
