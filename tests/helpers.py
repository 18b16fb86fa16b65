"""Helpers shared by the tests (importable: pyproject's pytest `pythonpath` includes this folder)."""

from __future__ import annotations

import queue
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


def recorded_sweep(config, data, sweep_id: int = 1):
    """Train one sweep of `config` on a local executor of its own, to every unit's end: (the Session it
    recorded, the Sweep)."""
    from initdash.events import UnitFailed, UnitFinished
    from initdash.executors.local import LocalExecutor
    from initdash.recorder import Recorder
    from initdash.session import Session
    from initdash.sweep import Sweep

    session = Session(config, data.describe())
    recorder = Recorder(session, on_failure=lambda e: None)
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor()
    try:
        sweep = Sweep(config, data, recorder.begin_sweep(sweep_id=sweep_id), events.put, executor)
        sweep.start()
        pending = {u.label for u in sweep.units}
        while pending:
            event = events.get(timeout=120)
            recorder.apply(event)
            if isinstance(event, (UnitFinished, UnitFailed)):
                pending.discard(event.initializer)
    finally:
        executor.close()
    return session, sweep
