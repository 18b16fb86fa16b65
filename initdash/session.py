"""The Session: every sweep's results, fed by events; the one state the TUI, the headless mode and the store
replay read.

A sweep is one training of every initializer (what `r` starts); within it a unit is one initializer's runs
(one per seed: its repeats), trained together by one worker. Every sweep that recorded anything is kept,
however it ended; statistics use the complete ones only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from initdash.config import ExperimentConfig
from initdash.events import (
    CANCELLED,
    DIVERGED,
    FAILED,
    INTERRUPTED,
    METRICS,
    OK,
    EpochDone,
    EpochReport,
    Event,
    RunOutcome,
    UnitFailed,
    UnitFinished,
    UnitStarted,
)

UnitState = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
QUEUED: UnitState = "queued"
RUNNING: UnitState = "running"
DONE: UnitState = "done"
ENDED: tuple[UnitState, ...] = (DONE, FAILED, CANCELLED, INTERRUPTED)  # a worker that trains no more

SweepState = Literal["running", "complete", "cancelled", "interrupted"]
SWEEP_STATES: tuple[SweepState, ...] = get_args(SweepState)
SWEEP_RUNNING: SweepState = "running"
COMPLETE: SweepState = "complete"  # every unit ended (done or failed): a sweep statistics use
SWEEP_CANCELLED: SweepState = "cancelled"  # a rerun replaced it
SWEEP_INTERRUPTED: SweepState = "interrupted"  # the process stopped while it trained


@dataclass
class UnitRecord:
    """One initializer in one sweep: its runs' seeds, statuses and histories (one per repeat)."""

    label: str
    seeds: tuple[int, ...] = ()
    state: UnitState = QUEUED
    epoch: int = -1  # last evaluated epoch
    statuses: list[str] = field(default_factory=list)  # per run: ok, diverged, cancelled, interrupted
    histories: list[list[dict]] = field(default_factory=list)  # per run, per epoch
    error: str = ""
    layer_names: tuple[str, ...] = ()
    # The cell (initdash.grid) these runs are: initializer, learning rate, width (None: the model's own sizes)
    initializer: str = ""
    lr: float | None = None
    width: int | None = None

    def last(self, metric: str) -> list[float]:
        """The latest value of `metric` of every run that has one."""
        return [h[-1][metric] for h in self.histories if h]

    def final(self, metric: str) -> list[float]:
        """`metric` at the end of every run that trained all the way (status ok; none if the worker failed)."""
        return [v for v in self.final_by_repeat(metric) if v is not None]

    def final_by_repeat(self, metric: str) -> list[float | None]:
        """Per repeat: `metric` at the end, or None where the run did not train all the way (diverged,
        cancelled); none at all if the worker failed or has not finished."""
        if self.state != DONE:
            return []
        return [h[-1][metric] if s == OK and h else None for h, s in zip(self.histories, self.statuses)]

    def run_status(self, repeat: int) -> str:
        """How one run stands: a failed worker fails all of its runs."""
        return FAILED if self.state == FAILED else self.statuses[repeat]

    def status_text(self, epochs: int, short: bool = False) -> str:
        """queued / epoch k/E / done / done, n diverged / diverged / failed: message / interrupted at epoch k/E.

        `short`: at most 13 characters, for a leaderboard cell (a failure's message is shown elsewhere).
        """
        if self.state == RUNNING:
            return f"epoch {max(self.epoch, 0)}/{epochs}"
        if self.state == FAILED:
            return FAILED if short else f"failed: {self.error}"
        if self.state == DONE:
            diverged = self.statuses.count(DIVERGED)
            if diverged == len(self.statuses):
                return DIVERGED
            return f"done, {diverged} {'div' if short else 'diverged'}" if diverged else DONE
        if self.state == INTERRUPTED:
            return f"{'stopped' if short else 'interrupted at epoch'} {max(self.epoch, 0)}/{epochs}"
        return self.state


