"""Measure the per-channel latent statistics of the tiny tokenizer on the synthetic renderer and write
``cosmos_predict2/tokenizers/tiny_tokenizer_stats.json``: ``python -m scripts.measure_tiny_tokenizer_stats``."""

from __future__ import annotations

import json

import torch

from cosmos_predict2.tokenizers.tiny_tokenizer_stats import STATS_FILE, STD_FLOOR


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


def main() -> None:
    stats = measure()
    with open(STATS_FILE, "w") as f:
        json.dump(stats, f, indent=1)
    print(f"wrote {STATS_FILE} ({stats['source']})")


if __name__ == "__main__":
    main()
