"""Build and save a tiny random T5 encoder + ByT5 tokenizer, fully offline (tests, synthetic data)."""

from __future__ import annotations

import os

import torch


def save_tiny_t5(
    directory: str,
    d_model: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    d_kv: int = 8,
    d_ff: int = 64,
    seed: int = 0,
) -> str:
    """Write a random ``T5EncoderModel`` (vocab 384 = ByT5 bytes + specials) and a ``ByT5Tokenizer`` to
    ``directory`` (``save_pretrained`` layout, loadable by ``T5TextEncoder(directory)``). Weights depend only on
    ``seed`` and the sizes; the global RNG state is left untouched. Returns ``directory``."""
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=384, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=num_layers, num_heads=num_heads,
        feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5EncoderModel(config).eval()
    os.makedirs(directory, exist_ok=True)
    model.save_pretrained(directory)
    ByT5Tokenizer().save_pretrained(directory)
    return directory
