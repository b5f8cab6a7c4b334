"""The one weight loader: every file of model weights goes through here.

Used for ``model.config.model_manager_config.dit_path`` (base weights), ``checkpoint.load_path``, resuming
from ``latest_checkpoint.txt``, the inference scripts' ``--dit_path`` / ``--checkpoint-path`` and the
converter's reading side (:func:`read_state_dict`).

Sources (:func:`resolve_checkpoint`): a ``.pt`` file (released ``net.*`` weights, converted ``model*.pt``,
a standard checkpoint's ``model/iter_N.pt``; a ``{"model": ...}`` wrapper, a ``model.`` prefix and bare DiT
keys are accepted), a ``.safetensors`` file, a DCP ``model`` folder, its ``iter_N`` parent, a Predict1
training checkpoint (``iter_N.pt`` or ``iter_N_reg_model.pt`` next to ``iter_N_ema_model.pt``: read as one
source, the EMA file's ``net.*`` as ``net_ema.*``; ``ckpt_type=fsdp``), or a ``checkpoints`` folder with
``latest_checkpoint.txt``. A lone ``iter_N_ema_model.pt`` (e.g. copied to ``model.pt``) is a plain ``.pt``
file: its ``net.*`` are the EMA weights and load into the net.

Loading into a model is two steps, so that nothing is allocated before the file is known to fit:
:func:`match_weights` reads only the file's metadata and pairs its keys with the model's parameters
(canonical names, e.g. ``net.blocks.0.mlp.layer1.weight``); :func:`load_weights` then copies the tensors
into the (possibly sharded, see ``parallel/materialize.py``) parameters. A ``.pt`` file is memory-mapped:
each rank reads only the rows of its own shards and hands the file pages back after each tensor, so no rank
ever holds the whole file or the unsharded net; DCP folders are read shard by shard by DCP itself.

Rules:
- Keys are normalised to checkpoint keys (``models.lora.checkpoint_key``): PEFT's ``base_layer.`` and
  ``base_model.model.`` parts are dropped and adapter keys get the adapter name (``lora_A.weight`` ->
  ``lora_A.default.weight``), so upstream LoRA checkpoints of Predict2 and Predict2.5 and PEFT adapter files load.
- Entries released files carry that are not learned parameters (RoPE tables ``pos_embedder.*``, counters
  ``accum_*``, TransformerEngine ``*._extra_state``) are skipped and counted once in the report.
- Any learned parameter of the net that the file lacks, any learned ``net.*`` entry the net lacks, and any
  shape mismatch is a :class:`CheckpointError` naming the keys and the likely fix. Exceptions, all logged:
  LoRA adapters the file does not have (a base model: they keep their initialisation; DoRA magnitudes start
  as the loaded base weight's row norms), adapters the file has and the net does not (folded into the base
  weights by PEFT's merge, alpha = rank), and modules listed in
  ``model.config.model_manager_config.new_modules`` (e.g. action embedders on top of a base video model).
- EMA: the net gets ``net.*`` (``net_ema.*`` with ``prefer_ema``, i.e. ``load_ema_to_reg`` / ``--load_ema``,
  when the file has them); the EMA net gets ``net_ema.*`` when the file has them, else a copy of the net.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import mmap
import os
import re
import resource
import sys
from typing import Any, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException

from cosmos_predict2.models.key_maps import is_non_learned_key
from cosmos_predict2.models.lora import adapter_groups, checkpoint_key, is_adapter_key, merge_adapter
from cosmos_predict2.parallel.materialize import (canonical_parameters, copy_parameters_, derive_dora_magnitudes_,
                                                   local_slices, local_tensor, write_local_)

log = logging.getLogger(__name__)

__all__ = ["CheckpointError", "LoadReport", "WeightMatch", "is_dcp_dir", "predict1_files", "resolve_checkpoint",
           "read_state_dict", "match_weights", "load_weights", "peak_rss_gib"]

LATEST = "latest_checkpoint.txt"
_DIT_ROOTS = ("blocks.", "x_embedder.", "t_embedder.", "final_layer.")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, unreadable, not matching the net); says how to fix it."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint file that asks to import or call something a checkpoint never holds (refused unread)."""


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (GiB; file-backed pages of mapped files included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# ----------------------------------------------------------------------------- resolving a path
def is_dcp_dir(path: str) -> bool:
    """A DCP folder: has a ``.metadata`` file."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, ".metadata"))


# Predict1 training checkpoints (upstream ``FSDPCheckpointer``): iter_N.pt (trainer state), iter_N_reg_model.pt,
# iter_N_ema_model.pt, iter_N_optim.pt in one folder.
_P1_NAME = re.compile(r"^(iter_\d{9})(?:_reg_model)?\.pt$")


def predict1_files(path: str) -> Optional[tuple[str, Optional[str]]]:
    """``(reg_model file, ema_model file or None)`` when ``path`` names a Predict1 training checkpoint (its
    ``iter_N.pt`` trainer-state file or its ``iter_N_reg_model.pt``) whose regular-weights file exists; else None."""
    m = _P1_NAME.match(os.path.basename(str(path)))
    if m is None:
        return None
    folder = os.path.dirname(os.path.abspath(os.path.expanduser(str(path))))
    reg = os.path.join(folder, f"{m.group(1)}_reg_model.pt")
    if not os.path.isfile(reg):
        return None
    ema = os.path.join(folder, f"{m.group(1)}_ema_model.pt")
    return reg, (ema if os.path.isfile(ema) else None)


def resolve_checkpoint(path: str) -> tuple[str, str]:
    """``(kind, path)``: kind ``"dcp"`` (path = the DCP ``model`` folder), ``"pt"``, ``"safetensors"`` or
    ``"predict1"`` (path = the ``iter_N_reg_model.pt`` of a Predict1 training checkpoint)."""
    path = os.path.expanduser(str(path))
    p1 = predict1_files(path)
    if p1 is not None:
        return "predict1", p1[0]
    parent, base = os.path.split(path.rstrip(os.sep))
    if not os.path.exists(path) and base.startswith("iter_") and base.endswith(".pt"):
        alt = os.path.join(parent, "model", base)  # the standard layout's pointer target
        if os.path.isfile(alt):
            return "pt", alt
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist; pass a DCP iteration folder "
                              "(<job>/checkpoints/iter_000001000), its model/ subfolder, or a .pt file.")
    if os.path.isfile(path):
        return ("safetensors" if path.endswith(".safetensors") else "pt"), path
    if is_dcp_dir(path):
        return "dcp", path
    if is_dcp_dir(os.path.join(path, "model")):
        return "dcp", os.path.join(path, "model")
    latest = os.path.join(path, LATEST)
    if os.path.isfile(latest):
        with open(latest) as f:
            name = f.read().strip()
        for cand in (os.path.join(path, name), os.path.join(path, "model", name)):
            if os.path.exists(cand):
                return resolve_checkpoint(cand)
        raise CheckpointError(f"{latest} names {name!r} but neither {path}/{name} nor {path}/model/{name} exists.")
    raise CheckpointError(f"{path!r} is a folder but not a checkpoint: no DCP .metadata in it or in its model/ "
                          "subfolder and no latest_checkpoint.txt; pass <job>/checkpoints/iter_N or iter_N/model.")


def _flatten(sd: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted keys."""
    flat: dict[str, Any] = {}
    for k, v in sd.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _normalised_names(raw_keys: Iterable[str], path: str = "") -> dict[str, str]:
    """``{normalised key: raw key}``: a ``model.`` wrapper/prefix removed, PEFT names as checkpoint keys, bare
    DiT keys given ``net.``."""
    raw = list(raw_keys)
    strip = len("model.") if raw and all(k.startswith("model.") for k in raw) else 0
    names: dict[str, str] = {}
    for k in raw:
        key = checkpoint_key(k[strip:])
        if key in names:
            raise CheckpointError(f"{path or 'the checkpoint'} holds both {names[key]!r} and {k!r}, which name the "
                                  f"same weight {key!r}; keep one of them.")
        names[key] = k
    if not any(k.startswith(("net.", "net_ema.")) for k in names) and any(k.startswith(_DIT_ROOTS) for k in names):
        names = {f"net.{k}": v for k, v in names.items()}  # bare DiT weights (e.g. Predict1 iter_N_ema_model.pt)
    return names


# ----------------------------------------------------------------------------- sources
_libc = None


def _release(t: torch.Tensor) -> None:
    """Hand the file pages behind a slice of a memory-mapped tensor back to the kernel (they were only read,
    so they are re-read from the file if touched again)."""
    global _libc
    if t.numel() == 0 or not t.is_contiguous() or not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        start = t.data_ptr() // mmap.PAGESIZE * mmap.PAGESIZE
        end = t.data_ptr() + t.numel() * t.element_size()
        _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), 4)  # MADV_DONTNEED
    except OSError:  # no libc: the pages stay until the mapping is closed
        pass


