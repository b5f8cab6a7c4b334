"""Reading DCP checkpoint folders without letting them run code.

torch's ``FileSystemReader`` unpickles ``.metadata`` with plain ``pickle.load`` and non-tensor entries
(``BytesStorageMetadata``: optimizer hyper-parameters, extra state) with ``torch.load(weights_only=False)``,
so a crafted folder runs its payload the moment it is read. :class:`SafeFileSystemReader` is the only DCP
reader this project uses (resume, ``checkpoint.load_path``, inference, the converter):

- ``.metadata`` is unpickled by a restricted unpickler that admits the DCP metadata classes, torch
  sizes / dtypes / layouts, paths and plain containers, nothing else;
- every non-tensor entry is first read with ``torch.load(weights_only=True)`` and refused if that fails;
- tensors are read by torch with ``weights_only=True`` (as torch does).

A refused file raises :class:`CheckpointError` naming the file and what it asked for.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import os
import pickle
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta

from cosmos_predict2.checkpoint.weights import CheckpointError, UnsafeCheckpointError
from cosmos_predict2.utils.restricted_pickle import RefusedGlobal, restricted_loads

# modules whose dataclasses / enums make up DCP metadata (current and older torch releases)
_METADATA_MODULES = frozenset({
    "torch.distributed.checkpoint.metadata",
    "torch.distributed.checkpoint.filesystem",
    "torch.distributed._shard.sharded_tensor.metadata",
    "torch.distributed._shard.metadata",
})
_ALLOWED = frozenset({
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),
    ("pathlib", "Path"), ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath"),
})


def _accept(module: str, name: str) -> bool:
    """DCP metadata dataclasses / enums, and torch dtypes, layouts and memory formats."""
    if module == "torch":
        return isinstance(getattr(torch, name, None), (torch.dtype, torch.layout, torch.memory_format))
    if module in _METADATA_MODULES:
        import importlib

        obj = getattr(importlib.import_module(module), name, None)
        return isinstance(obj, type) and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum))
    return False


def _refused(path: str, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"{path}: {what}, which a DCP checkpoint never holds; refusing to read it (it could run code); use "
        "checkpoints from sources you trust")


def read_dcp_metadata(folder: str) -> Metadata:
    """The ``Metadata`` of DCP folder ``folder``, unpickled safely. Raises :class:`CheckpointError`."""
    return SafeFileSystemReader(folder).read_metadata()


def read_error(folder: str, err: BaseException) -> CheckpointError:
    """The one-line error for a failed DCP read of ``folder``: a refusal raised inside torch's load (possibly on
    another rank) as it is, anything else as a broken or incomplete checkpoint."""
    failures = getattr(err, "failures", None) or {}
    for exc, _trace in failures.values():
        if isinstance(exc, CheckpointError):
            return exc
    if isinstance(err, CheckpointError):
        return err
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    return CheckpointError(f"DCP checkpoint {folder} cannot be read ({type(err).__name__}: "
                           f"{(lines[-1] if lines else '')[:200]}); a .distcp file is missing or truncated; "
                           "re-save it or pick another iteration.")


class _SafeBytesPlanner:
    """Passes every call to ``planner``; non-tensor entries must load with ``weights_only=True`` first."""

    def __init__(self, planner: Any, folder: str) -> None:
        self._planner, self._folder = planner, folder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._planner, name)

    def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
        data = value.read()
        try:
            torch.load(io.BytesIO(data), weights_only=True)
        except pickle.UnpicklingError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise _refused(self._folder, f"entry {read_item.dest_index.fqn!r} holds a pickled object torch's "
                                         f"weights-only loader refuses ({first[:160]})") from None
        self._planner.load_bytes(read_item, io.BytesIO(data))


class SafeFileSystemReader(FileSystemReader):
    """``FileSystemReader`` that never unpickles anything outside the DCP metadata and tensor formats."""

    def _metadata_file(self, rank: Any) -> str:
        getter = getattr(self, "_get_metadata_path", None)
        return str(getter(rank)) if getter is not None else os.path.join(str(self.path), ".metadata")

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        path = self._metadata_file(kwargs.get("rank"))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as err:
            raise CheckpointError(f"{path} cannot be read ({err.strerror or err}); the checkpoint is incomplete or "
                                  "not a DCP checkpoint; re-save it or pick another iteration.") from None
        try:
            metadata = restricted_loads(data, _ALLOWED, _accept)
        except RefusedGlobal as err:
            raise _refused(path, f"the metadata pickle refers to '{err.module}.{err.name}'") from None
        except Exception as err:  # noqa: BLE001 - truncated / garbage bytes
            raise CheckpointError(f"{path} cannot be read ({type(err).__name__}: {err}); the checkpoint is truncated "
                                  "or not a DCP checkpoint; re-save it or pick another iteration.") from None
        if not isinstance(metadata, Metadata):
            raise CheckpointError(f"{path} holds a {type(metadata).__name__}, not DCP metadata; the folder is not a "
                                  "DCP checkpoint.")
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata

    def read_data(self, plan: Any, planner: Any):
        return super().read_data(plan, _SafeBytesPlanner(planner, str(self.path)))
