"""Where tracebacks go: a log file in the user's state dir, never the terminal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from initdash import locations
from initdash.events import UnitFailed
from initdash.text import safe


def log_text(text: str) -> Path | None:
    """Append a dated entry to the log file; its path, or None if it cannot be written."""
    path = locations.log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{datetime.now().isoformat()} {safe(text, lines=True)}\n")
    except OSError:
        return None
    return path


def log_failure(event: UnitFailed) -> Path | None:
    """Append the traceback of a failed worker to the log file; its path, or None if it cannot be written."""
    return log_text(f"sweep {event.sweep_id} {event.initializer}: {event.message}\n{event.traceback}")