class _Source:
    """Keys, shapes and reads of one weight file or folder (normalised key names)."""

    kind = ""

    def __init__(self, path: str) -> None:
        self.path = path
        self.names: dict[str, str] = {}  # normalised -> raw
        self.shapes: dict[str, tuple[int, ...]] = {}

    def read(self, key: str, index: Optional[tuple] = None) -> torch.Tensor:
        raise NotImplementedError

    def release(self, t: torch.Tensor) -> None:
        """Forget a tensor returned by :meth:`read` (memory-mapped pages go back to the kernel)."""


class _PtSource(_Source):
    kind = "pt"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.mapped = True
        try:
            try:
                sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):  # legacy (non-zip) files cannot be memory-mapped
                    raise
                sd, self.mapped = torch.load(path, map_location="cpu", weights_only=True), False
        except Exception as err:  # noqa: BLE001 - pickle / zip errors: truncated or not a checkpoint
            first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {first}); the "
                                  "file is truncated or not a weights file.") from err
        if not isinstance(sd, Mapping):
            raise CheckpointError(f"{path} holds a {type(sd).__name__}, not a state dict of tensors.")
        for wrapper in ("model", "state_dict"):  # {"model": {...}, "optimizer": ...} training files
            if isinstance(sd.get(wrapper), Mapping):
                sd = sd[wrapper]
                break
        flat = _flatten(sd)
        self.names = _normalised_names(flat, path)
        self.tensors = {k: flat[raw] for k, raw in self.names.items()}
        self.shapes = {k: tuple(v.shape) for k, v in self.tensors.items() if torch.is_tensor(v)}

    def read(self, key: str, index: Optional[tuple] = None) -> torch.Tensor:
        t = self.tensors[key]
        return t if index is None else t[index]

    def release(self, t: torch.Tensor) -> None:
        if self.mapped:
            _release(t)


