"""What a Ray error means for a unit, in one line (as the leaderboard shows it), with its details for the log."""

from __future__ import annotations

import traceback
from typing import Any

from initdash.errors import UserError, first_line

NOT_INSTALLED = "the Ray cluster's workers cannot import initdash: install the same version on every node"
WORKER_DIED = "worker died"


def failure_text(ray: Any, error: BaseException) -> tuple[str, str]:
    """A failed unit's one-line message and its details for the log."""
    ex = ray.exceptions
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if isinstance(error, UserError):
        return str(error), trace
    if "No module named 'initdash" in str(error):
        return NOT_INSTALLED, trace
    if isinstance(error, ex.OutOfMemoryError):
        return f"{WORKER_DIED} (out of memory)", trace
    if isinstance(error, (ex.WorkerCrashedError, ex.NodeDiedError, ex.LocalRayletDiedError)):
        return WORKER_DIED, trace  # and Ray's retries of the task ran out
    if isinstance(error, ex.TaskCancelledError):
        return "cancelled by Ray", trace
    if isinstance(error, getattr(ex, "StreamingGeneratorReplayInconsistentError", ())):
        return "Ray re-ran the unit and it sent another number of events (its training is not deterministic)", trace
    cause = getattr(error, "cause", None) or error
    text = first_line(cause)
    return (f"Ray: {text}" if isinstance(error, ex.RayError) and cause is error else text), trace