@dataclass
class SweepRecord:
    """One sweep: every initializer's runs, in the config's order, and how the sweep ended."""

    sweep_id: int
    initializers: dict[str, UnitRecord]  # by cell key (an initializer's label, when there is no grid)
    state: SweepState = SWEEP_RUNNING
    # A grid: each unit's key -> its cells' keys, and each started unit's per-run learning rates
    units: dict[str, list[str]] = field(default_factory=dict)
    unit_lrs: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True once no worker trains any more."""
        return self.state != SWEEP_RUNNING or all(r.state in ENDED for r in self.initializers.values())

    @property
    def complete(self) -> bool:
        """True once every worker has ended, none cancelled or interrupted: a sweep statistics can use."""
        return self.state in (SWEEP_RUNNING, COMPLETE) and \
            all(r.state in (DONE, FAILED) for r in self.initializers.values())

    @property
    def recorded_anything(self) -> bool:
        """True once any worker has started."""
        return any(r.state != QUEUED for r in self.initializers.values())

    def end(self, state: SweepState) -> None:
        """Mark a sweep that stopped early: workers still training end with it, and so do their runs."""
        if self.complete:
            self.state = COMPLETE
            return
        self.state = state
        run_status = CANCELLED if state == SWEEP_CANCELLED else INTERRUPTED
        for runs in self.initializers.values():
            if runs.state in (QUEUED, RUNNING):
                runs.state = run_status  # type: ignore[assignment]
                runs.statuses = [run_status if s == OK else s for s in runs.statuses]


class Session:
    """Every sweep so far; events of a sweep that is not the current one are dropped."""

    def __init__(self, config: ExperimentConfig, data_label: str) -> None:
        self.config = config
        self.data_label = data_label
        self.sweeps: list[SweepRecord] = []
        self.imported = False  # stored by `initdash import`: data, whose model, data and executor are never used

    @property
    def current(self) -> SweepRecord | None:
        """The newest sweep (the one on screen)."""
        return self.sweeps[-1] if self.sweeps else None

    @property
    def next_sweep_id(self) -> int:
        """The id the next sweep gets when nothing else (a shared history) decides it."""
        return self.sweeps[-1].sweep_id + 1 if self.sweeps else 1

    def begin_sweep(self, sweep_id: int, config: ExperimentConfig | None = None) -> SweepRecord:
        """Start recording a new sweep; the current one, if it was still training, ends as cancelled (a rerun
        replaced it) and is kept with what it recorded, unless that is nothing."""
        if config is not None:
            self.config = config
        cur = self.current
        if cur is not None and not cur.finished:
            if cur.recorded_anything:
                cur.end(SWEEP_CANCELLED)
            else:
                self.sweeps.pop()
        from initdash import grid

        record = SweepRecord(sweep_id, {c.key: UnitRecord(c.key, initializer=c.initializer, lr=c.lr, width=c.width)
                                        for c in grid.cells(self.config)}, units=grid.unit_cells(self.config))
        self.sweeps.append(record)
        return record

    def apply(self, event: Event) -> bool:
        """Record one event; False (and nothing changes) when it belongs to a replaced or ended sweep."""
        cur = self.current
        if cur is None or event.sweep_id != cur.sweep_id or cur.state != SWEEP_RUNNING \
                or (event.initializer not in cur.initializers and event.initializer not in cur.units):
            return False
        if event.initializer in cur.units:  # a grid's unit: each of its cells gets its own runs' part
            from initdash import grid

            if isinstance(event, (UnitStarted, UnitFailed)) and event.lrs:
                cur.unit_lrs[event.initializer] = event.lrs
            lrs = cur.unit_lrs.get(event.initializer, ())
            for key in cur.units[event.initializer]:
                runs = cur.initializers[key]
                self._record(runs, grid.part(event, grid.indices_of(lrs, runs.lr)))
        else:
            self._record(cur.initializers[event.initializer], event)
        if cur.finished and cur.complete:
            cur.state = COMPLETE
        return True

    @staticmethod
    def _record(runs: UnitRecord, event: Event) -> None:
        """Apply one event to one cell's record."""
        if isinstance(event, UnitStarted):  # a retried attempt starts again: what the one before recorded goes
            runs.seeds, runs.state, runs.layer_names, runs.epoch = event.seeds, RUNNING, event.layer_names, -1
            runs.statuses = [OK] * len(event.seeds)
            runs.histories = [[] for _ in event.seeds]
        elif isinstance(event, EpochDone):
            rep = event.report
            runs.epoch = rep.epoch
            for i, status in enumerate(rep.statuses):
                if status == OK:
                    row = {"epoch": rep.epoch, **{m: rep.values[m][i] for m in METRICS}}
                    row.update({k: list(v[i]) for k, v in rep.layers.items()})
                    runs.histories[i].append(row)
                runs.statuses[i] = status
        elif isinstance(event, UnitFinished):
            runs.statuses = [o.status for o in event.outcomes]
            runs.histories = [list(o.history) for o in event.outcomes]
            runs.state = CANCELLED if CANCELLED in runs.statuses else DONE
        elif isinstance(event, UnitFailed):
            runs.state, runs.error = FAILED, event.message
            if not runs.seeds and event.seeds:
                runs.seeds, runs.statuses = event.seeds, [FAILED] * len(event.seeds)
                runs.histories = [[] for _ in event.seeds]

    def end_current(self, state: SweepState) -> SweepRecord | None:
        """Mark the current sweep as stopped early (interrupted, cancelled) if it was still training."""
        cur = self.current
        if cur is None or cur.state != SWEEP_RUNNING:
            return None
        if not cur.recorded_anything:
            self.sweeps.pop()
            return None
        cur.end(state)
        return cur

    def completed(self) -> list[SweepRecord]:
        """The sweeps that ran to the end: the ones statistics are about."""
        return [s for s in self.sweeps if s.state == COMPLETE]

    def labels(self) -> list[str]:
        """Initializer labels in config order (a grid: its cells' keys, initializer by initializer)."""
        from initdash import grid

        return [c.key for c in grid.cells(self.config)]