class _SafetensorsSource(_Source):
    kind = "safetensors"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        from safetensors import safe_open

        try:
            self.handle = safe_open(path, framework="pt", device="cpu")
            raw = list(self.handle.keys())
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(f"{path} is not a readable safetensors file ({type(err).__name__}: {err}).") from err
        self.names = _normalised_names(raw, path)
        self.shapes = {k: tuple(self.handle.get_slice(r).get_shape()) for k, r in self.names.items()}

    def read(self, key: str, index: Optional[tuple] = None) -> torch.Tensor:
        raw = self.names[key]
        return self.handle.get_tensor(raw) if index is None else self.handle.get_slice(raw)[index]


class _DcpSource(_Source):
    kind = "dcp"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        from torch.distributed.checkpoint.metadata import TensorStorageMetadata

        from cosmos_predict2.checkpoint.safe_dcp import read_dcp_metadata

        self.metadata = read_dcp_metadata(path)  # never unpickles anything but DCP metadata
        self._check_shard_sizes()
        items = self.metadata.state_dict_metadata
        self.names = _normalised_names(items, path)
        self.shapes = {k: tuple(items[r].size) for k, r in self.names.items()
                       if isinstance(items[r], TensorStorageMetadata)}

    def _check_shard_sizes(self) -> None:
        """Every byte range the metadata names must exist: catches missing and truncated ``.distcp`` files."""
        need: dict[str, int] = {}
        for info in (getattr(self.metadata, "storage_data", None) or {}).values():
            rel, end = getattr(info, "relative_path", None), getattr(info, "offset", 0) + getattr(info, "length", 0)
            if rel:
                need[rel] = max(need.get(rel, 0), end)
        for rel, end in sorted(need.items()):
            file = os.path.join(self.path, rel)
            if not os.path.isfile(file):
                raise CheckpointError(f"DCP checkpoint {self.path} is incomplete: shard {rel} is missing; copy the "
                                      "whole folder again or pick another iteration.")
            size = os.path.getsize(file)
            if size < end:
                raise CheckpointError(f"DCP checkpoint {self.path} is truncated: {rel} has {size} bytes but the "
                                      f"metadata needs {end}; the save was interrupted or the copy is incomplete.")

    def _load(self, targets: dict[str, torch.Tensor]) -> None:
        """DCP-load ``{normalised key: tensor or DTensor}`` (each rank reads only its shards)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint import DefaultLoadPlanner

        from cosmos_predict2.checkpoint.safe_dcp import SafeFileSystemReader, read_error

        try:
            dcp.load({self.names[k]: v for k, v in targets.items()}, storage_reader=SafeFileSystemReader(self.path),
                     planner=DefaultLoadPlanner(allow_partial_load=True))
        except (Exception, CheckpointException) as err:  # noqa: BLE001 - broken or refused shard files surface here
            raise read_error(self.path, err) from None

    def read(self, key: str, index: Optional[tuple] = None) -> torch.Tensor:
        items = self.metadata.state_dict_metadata[self.names[key]]
        out = torch.empty(items.size, dtype=items.properties.dtype)
        self._load({key: out})
        return out if index is None else out[index]

    def read_all(self, progress: bool, batch_size: int = 16) -> dict[str, Any]:
        """Every entry as plain CPU objects, without a process group, in batches (progress bar)."""
        from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
        from torch.distributed.checkpoint.state_dict_loader import _load_state_dict
        from tqdm import tqdm

        from cosmos_predict2.checkpoint.safe_dcp import SafeFileSystemReader, read_error

        raw_keys = sorted(self.metadata.state_dict_metadata)
        out: dict[str, Any] = {}
        label = os.path.basename(os.path.dirname(self.path.rstrip(os.sep))) or self.path
        with tqdm(total=len(raw_keys), desc=f"reading {label}", unit="tensor", disable=not progress,
                  leave=False) as bar:
            for i in range(0, len(raw_keys), batch_size):
                chunk = raw_keys[i:i + batch_size]
                sd: dict[str, Any] = {}
                try:
                    _load_state_dict(sd, storage_reader=SafeFileSystemReader(self.path),
                                     planner=_EmptyStateDictLoadPlanner(keys=set(chunk)), no_dist=True)
                except (Exception, CheckpointException) as err:  # noqa: BLE001 - broken or refused shard files
                    raise read_error(self.path, err) from None
                out.update(_flatten(sd))
                bar.update(len(chunk))
        return {k: out[raw] for k, raw in self.names.items() if raw in out}


class _Predict1Source(_Source):
    """A Predict1 training checkpoint read as one source: ``iter_N_reg_model.pt`` as is (``net.*``, ``logvar.*``)
    and, when present, ``iter_N_ema_model.pt``'s ``net.*`` as ``net_ema.*`` (its other entries are the EMA
    copies of non-net modules, which this project does not average: the regular ones are used)."""

    kind = "predict1"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        files = predict1_files(path)
        if files is None:
            raise CheckpointError(f"{path} is not a Predict1 training checkpoint (iter_N_reg_model.pt)")
        reg = _PtSource(files[0])
        self.parts = [reg]
        self.where: dict[str, tuple[_PtSource, str]] = {k: (reg, k) for k in reg.shapes}
        if files[1] is not None:
            ema = _PtSource(files[1])
            self.parts.append(ema)
            for k in ema.shapes:
                if k.startswith("net."):
                    self.where["net_ema." + k[len("net."):]] = (ema, k)
        self.names = {k: k for k in self.where}
        self.shapes = {k: src.shapes[raw] for k, (src, raw) in self.where.items()}

    def read(self, key: str, index: Optional[tuple] = None) -> torch.Tensor:
        src, raw = self.where[key]
        return src.read(raw, index)

    def release(self, t: torch.Tensor) -> None:
        if all(part.mapped for part in self.parts):
            _release(t)


def open_source(path: str) -> _Source:
    kind, resolved = resolve_checkpoint(path)
    return {"pt": _PtSource, "safetensors": _SafetensorsSource, "dcp": _DcpSource,
            "predict1": _Predict1Source}[kind](resolved)


def read_state_dict(path: str, progress: bool = True) -> dict[str, Any]:
    """A whole checkpoint as a flat ``{net.*, net_ema.*, ...: tensor}`` dict on CPU (the converter's input).
    ``.pt`` files stay memory-mapped; DCP folders are read in batches without a process group."""
    source = open_source(path)
    if isinstance(source, _DcpSource):
        sd = source.read_all(progress)
    else:
        sd = {k: source.read(k) for k in source.names}
    if not any(k.startswith("net.") for k in sd):
        raise CheckpointError(f"{source.path} has no 'net.*' model weights (keys: {sorted(sd)[:5]}); is this the "
                              "model part of a checkpoint (not optim/ scheduler/ trainer/)?")
    return sd


# ----------------------------------------------------------------------------- matching a file to a model
@dataclasses.dataclass
class WeightMatch:
    """How the entries of one file map onto a model's parameters (metadata only; see :func:`load_weights`)."""

    source: str
    kind: str
    assign: dict[str, str]                     # target parameter -> file key
    fold: dict[str, tuple[str, str, str, Optional[str]]]  # target weight -> file weight, lora_A, lora_B, DoRA m
    new: list[str]                             # targets the file does not provide: they keep their initialisation
    ema_copy: list[str]                        # net_ema targets that start as a copy of the net
    ignored: list[str]                         # non-learned entries of the file (skipped)
    unused: list[str]                          # learned entries of modules this model does not have
    notes: list[str]
    handle: Any = dataclasses.field(default=None, repr=False)

    def needs_init(self, module: str = "net") -> list[str]:
        """Canonical names (without the module prefix) of ``module``'s parameters to initialise."""
        prefix = f"{module}."
        return [t[len(prefix):] for t in self.new if t.startswith(prefix)]


def _targets(model: nn.Module) -> dict[str, dict[str, nn.Parameter]]:
    from cosmos_predict2.checkpoint.state import checkpoint_modules

    return {name: canonical_parameters(module) for name, module in checkpoint_modules(model).items()}


def _in_modules(key: str, modules: Sequence[str]) -> bool:
    return any(key == m or key.startswith(m + ".") for m in modules)


def _fix_hint(missing: Sequence[str], unexpected: Sequence[str], shapes: Sequence[str], what: str) -> str:
    """The most likely fix for a file that does not fit the net."""
    def has(keys, part):
        return any(part in k for k in keys)

    if has(missing, ".lora_magnitude_vector.") and not has(unexpected, ".lora_magnitude_vector."):
        return "the file's adapters are LoRA, not DoRA: set model.config.use_dora=False"
    if has(unexpected, ".lora_magnitude_vector."):
        return "the file's adapters are DoRA: set model.config.use_dora=True"
    if has(missing, "action_embedder") and not has(unexpected, "action_embedder"):
        return ("the file has no action embedders (a base video model?): list them in "
                "model.config.model_manager_config.new_modules=[action_embedder_B_D,action_embedder_B_3D] to start "
                f"them from their initialisation, or point {what} at an action-conditioned checkpoint")
    if has(unexpected, "action_embedder"):
        return "the file is an action-conditioned net: choose the action net it was trained with (net=...action...)"
    if has(shapes, "action_embedder"):
        return ("the action embedders differ in width: the clip net takes 12 actions at once (12x7=84 inputs for "
                "7-d actions), the chunk net 4 per latent frame (4x7=28); set model.config.net.action_dim to the "
                "per-action width the file was trained with, or, for data of another width, list the embedders in "
                "model.config.model_manager_config.new_modules=[action_embedder_B_D,action_embedder_B_3D] to train "
                "new ones")
    if has(unexpected, "crossattn_proj"):
        return ("the file projects the text embedding (crossattn_proj): set model.config.net.use_crossattn_projection="
                "True and model.config.net.crossattn_proj_in_channels to the file's input width")
    if has(missing, "crossattn_proj"):
        return "the file has no text projection: set model.config.net.use_crossattn_projection=False"
    if has(missing + list(unexpected), "extra_pos_embedder"):
        return "the file and the net disagree on model.config.net.extra_per_block_abs_pos_emb"
    if has(missing + list(unexpected), "blocks.") and not has(shapes, "blocks."):
        return "the file has a different number of blocks: it is another model size (check the experiment / net)"
    if shapes:
        return "the file is for another model size or net variant: pick the experiment it was trained with"
    return f"the file does not fit this experiment's net: pick the experiment it was trained with, or another {what}"


def _list(keys: Sequence[str], n: int = 6) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def match_weights(model: nn.Module, path: str, *, prefer_ema: bool = False, new_modules: Sequence[str] = (),
                  require_all: bool = False, allow_missing: bool = False, what: str = "the weights path") -> WeightMatch:
    """Pair the entries of ``path`` with ``model``'s parameters (reads metadata only); see the module doc.

    ``require_all`` (resuming a training checkpoint): every parameter of every checkpoint module must be in the
    file (adapters and ``new_modules`` included). ``allow_missing`` keeps missing parameters at their
    initialisation instead of raising (``checkpoint.strict_resume=False``). ``what`` names the config key or
    flag in messages."""
    source = open_source(path)
    file_keys = set(source.shapes)
    ignored = sorted(k for k in file_keys if is_non_learned_key(k))
    learned = sorted(file_keys - set(ignored))
    targets = _targets(model)
    if "net" in targets and not any(k.startswith(("net.", "net_ema.")) for k in learned):
        raise CheckpointError(f"{source.path} ({what}) has no net.* model weights (keys: {_list(learned, 4)}); is it "
                              "the model part of a checkpoint (not optim/ scheduler/ trainer/)?")
    new_modules = [str(m) for m in (new_modules or ())]
    if new_modules and "net" in targets:
        bad = [m for m in new_modules if not any(_in_modules(k, [m]) for k in targets["net"])]
        if bad:
            roots = sorted({k.split(".")[0] for k in targets["net"]})
            raise CheckpointError(f"model.config.model_manager_config.new_modules: {bad} name no module of the net "
                                  f"(its modules: {', '.join(roots)})")
    has_ema = any(k.startswith("net_ema.") for k in learned)
    notes: list[str] = []
    net_prefix = "net."
    if prefer_ema:
        if has_ema:
            net_prefix = "net_ema."
            notes.append("net <- net_ema.* (EMA weights of the file)")
        else:
            notes.append("the file has no net_ema.*: the net gets its net.* weights")
    assign: dict[str, str] = {}
    fold: dict[str, tuple[str, str, str, Optional[str]]] = {}
    new: list[str] = []
    ema_copy: list[str] = []
    problems_missing: list[str] = []
    problems_unexpected: list[str] = []
    problems_shape: list[str] = []
    for module, params in targets.items():
        if module == "net_ema" and not has_ema:
            ema_copy.extend(f"net_ema.{k}" for k in params)
            notes.append("net_ema <- a copy of the net (the file has no net_ema.*)")
            continue
        prefix = net_prefix if module == "net" else (f"{module}." if module else "")
        entries = {k[len(prefix):]: k for k in learned if k.startswith(prefix)} if prefix else {k: k for k in learned}
        dit = module in ("net", "net_ema")
        target_adapters = {k for k in params if is_adapter_key(k)}
        file_adapters = {k for k in entries if is_adapter_key(k)}
        if file_adapters and not target_adapters:  # fold the file's adapters into the base weights
            for base, keys in sorted(adapter_groups(file_adapters).items()):
                if f"{base}.weight" in params and f"{base}.weight" in entries and {"lora_A", "lora_B"} <= set(keys):
                    m = keys.get("lora_magnitude_vector")
                    fold[f"{module}.{base}.weight"] = (entries[f"{base}.weight"], entries[keys["lora_A"]],
                                                       entries[keys["lora_B"]], entries[m] if m else None)
            for k in file_adapters:
                entries.pop(k)
        for name, param in params.items():
            target = f"{module}.{name}" if module else name
            if target in fold:
                continue
            if name in entries:
                shape = source.shapes[entries[name]]
                if tuple(shape) != tuple(param.shape):
                    problems_shape.append(f"{name}: file {tuple(shape)} vs net {tuple(param.shape)}")
                else:
                    assign[target] = entries[name]
                continue
            keeps_init = (
                (not require_all and dit and name in target_adapters and not file_adapters)
                or (not require_all and dit and _in_modules(name, new_modules))
                or (not require_all and not dit)
                or allow_missing
            )
            if not keeps_init:
                problems_missing.append(name)
            elif module == "net_ema":
                ema_copy.append(target)
            else:
                new.append(target)
        if dit:
            problems_unexpected += sorted(k for k in entries if k not in params and f"{module}.{k}" not in fold)
    if problems_missing or problems_unexpected or problems_shape:
        parts = []
        if problems_missing:
            parts.append(f"{len(set(problems_missing))} learned weights of the net are not in the file "
                         f"({_list(set(problems_missing))})")
        if problems_unexpected:
            parts.append(f"{len(set(problems_unexpected))} learned weights in the file are not in the net "
                         f"({_list(set(problems_unexpected))})")
        if problems_shape:
            parts.append(f"{len(problems_shape)} shapes differ ({_list(problems_shape, 3)})")
        hint = _fix_hint(problems_missing, problems_unexpected, problems_shape, what)
        err = CheckpointError(f"{source.path} ({what}) does not fit the net: {'; '.join(parts)}; {hint}.")
        err.mismatch = {"path": source.path, "missing": sorted(set(problems_missing)),  # for callers' own wording
                        "unexpected": sorted(set(problems_unexpected)), "shapes": sorted(problems_shape)}
        raise err
    known = tuple(f"{m}." for m in targets if m) + ("net.", "net_ema.")
    unused = sorted(k for k in learned if not k.startswith(known))
    if allow_missing and new:
        log.warning("%s: %d parameters are not in the file and keep their initialisation (strict_resume=False): %s",
                    source.path, len(new), _list(new))
    return WeightMatch(source.path, source.kind, assign, fold, new, ema_copy, ignored, unused, notes, source)


def match_net_node(net_node: Any, path: str, *, prefer_ema: bool = False, new_modules: Sequence[str] = (),
                   what: str = "the weights path") -> WeightMatch:
    """The net a config node describes, built on the meta device (no memory), against ``path``'s metadata: the
    check the preflight and the inference scripts run before anything is built (see :func:`match_weights`)."""
    from cosmos_predict2.lazy_config import instantiate

    holder = nn.Module()
    with torch.device("meta"):
        holder.net = instantiate(net_node)
    return match_weights(holder, path, prefer_ema=prefer_ema, new_modules=new_modules, what=what)


# ----------------------------------------------------------------------------- loading
@dataclasses.dataclass
class LoadReport:
    """What :func:`load_weights` did, for the log and the start-of-training summary."""

    source: str
    kind: str
    loaded: int
    new: list[str]
    ignored: int
    folded: int
    ema: str
    unused: list[str]
    peak_rss_gib: float

    def summary(self) -> str:
        text = f"weights from {self.source} ({self.kind}): {self.loaded} tensors"
        if self.new:
            text += f", {len(self.new)} new (keep their initialisation: {_list(self.new, 3)})"
        if self.folded:
            text += f", {self.folded} LoRA adapters folded into their base weights"
        if self.ignored:
            text += f"; {self.ignored} non-learned entries skipped (RoPE tables, counters, TE state)"
        if self.unused:
            text += f"; {len(self.unused)} entries of modules this model does not have ({_list(self.unused, 3)})"
        if self.ema:
            text += f"; {self.ema}"
        return text + f"; peak host RSS {self.peak_rss_gib:.2f} GiB"


@torch.no_grad()
def load_weights(model: nn.Module, match: WeightMatch | str, *, progress: bool = False, **match_kwargs) -> LoadReport:
    """Copy the matched file entries into ``model``'s parameters (local shards only), fold adapters, and
    start the EMA net as the net where the file has no EMA. Parameters in ``match.new`` must already be
    initialised (they are also copied into the EMA net). ``match`` may be a path (then matched here)."""
    if isinstance(match, str):
        match = match_weights(model, match, **match_kwargs)
    source: _Source = match.handle if match.handle is not None else open_source(match.source)
    params = {f"{m}.{k}" if m else k: p for m, ps in _targets(model).items() for k, p in ps.items()}
    by_key: dict[str, str] = {}
    duplicates: list[tuple[str, str]] = []
    for target, key in match.assign.items():
        if key in by_key:
            duplicates.append((target, by_key[key]))  # e.g. net and net_ema both from net_ema.*
        else:
            by_key[key] = target
    if isinstance(source, _DcpSource):
        source._load({key: params[target] for key, target in by_key.items()})
    else:
        from tqdm import tqdm

        for key, target in tqdm(sorted(by_key.items()), desc=f"loading {os.path.basename(source.path)}",
                                unit="tensor", disable=not progress, leave=False):
            part = source.read(key, local_slices(params[target]))
            write_local_(params[target], part)
            source.release(part)
    for target, (w_key, a_key, b_key, m_key) in match.fold.items():
        index = local_slices(params[target])
        w, a, b = source.read(w_key, index), source.read(a_key), source.read(b_key, index[:1])
        m = source.read(m_key, index[:1]) if m_key else None
        # alpha == rank (every upstream LoRA recipe): scaling 1; rows are merged independently
        w = w.to(local_tensor(params[target]).dtype)
        write_local_(params[target], merge_adapter(w, a, b, float(a.shape[0]), m))
    for target, src in duplicates:
        local_tensor(params[target]).copy_(local_tensor(params[src]))
    modules = dict(model.named_children())
    if "net" in modules:  # new DoRA adapters start from the loaded base weights
        derive_dora_magnitudes_(modules["net"], match.needs_init("net"))
    ema_note = ""
    if "net_ema" in modules and "net" in modules:
        if match.ema_copy:
            copy_parameters_(modules["net_ema"], modules["net"], [t[len("net_ema."):] for t in match.ema_copy])
        from_file = sum(1 for t in match.assign if t.startswith("net_ema."))
        ema_note = (f"EMA net from net_ema.* ({len(match.ema_copy)} copied from the net)" if from_file and match.ema_copy
                    else "EMA net from net_ema.*" if from_file else "EMA net = copy of the net")
    match.handle = None  # close the file (a memory-mapped .pt is unmapped once nothing refers to it)
    for note in match.notes:
        log.info("%s: %s", match.source, note)
    report = LoadReport(match.source, match.kind, len(match.assign) + len(match.fold), list(match.new),
                        len(match.ignored), len(match.fold), ema_note, list(match.unused), peak_rss_gib())
    return report
