"""Random weights in the released file layouts, written where an experiment expects its files.

For smoke-testing the real experiments (and their commands) on a new machine before downloading tens of
GB, and for the tests, which use these files instead of mocks:

- the DiT file named by ``model.config.model_manager_config.dit_path``: ``net.*`` keys in bfloat16 plus the
  non-learned entries released files carry (RoPE tables ``pos_embedder.*``, counters ``accum_*``,
  TransformerEngine ``*._extra_state``); modules listed in ``model_manager_config.new_modules`` are left out,
  as in the released base model the experiment starts from;
- the tokenizer files named in ``model.config.tokenizer`` (the Wan2.1 VAE state dict, float32; for
  Cosmos-Tokenize1 a stand-in with its interface, ``tokenizers/cosmos_tokenize1_standin.py``);
- a tiny random T5 at ``model.config.text_encoder.path`` when the experiment's text encoder is T5.

Values: each parameter is initialised as the trainer would (``models/init.py`` units, seeded by name) and a
seeded N(0, 0.02) perturbation is added, so no tensor is all zeros or all ones. The DiT is built on the meta
device and generated one init unit at a time straight into the bfloat16 file contents (peak about 3 bytes per
parameter of host memory). Existing files are kept unless ``force``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable

import torch

from cosmos_predict2.lazy_config.nodes import node_get

log = logging.getLogger(__name__)

__all__ = ["RandomFile", "write_random_weights", "random_dit_state_dict"]


@dataclasses.dataclass
class RandomFile:
    key: str          # config key that names the file
    path: str         # where it was (or would be) written
    written: bool     # False: it existed and was kept
    note: str = ""


@torch.no_grad()
def random_dit_state_dict(net_node: Any, new_modules=(), seed: int = 1234,
                          dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
    """``{"net.<param>": tensor}`` of a random net in the released layout (see the module doc)."""
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.parallel.materialize import iter_initial_values

    with torch.device("meta"):
        net = instantiate(net_node)
    keep = [n for n, _ in net.named_parameters()
            if not any(n == m or n.startswith(f"{m}.") for m in new_modules)]
    out: dict[str, torch.Tensor] = {}
    gen = torch.Generator().manual_seed(seed)
    for name, value in iter_initial_values(net, seed, torch.device("cpu"), keep):  # one unit at a time
        out[f"net.{name}"] = (value.float() + 0.02 * torch.randn(value.shape, generator=gen)).to(dtype)
    out = {f"net.{name}": out[f"net.{name}"] for name in keep}  # parameter order, as a saved state dict
    for name, value in net.released_non_learned_entries().items():
        out[f"net.{name}"] = value
    return out


def _random_wan_vae(node: Any, seed: int) -> dict[str, torch.Tensor]:
    from cosmos_predict2.tokenizers.wan2pt1 import wan_vae_for

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = wan_vae_for(node)
    return {k: v.detach() for k, v in vae.state_dict().items()}


def _save(obj: Any, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _target(root: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(root, path)


def write_random_weights(config: Any, root: str, seed: int = 1234, force: bool = False,
                         echo: Callable[[str], Any] = print) -> list[RandomFile]:
    """Write the experiment's weight files under ``root`` (relative config paths resolve against it)."""
    mcfg = config.model.config
    out: list[RandomFile] = []

    def emit(key: str, rel: str, make: Callable[[str], None], note: str = "") -> None:
        path = _target(root, rel)
        if os.path.exists(path) and not force:
            out.append(RandomFile(key, path, False, "exists; kept (--force replaces it)"))
            echo(f"kept    {path} (exists)")
            return
        make(path)
        out.append(RandomFile(key, path, True, note))
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        echo(f"wrote   {path}" + (f" ({size / 2**20:.1f} MiB)" if size else "") + (f" [{note}]" if note else ""))

    dit_path = str(node_get(mcfg, "model_manager_config", "dit_path", default="") or "")
    if dit_path:
        new_modules = list(node_get(mcfg, "model_manager_config", "new_modules", default=[]) or [])
        note = f"without {', '.join(new_modules)}" if new_modules else ""
        emit("model.config.model_manager_config.dit_path", dit_path,
             lambda p: _save(random_dit_state_dict(mcfg.net, new_modules, seed), p), note)
    tok = node_get(mcfg, "tokenizer")
    if tok is not None and str(node_get(tok, "_target_", default="")).endswith("Wan2pt1VAETokenizer"):
        vae = str(node_get(tok, "vae_pth", default="") or "")
        if vae:
            emit("model.config.tokenizer.vae_pth", vae, lambda p: _save(_random_wan_vae(tok, seed), p))
    if tok is not None and str(node_get(tok, "_target_", default="")).endswith("Cosmos1CVTokenizer"):
        from cosmos_predict2.tokenizers.cosmos_tokenize1 import DEFAULT_TOKENIZER_DIR
        from cosmos_predict2.tokenizers.cosmos_tokenize1_standin import write_standin

        folder = str(node_get(tok, "tokenizer_dir", default=DEFAULT_TOKENIZER_DIR) or DEFAULT_TOKENIZER_DIR)
        emit("model.config.tokenizer.tokenizer_dir", folder, lambda p: write_standin(p, seed),
             "stand-in TorchScript encoder/decoder (one strided conv each) + mean_std.pt")
    text = node_get(mcfg, "text_encoder")
    kind, path = str(node_get(text, "kind", default="none")), str(node_get(text, "path", default="") or "")
    if kind == "t5" and path:
        from cosmos_predict2.text_encoders.tiny_t5 import save_tiny_t5

        dim = int(node_get(text, "embed_dim", default=1024))
        emit("model.config.text_encoder.path", path,
             lambda p: save_tiny_t5(p, d_model=dim, num_layers=1, num_heads=4, d_kv=dim // 4, d_ff=256, seed=seed),
             f"tiny random T5, width {dim}")
    elif kind not in ("none", "t5") and path:
        echo(f"skipped {path}: no random stand-in for the {kind} text encoder")
    return out
