"""How far training is: epochs done of all, the time it took so far and an estimate of the time left (ETA).

Plain Python over the Session's records (no torch, no textual): the headless progress line and the
dashboard's status line read the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from initdash.session import ENDED, SweepRecord


def epochs_done(sweep: SweepRecord, epochs: int) -> int:
    """Epochs trained in a sweep, over its units; a unit that ended (early too: diverged, failed) counts whole."""
    return sum(epochs if u.state in ENDED else max(u.epoch, 0) for u in sweep.initializers.values())


def clock(seconds: float) -> str:
    """`0:07`, `12:34`, `1:02:03`; `-` for an unknown time."""
    if not math.isfinite(seconds):
        return "-"
    s = max(int(round(seconds)), 0)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Eta:
    """Epochs done of `total`, and the time left at the rate measured since the first epoch report.

    The rate starts at the first report, not at the start: loading torch and building models would otherwise
    make the first estimates far too long.
    """

    def __init__(self, total: int, clock_s: Callable[[], float] = time.monotonic) -> None:
        self.total, self._now = total, clock_s
        self.started = clock_s()
        self.done = 0
        self._first: tuple[float, int] | None = None  # (time, epochs done) at the first report

    def update(self, done: int) -> None:
        """Epochs done so far (of all)."""
        self.done = min(done, self.total)
        if self._first is None:
            self._first = (self._now(), self.done)

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return self._now() - self.started

    @property
    def left(self) -> float:
        """Seconds left at the measured rate; nan until an epoch was done after the first report."""
        if self.done >= self.total:
            return 0.0
        if self._first is None or self.done <= self._first[1]:
            return math.nan
        t0, d0 = self._first
        return (self._now() - t0) / (self.done - d0) * (self.total - self.done)

    def times(self) -> str:
        """`0:07 elapsed · ETA 0:21` (`ETA …` until there is a rate)."""
        left = self.left
        eta = "ETA …" if math.isnan(left) else f"ETA {clock(left)}"
        return f"{clock(self.elapsed)} elapsed · {eta}"

    def text(self) -> str:
        """`12/50 epochs · 0:07 elapsed · ETA 0:21`."""
        return f"{self.done}/{self.total} epochs · {self.times()}"
