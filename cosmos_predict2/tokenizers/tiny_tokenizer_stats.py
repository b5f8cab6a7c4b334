"""Per-channel latent statistics of :class:`TinyVideoTokenizer` (the analogue of the Wan2.1 mean/std).

Diffusion training wants latents of roughly unit overall scale; raw block-DCT coefficients range from ~0.6
(block mean luma) down to ~0.03 (fine detail). The tokenizer subtracts the per-channel means and divides by one
global scale (the RMS of the per-channel stds), so channels keep their relative sizes. The constants in ``tiny_tokenizer_stats.json``
were measured once, by ``scripts/measure_tiny_tokenizer_stats.py``, on 24 episodes of the synthetic renderer
(cosmos_predict2/data/synthetic.py, seed 1234, which is not a seed the datasets use), for all 192
channels; a tokenizer with ``latent_ch=K`` uses the first K (the channel order does not depend on K).
Regenerate with ``python -m scripts.measure_tiny_tokenizer_stats``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache


STATS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_tokenizer_stats.json")
STD_FLOOR = 1e-3


@lru_cache(maxsize=1)
def load_stats() -> dict:
    with open(STATS_FILE) as f:
        return json.load(f)
