"""Helpers shared by the tests (importable: pyproject's pytest `pythonpath` includes this folder)."""

from __future__ import annotations

import time
from collections.abc import Callable


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds (no fixed sleeps); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the dashboard")
        await pilot.pause(0.02)


def finished(app) -> bool:
    """The dashboard's current sweep has ended."""
    return app.session.current is not None and app.session.current.finished


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "a condition") -> None:
    """Poll `condition()` until it holds (no fixed sleeps); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
