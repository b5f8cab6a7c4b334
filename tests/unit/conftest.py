"""Fixtures shared by the unit tests."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))
from dist_helpers import single_process_group  # noqa: E402


@pytest.fixture
def group():
    """A one-rank gloo process group for the duration of the test (what the launcher would create)."""
    with single_process_group():
        yield
