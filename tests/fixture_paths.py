"""Paths of the committed fixtures written by other tools (tests/fixtures/README.md)."""

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
LEROBOT_V3_OFFICIAL = os.path.join(FIXTURES, "lerobot_v3_official_tiny")
