"""One sweep: every initializer trained once (with `repeats` seeds each), as units of work for an executor.

A unit is one initializer's runs of one sweep: one worker trains it, and turns everything that happens into
events. The unit is the same on every executor (local workers, Ray tasks), so the same command and seed
give the same numbers on any of them.
"""

from __future__ import annotations

import threading
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.errors import first_line
from initdash.events import EpochDone, EpochReport, Event, UnitFailed, UnitFinished, UnitStarted
from initdash.initializers import InitSpec

Emit = Callable[[Event], None]


def run_seeds(root: int, sweep_id: int, initializer: str, repeats: int) -> tuple[int, ...]:
    """The seeds of one initializer's runs in one sweep, derived from the root seed.

    Keyed by the initializer's label (not its position), so adding an initializer or a repeat leaves the
    other runs' seeds unchanged.
    """
    import numpy as np  # here, not at the top: the dashboard paints before numpy loads

    seq = np.random.SeedSequence(root, spawn_key=(sweep_id, zlib.crc32(initializer.encode())))
    return tuple(int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in seq.spawn(repeats))


class CancelFlag(Protocol):
    """What a worker checks at every batch: a threading.Event, or a flag in memory shared with a process."""

    def is_set(self) -> bool:
        """Whether the sweep was cancelled."""


@dataclass(frozen=True)
class Unit:
    """One worker's job: one initializer's runs of one sweep."""

    sweep_id: int
    spec: InitSpec
    seeds: tuple[int, ...]

    @property
    def label(self) -> str:
        """The initializer's label, as events carry it."""
        return self.spec.label


def train_unit(config: ExperimentConfig, dataset: Dataset, unit: Unit, emit: Emit,
               cancel: CancelFlag | None = None) -> None:
    """The body of a worker on any executor: train one unit, and turn everything that happens into events.

    Never raises: a failure becomes a UnitFailed event, so one initializer failing does not stop the others.
    """
    sid, label = unit.sweep_id, unit.label
    try:
        from initdash import engine  # torch loads here, in the worker, never on the UI thread

        engine.limit_threads()

        def on_epoch(report: EpochReport) -> None:
            emit(EpochDone(sid, label, report))

        outcomes = engine.train_many(dataset, config, [(unit.spec, s) for s in unit.seeds], cancel, on_epoch,
                                     on_start=lambda names: emit(UnitStarted(sid, label, unit.seeds, names)))
        emit(UnitFinished(sid, label, tuple(outcomes)))
    except Exception as exc:
        emit(UnitFailed(sid, label, first_line(exc), traceback.format_exc(), unit.seeds))


class Executor(Protocol):
    """Where a sweep's units train: a local pool (executors.local) or a Ray cluster (executors.ray)."""

    name: str

    def start(self, sweep: Sweep) -> None:
        """Begin training every unit of the sweep; returns at once. Events go to sweep.emit."""

    def cancel(self, sweep: Sweep) -> None:
        """Stop the sweep's units soon (the cooperative flag is already set)."""

    def join(self, sweep: Sweep, timeout: float | None = None) -> None:
        """Wait (up to `timeout`) for the sweep's units to end."""

    def close(self) -> None:
        """Release what the executor holds, in bounded time (at exit)."""


class Sweep:
    """One training of every initializer: seeds, units, a cancel flag, and the executor that runs them."""

    def __init__(self, config: ExperimentConfig, dataset: Dataset, sweep_id: int, emit: Emit,
                 executor: Executor) -> None:
        self.config, self.dataset, self.sweep_id = config, dataset, sweep_id
        self.emit, self.executor = emit, executor
        self.cancel_event = threading.Event()
        self.units = [Unit(sweep_id, spec, run_seeds(config.seed, sweep_id, spec.label, config.repeats))
                      for spec in config.initializers]

    def start(self) -> None:
        """Hand every unit to the executor; returns at once."""
        self.executor.start(self)

    def cancel(self) -> None:
        """Ask every worker to stop at its next batch."""
        self.cancel_event.set()
        self.executor.cancel(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workers to end (headless, and before exiting)."""
        self.executor.join(self, timeout)
