"""Where a failed worker's traceback goes: a log file in the user's state dir, never the terminal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from initdash import locations
from initdash.events import RunFailed


def log_failure(event: RunFailed) -> Path | None:
    """Append the traceback of a failed worker to the log file; its path, or None if it cannot be written."""
    path = locations.log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{datetime.now().isoformat()} sweep {event.sweep_id} {event.initializer}: "
                     f"{event.message}\n{event.traceback}\n")
    except OSError:
        return None
    return path
