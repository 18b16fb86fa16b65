"""Headless results alone on stdout: what a user's model prints (Python's print, or C code writing to file
descriptor 1) goes to stderr while initdash builds and trains it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO


def _fd(stream: object) -> int | None:
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


@contextlib.contextmanager
def results_only() -> Iterator[TextIO]:
    """Send stdout to stderr for the duration; yields the real stdout, for the results.

    Where stdout and stderr are the process's descriptors 1 and 2, descriptor 1 itself is pointed at stderr
    (so output from C code moves too); elsewhere (a test's captured streams) sys.stdout alone is swapped.
    """
    out, err = sys.stdout, sys.stderr
    if out is None or err is None:
        yield out
        return
    with contextlib.suppress(OSError, ValueError):
        out.flush()
    if _fd(out) == 1 and _fd(err) == 2:
        saved = os.dup(1)
        results = os.fdopen(saved, "w", encoding=out.encoding, errors=out.errors, newline=None)
        os.dup2(2, 1)
        try:
            yield results
        finally:
            with contextlib.suppress(OSError, ValueError):
                out.flush()  # what the model printed, to stderr where it belongs
            with contextlib.suppress(OSError, ValueError):
                results.flush()
            os.dup2(saved, 1)
            with contextlib.suppress(OSError, ValueError):
                results.close()
        return
    sys.stdout = err
    try:
        yield out
    finally:
        if sys.stdout is err:
            sys.stdout = out
