"""Ray says nothing on the terminal (the dashboard owns it): its messages go to initdash's log file.

Ray's Python log records, the cluster's errors that a thread of Ray's prints as they come ('A worker died or
was killed'), and what Ray's C++ side writes straight to file descriptor 2 while it connects.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def has_fileno(stream: Any) -> bool:
    """True when `stream` is backed by a file descriptor (Textual's print capture is not)."""
    try:
        return stream.fileno() >= 0  # Textual's answers -1
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def stderr_captured() -> Iterator[list[str]]:
    """File descriptor 2 goes to a temporary file for the duration (the dashboard owns the terminal); afterwards
    the list holds what was written there, which is also appended to initdash's log file."""
    written: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield written
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            if text.strip():
                log(f"Ray, while connecting:\n{text}")
            written.append(text)


def log(text: str) -> None:
    """Append `text` to initdash's log file."""
    from initdash.failures import log_text

    log_text(text)


class _ToLog(logging.Handler):
    """Ray's Python log records go to initdash's log file, not the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            log(f"ray: {self.format(record)}")
        except Exception:
            pass


def _ray_said(data: dict[str, Any], ignore_prefix: bool = False) -> None:
    """Instead of Ray's print_to_stdstream: what the cluster tells the driver goes to the log file."""
    lines = "\n".join(str(line) for line in data.get("lines") or ())
    log(f"ray ({data.get('pid', '?')}): {lines}")


def quiet(ray: Any) -> None:
    """Ray's messages to the driver go to initdash's log file: its Python log records, and the cluster's errors
    (such as 'A worker died or was killed'), which a thread of Ray's prints on stdout or stderr as they come."""
    try:
        ray._private.worker.print_to_stdstream = _ray_said
    except AttributeError:  # another Ray version, or Ray Client: nothing printed there that we know of
        pass
    logger = logging.getLogger("ray")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(_ToLog(logging.WARNING))
    logger.setLevel(logging.WARNING)
    logger.propagate = False
