"""The Session: every sweep's results, fed by events; the one state the TUI and the headless mode read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from initdash.config import ExperimentConfig
from initdash.events import (
    CANCELLED,
    DIVERGED,
    FAILED,
    METRICS,
    OK,
    EpochDone,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
)

QUEUED, RUNNING, DONE = "queued", "running", "done"


@dataclass
class InitRun:
    """One initializer in one sweep: its repeats' seeds, statuses and histories."""

    label: str
    seeds: tuple[int, ...] = ()
    state: str = QUEUED  # queued, running, done, failed, cancelled
    epoch: int = -1  # last evaluated epoch
    statuses: list[str] = field(default_factory=list)  # per repeat: ok, diverged, cancelled
    histories: list[list[dict[str, float]]] = field(default_factory=list)  # per repeat, per epoch
    error: str = ""

    def last(self, metric: str) -> list[float]:
        """The latest value of `metric` of every repeat that has one."""
        return [h[-1][metric] for h in self.histories if h]

    def final(self, metric: str) -> list[float]:
        """`metric` at the end of every repeat that trained all the way (status ok; none if the worker failed)."""
        if self.state != DONE:
            return []
        return [h[-1][metric] for h, s in zip(self.histories, self.statuses) if s == OK and h]

    def status_text(self, epochs: int) -> str:
        """What a leaderboard shows: queued / epoch k/E / done / diverged / failed: message."""
        if self.state == RUNNING:
            return f"epoch {max(self.epoch, 0)}/{epochs}"
        if self.state == FAILED:
            return f"failed: {self.error}"
        if self.state == DONE:
            diverged = self.statuses.count(DIVERGED)
            if diverged == len(self.statuses):
                return DIVERGED
            return f"done, {diverged} diverged" if diverged else DONE
        return self.state


@dataclass
class SweepRecord:
    """One rerun: every initializer's InitRun, in the config's order."""

    sweep_id: int
    runs: dict[str, InitRun]

    @property
    def finished(self) -> bool:
        """True once every worker has reported its end."""
        return all(r.state in (DONE, FAILED, CANCELLED) for r in self.runs.values())

    @property
    def complete(self) -> bool:
        """True once every worker has ended without being cancelled: a sweep statistics can use."""
        return all(r.state in (DONE, FAILED) for r in self.runs.values())


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value, nan for none)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


class Session:
    """Every sweep so far; events of a sweep that is not the current one are dropped."""

    def __init__(self, config: ExperimentConfig, data_label: str) -> None:
        self.config = config
        self.data_label = data_label
        self.sweeps: list[SweepRecord] = []

    @property
    def current(self) -> SweepRecord | None:
        """The newest sweep (the one on screen)."""
        return self.sweeps[-1] if self.sweeps else None

    @property
    def next_sweep_id(self) -> int:
        """The id (rerun number) the next sweep gets."""
        return self.sweeps[-1].sweep_id + 1 if self.sweeps else 1

    def begin_sweep(self, sweep_id: int, config: ExperimentConfig | None = None) -> SweepRecord:
        """Start recording a new sweep; an incomplete current sweep is dropped (a rerun cancelled it)."""
        if config is not None:
            self.config = config
        if self.current is not None and not self.current.complete:
            self.sweeps.pop()
        record = SweepRecord(sweep_id, {s.label: InitRun(s.label) for s in self.config.initializers})
        self.sweeps.append(record)
        return record

    def apply(self, event: Event) -> bool:
        """Record one event; False (and nothing changes) when it belongs to a replaced sweep."""
        cur = self.current
        if cur is None or event.sweep_id != cur.sweep_id or event.initializer not in cur.runs:
            return False
        run = cur.runs[event.initializer]
        if isinstance(event, RunStarted):
            run.seeds, run.state = event.seeds, RUNNING
            run.statuses = [OK] * len(event.seeds)
            run.histories = [[] for _ in event.seeds]
        elif isinstance(event, EpochDone):
            rep = event.report
            run.epoch = rep.epoch
            for i, status in enumerate(rep.statuses):
                if status == OK:
                    row = {"epoch": rep.epoch, **{m: rep.values[m][i] for m in METRICS}}
                    row.update({k: list(v[i]) for k, v in rep.layers.items()})
                    run.histories[i].append(row)
                run.statuses[i] = status
        elif isinstance(event, RunFinished):
            run.statuses = [o.status for o in event.outcomes]
            run.histories = [list(o.history) for o in event.outcomes]
            run.state = CANCELLED if CANCELLED in run.statuses else DONE
        elif isinstance(event, RunFailed):
            run.state, run.error = FAILED, event.message
        return True

    def completed(self) -> list[SweepRecord]:
        """The sweeps that ran to the end: the ones statistics are about."""
        return [s for s in self.sweeps if s.complete]

    def labels(self) -> list[str]:
        """Initializer labels in config order."""
        return [s.label for s in self.config.initializers]
