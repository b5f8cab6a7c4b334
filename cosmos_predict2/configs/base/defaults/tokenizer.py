"""Group ``tokenizer`` (package ``model.config.tokenizer``): video VAEs.

Wan2.1 VAE: 4x temporal, 8x8 spatial, 16 latent channels. Weights are the released files
(Predict2 ships it as ``tokenizer/tokenizer.pth``; Predict2.5 as ``Wan2.1_VAE.pth``).
``tiny_tokenizer`` has the same geometry and needs no weights (CPU experiments).
``cosmos_diffusion_tokenizer_comp8x8x8`` (upstream Predict1 name): Cosmos-Tokenize1-CV8x8x8-720p (TorchScript,
8x temporal, 8x8 spatial, 16 channels) in 121-frame chunks; ``cosmos1_cv8x8x8(P1_ACTION_PIXEL_CHUNK)`` is the
Predict1 action setting (every frame encoded as an image).
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

WAN = "cosmos_predict2.tokenizers.wan2pt1.Wan2pt1VAETokenizer"
TINY = "cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer"
COSMOS1_CV = "cosmos_predict2.tokenizers.cosmos_tokenize1.Cosmos1CVTokenizer"

P2_2B_VAE = "checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/tokenizer/tokenizer.pth"
P2_14B_VAE = "checkpoints/nvidia/Cosmos-Predict2-14B-Video2World/tokenizer/tokenizer.pth"
P25_VAE = "checkpoints/nvidia/Cosmos-Predict2.5-2B/tokenizer.pth"
P1_TOKENIZER_DIR = "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p"  # encoder.jit, decoder.jit, mean_std.pt
P1_VIDEO_PIXEL_CHUNK = 121  # upstream registry: chunk_duration=121
P1_ACTION_PIXEL_CHUNK = 1  # video2world_action_bridge_2frames: vae.pixel_chunk_duration=1


def wan(vae_pth: str, temporal_window: int = 4):
    return L(WAN)(vae_pth=vae_pth, dtype="bfloat16", temporal_window=temporal_window)


def cosmos1_cv8x8x8(pixel_chunk_duration: int = P1_VIDEO_PIXEL_CHUNK, tokenizer_dir: str = P1_TOKENIZER_DIR):
    """Predict1's Cosmos-Tokenize1-CV8x8x8-720p (bfloat16, sigma_data 0.5 as upstream)."""
    return L(COSMOS1_CV)(tokenizer_dir=tokenizer_dir, pixel_chunk_duration=pixel_chunk_duration,
                         spatial_compression=8, temporal_compression=8, latent_ch=16, dtype="bfloat16",
                         sigma_data=0.5)


def register() -> None:
    register_group_option("tokenizer", "wan2pt1_tokenizer", wan(P2_2B_VAE))
    register_group_option("tokenizer", "wan2pt1_tokenizer_14b", wan(P2_14B_VAE))
    register_group_option("tokenizer", "wan2pt1_tokenizer_gcp", wan(P25_VAE))
    register_group_option("tokenizer", "wan2pt2_tokenizer", wan(P25_VAE))
    register_group_option("tokenizer", "tiny_tokenizer", L(TINY)())
    # every frame coded as an image (the Predict1 action setting, pixel_chunk_duration=1)
    register_group_option("tokenizer", "tiny_tokenizer_per_frame", L(TINY)(encode_frames_independently=True))
    register_group_option("tokenizer", "cosmos_diffusion_tokenizer_comp8x8x8", cosmos1_cv8x8x8())
