"""Fixtures for every test. Plain helpers live in helpers.py, fakes.py and recorded.py (on pytest's pythonpath)."""

import os

import pytest

# One intra-op thread, as initdash's workers use: on a busy 2-core machine, torch's default (one thread per
# core) spins against the other processes and made single tests 10-30x slower (measured: 55 s instead of 2 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _history_in_tmp(tmp_path, monkeypatch):
    """No test may write to the real history database, log or state dirs of the user running them."""
    monkeypatch.setenv("INITDASH_DB", str(tmp_path / "default-history.db"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
