"""Test-session settings: the dataset scan's cache lives in a temporary folder (not the user's ~/.cache)."""

import atexit
import os
import shutil
import tempfile

if "COSMOS_DATASET_SCAN_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="cp2_scan_cache_")
    atexit.register(shutil.rmtree, _cache, True)
    os.environ["COSMOS_DATASET_SCAN_CACHE"] = _cache