def events_of(sweep: SweepRecord) -> list[Event]:
    """Events that, applied to a fresh sweep of the same id, rebuild `sweep` (the store's migration uses it)."""
    out: list[Event] = []
    for label, unit in sweep.initializers.items():
        if unit.state == QUEUED:
            continue
        out += unit_events(sweep.sweep_id, label, unit.seeds, unit.statuses, unit.histories, unit.layer_names,
                           error=unit.error if unit.state == FAILED else "", ended=unit.state in (DONE, CANCELLED))
    return out


def unit_events(sweep_id: int, label: str, seeds: Sequence[int], statuses: Sequence[str],
                histories: Sequence[Sequence[dict]], layer_names: Sequence[str] = (), error: str = "",
                ended: bool = True) -> list[Event]:
    """The events a unit whose runs are recorded so (imports, old histories) sent while it trained: UnitStarted,
    one EpochDone per evaluated epoch, then UnitFailed (`error`) or UnitFinished (`ended`); a unit that did
    neither was stopped with its sweep, which Session.end_current says."""
    seeds = tuple(seeds)
    if error and not any(histories):
        return [UnitFailed(sweep_id, label, error, "", seeds)]
    out: list[Event] = [UnitStarted(sweep_id, label, seeds, tuple(layer_names))]
    by_epoch: list[dict[int, dict]] = []  # per run, once: looking each epoch up in the list was quadratic
    for h in histories:
        rows_of: dict[int, dict] = {}
        for r in h:
            rows_of.setdefault(int(r["epoch"]), r)  # the first row of an epoch, should one repeat
        by_epoch.append(rows_of)
    last = max((int(h[-1]["epoch"]) for h in histories if h), default=-1)
    for epoch in range(last + 1):
        rows = [run.get(epoch) for run in by_epoch]
        now = tuple(OK if row is not None else (DIVERGED if s == DIVERGED else s) for row, s in zip(rows, statuses))
        values = {m: tuple(row[m] if row is not None else float("nan") for row in rows) for m in METRICS}
        first = next((row for row in rows if row is not None), {})
        layers = {k: tuple(tuple(row[k]) if row is not None and k in row else () for row in rows)
                  for k in first if k not in METRICS and k != "epoch"}
        out.append(EpochDone(sweep_id, label, EpochReport(epoch, values, now, layers)))
    if error:
        out.append(UnitFailed(sweep_id, label, error, "", seeds))
    elif ended:
        out.append(UnitFinished(sweep_id, label, tuple(RunOutcome(seed, status, tuple(h))
                                                       for seed, status, h in zip(seeds, statuses, histories))))
    return out


def replay_sweep(session: Session, sweep_id: int, events: Iterable[Event], stopped: SweepState | None,
                 config: ExperimentConfig | None = None) -> SweepRecord | None:
    """A recorded sweep applied to `session` (begun with `config`, if given) as it happened (Session.apply, the
    one state machine); a sweep its events leave training ends as `stopped`, or stays running when that is None
    (another process records it still). None (and nothing kept) when a stopped sweep recorded nothing."""
    record = session.begin_sweep(sweep_id, config)
    for event in events:
        session.apply(event)
    if record.state == SWEEP_RUNNING and stopped is not None:
        return session.end_current(stopped)
    return record
