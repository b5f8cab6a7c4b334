"""What a converted weights file says about itself besides its tensors (e.g. the action normalisation).

A JSON object stored inside the file without touching its state dict, so every loader of the released layout
(``torch.load`` + ``load_state_dict(strict=True)``, safetensors readers) reads the file as before:

- ``.pt`` (torch's zip format): an extra archive record ``<archive>/cosmos_metadata.json`` appended after the
  tensors (``torch.load`` reads only its own records);
- ``.safetensors``: the header's metadata under the key ``cosmos_metadata``.

:func:`read_metadata` returns ``{}`` for a file without it (released weights), a folder (DCP) or a legacy file.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any, Mapping

__all__ = ["METADATA_KEY", "read_metadata", "write_metadata", "encode_metadata"]

METADATA_KEY = "cosmos_metadata"
_RECORD = METADATA_KEY + ".json"


def encode_metadata(meta: Mapping[str, Any]) -> str:
    return json.dumps(dict(meta), sort_keys=True)


def _decode(text: Any, path: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: its {METADATA_KEY} is not JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: its {METADATA_KEY} is not a JSON object")
    return data


def _archive_prefix(z: zipfile.ZipFile) -> str:
    first = z.namelist()[0]
    return first.split("/", 1)[0]


def write_metadata(path: str, meta: Mapping[str, Any]) -> None:
    """Add ``meta`` to a ``.pt`` file written by ``torch.save`` (zip format)."""
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(f"{_archive_prefix(z)}/{_RECORD}", encode_metadata(meta))


def read_metadata(path: str) -> dict[str, Any]:
    """The metadata of a converted ``.pt`` / ``.safetensors`` file ({} when it has none or is a folder)."""
    path = str(path)
    if not os.path.isfile(path):
        return {}
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt", device="cpu") as f:
            text = (f.metadata() or {}).get(METADATA_KEY)
        return _decode(text, path) if text is not None else {}
    if not zipfile.is_zipfile(path):
        return {}
    with zipfile.ZipFile(path) as z:
        name = f"{_archive_prefix(z)}/{_RECORD}"
        if name not in z.namelist():
            return {}
        return _decode(z.read(name).decode("utf-8"), path)
