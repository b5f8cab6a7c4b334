"""The dataset scan's cache: a check's result per (check, file size, file mtime_ns), one JSON file per dataset root.

Folder: ``$COSMOS_DATASET_SCAN_CACHE`` (``off`` disables the cache), else ``$XDG_CACHE_HOME/cosmos_predict2/
dataset_scan``, else ``~/.cache/cosmos_predict2/dataset_scan``. Writes are atomic (temporary file + rename,
merged with what another job wrote meanwhile). A file that does not parse, or was written by another format /
check version, is ignored and replaced; a malformed entry is dropped. A hit needs the file's current size and
mtime_ns to equal the recorded ones, so a rewritten or touched file is checked again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Optional

from cosmos_predict2.data.checks import Problem
from cosmos_predict2.utils.cache_dir import cache_dir as utils_cache_dir
from cosmos_predict2.utils.files import atomic_write_text

log = logging.getLogger(__name__)

ENV = "COSMOS_DATASET_SCAN_CACHE"
FORMAT = "cosmos_predict2.dataset_scan"
# bump when a check's logic changes: older results are then ignored
CHECKS_VERSION = 1


def cache_dir() -> Optional[str]:
    """The cache folder, or None when ``$COSMOS_DATASET_SCAN_CACHE=off``."""
    return utils_cache_dir(ENV, "dataset_scan")


def _version() -> str:
    try:
        import av

        codec = f"av-{av.__version__}"
    except Exception:  # noqa: BLE001 - the check reports a missing PyAV itself
        codec = "av-none"
    return f"{CHECKS_VERSION}/{codec}"


def _valid_entry(value) -> bool:
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) for v in value[:2])):
        return False
    p = value[2]
    return p is None or (isinstance(p, list) and len(p) == 3 and all(isinstance(v, str) or v is None for v in p))


class ScanCache:
    """Results of one dataset root's checks. ``folder=None``: a cache that never hits nor writes."""

    def __init__(self, root: str, folder: Optional[str]):
        self.root = os.path.abspath(root)
        digest = hashlib.sha256(self.root.encode()).hexdigest()[:16]
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in os.path.basename(self.root))[:40]
        self.path = os.path.join(folder, f"{name}-{digest}.json") if folder else None
        self.version = _version()
        self.entries: dict = self._read() if self.path else {}
        self.new: dict = {}

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("dataset scan cache %s is unreadable (%s); ignoring it", self.path, e)
            return {}
        if not (isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") == self.version
                and data.get("root") == self.root and isinstance(data.get("entries"), dict)):
            log.info("dataset scan cache %s is from another format / check version; ignoring it", self.path)
            return {}
        entries = {k: v for k, v in data["entries"].items() if isinstance(k, str) and _valid_entry(v)}
        if len(entries) != len(data["entries"]):
            log.warning("dataset scan cache %s: dropped %d malformed entries", self.path,
                        len(data["entries"]) - len(entries))
        return entries

    def get(self, key: str, stat: Optional[os.stat_result]):
        """``(True, problem or None)`` for a hit, ``(False, None)`` otherwise."""
        if stat is None:
            return False, None
        value = self.entries.get(key)
        if value is None or value[0] != stat.st_size or value[1] != stat.st_mtime_ns:
            return False, None
        return True, (None if value[2] is None else Problem(*value[2]))

    def put(self, key: str, stat: Optional[os.stat_result], problem: Optional[Problem]) -> None:
        if stat is None or self.path is None:
            return
        found = None if problem is None else [problem.path, problem.problem, problem.fix]
        value = [stat.st_size, stat.st_mtime_ns, found]
        self.entries[key] = self.new[key] = value

    def save(self) -> None:
        """Write the new results (merged with the file as it is now), atomically; a failure is only logged."""
        if not self.path or not self.new:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            entries = self._read()
            entries.update(self.new)
            atomic_write_text(self.path, json.dumps({"format": FORMAT, "version": self.version, "root": self.root,
                                                     "entries": entries}))
            self.new = {}
        except OSError as e:
            log.warning("dataset scan cache %s not written (%s); the next launch scans again (set %s to a writable "
                        "folder)", self.path, e, ENV)
