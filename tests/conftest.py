"""Shared test setup: tests import helpers from this folder (recorded.py, fakes.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _history_in_tmp(tmp_path, monkeypatch):
    """No test may write to the real history database in the user data dir."""
    monkeypatch.setenv("INITDASH_DB", str(tmp_path / "default-history.db"))
