"""Fixtures for every test. Plain helpers live in helpers.py, fakes.py and recorded.py (on pytest's pythonpath)."""

import pytest


@pytest.fixture(autouse=True)
def _history_in_tmp(tmp_path, monkeypatch):
    """No test may write to the real history database, log or state dirs of the user running them."""
    monkeypatch.setenv("INITDASH_DB", str(tmp_path / "default-history.db"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
