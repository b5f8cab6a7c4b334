"""Group ``tokenizer`` (package ``model.config.tokenizer``): video VAEs.

Wan2.1 VAE: 4x temporal, 8x8 spatial, 16 latent channels. Weights are the released files
(Predict2 ships it as ``tokenizer/tokenizer.pth``; Predict2.5 as ``Wan2.1_VAE.pth``).
``tiny_tokenizer`` has the same geometry and needs no weights (CPU experiments).
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

WAN = "cosmos_predict2.tokenizers.wan2pt1.Wan2pt1VAETokenizer"
TINY = "cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer"

P2_2B_VAE = "checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/tokenizer/tokenizer.pth"
P2_14B_VAE = "checkpoints/nvidia/Cosmos-Predict2-14B-Video2World/tokenizer/tokenizer.pth"
P25_VAE = "checkpoints/nvidia/Cosmos-Predict2.5-2B/tokenizer.pth"


def wan(vae_pth: str, temporal_window: int = 4):
    return L(WAN)(vae_pth=vae_pth, dtype="bfloat16", temporal_window=temporal_window)


def register() -> None:
    register_group_option("tokenizer", "wan2pt1_tokenizer", wan(P2_2B_VAE))
    register_group_option("tokenizer", "wan2pt1_tokenizer_14b", wan(P2_14B_VAE))
    register_group_option("tokenizer", "wan2pt1_tokenizer_gcp", wan(P25_VAE))
    register_group_option("tokenizer", "wan2pt2_tokenizer", wan(P25_VAE))
    register_group_option("tokenizer", "tiny_tokenizer", L(TINY)())
