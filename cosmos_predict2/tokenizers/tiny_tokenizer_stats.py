"""Per-channel latent statistics of :class:`TinyVideoTokenizer` (the analogue of the Wan2.1 mean/std).

Diffusion training wants latents of roughly unit scale per channel; raw block-DCT coefficients range
from ~0.6 (block mean luma) down to ~0.03 (fine detail). The constants in ``tiny_tokenizer_stats.json``
were measured once, with :func:`measure`, on 24 episodes of the synthetic renderer
(cosmos_predict2/data/synthetic.py, seed 1234, which is not a seed the datasets use), for all 192
channels; a tokenizer with ``latent_ch=K`` uses the first K (the channel order does not depend on K).
Regenerate with ``python -m cosmos_predict2.tokenizers.tiny_tokenizer_stats``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

import torch

STATS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_tokenizer_stats.json")
STD_FLOOR = 1e-3


@lru_cache(maxsize=1)
def load_stats() -> dict:
    with open(STATS_FILE) as f:
        return json.load(f)


def measure(episodes: int = 24, seed: int = 1234) -> dict:
    """Mean / std per channel of the raw (un-normalised) coefficients, first frame and 4-frame groups apart."""
    from cosmos_predict2.data.synthetic import generate_episode
    from cosmos_predict2.tokenizers.tiny_tokenizer import MAX_LATENT_CH, TinyVideoTokenizer

    tok = TinyVideoTokenizer(latent_ch=MAX_LATENT_CH, normalize=False)
    latents = []
    for episode in range(episodes):
        frames = generate_episode(seed, episode)["frames"]  # (T, H, W, 3) uint8
        t = 1 + (frames.shape[0] - 1) // 4 * 4
        video = torch.from_numpy(frames[:t]).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        latents.append(tok.encode(video))
    z = torch.cat(latents)  # (N, 192, T_lat, h, w)
    first, groups = z[:, :, 0], z[:, :, 1:]
    return {
        "source": f"synthetic renderer, seed {seed}, {episodes} episodes, {tuple(frames.shape)} frames each",
        "first_mean": first.mean(dim=(0, 2, 3)).tolist(),
        "first_std": first.std(dim=(0, 2, 3)).clamp_min(STD_FLOOR).tolist(),
        "group_mean": groups.mean(dim=(0, 2, 3, 4)).tolist(),
        "group_std": groups.std(dim=(0, 2, 3, 4)).clamp_min(STD_FLOOR).tolist(),
    }


if __name__ == "__main__":
    stats = measure()
    with open(STATS_FILE, "w") as f:
        json.dump(stats, f, indent=1)
    print(f"wrote {STATS_FILE} ({stats['source']})")
