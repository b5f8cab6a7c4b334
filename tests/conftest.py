"""Test-session settings: the dataset scan's and the action statistics' caches live in temporary folders (not the
user's ~/.cache)."""

import atexit
import os
import shutil
import tempfile

if "COSMOS_DATASET_SCAN_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="cp2_scan_cache_")
    atexit.register(shutil.rmtree, _cache, True)
    os.environ["COSMOS_DATASET_SCAN_CACHE"] = _cache

if "COSMOS_ACTION_STATS_CACHE" not in os.environ:
    _stats = tempfile.mkdtemp(prefix="cp2_action_stats_")
    atexit.register(shutil.rmtree, _stats, True)
    os.environ["COSMOS_ACTION_STATS_CACHE"] = _stats
