"""One sweep: every initializer trained once (with `repeats` seeds each), as units of work for an executor.

A unit is one initializer's runs of one sweep: one worker trains it, and turns everything that happens into
events. The unit is the same on every executor (local threads, Ray tasks), so the same command and seed
give the same numbers on any of them.
"""

from __future__ import annotations

import threading
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.errors import fails_only_its_work, said
from initdash.events import EpochDone, EpochReport, Event, UnitFailed, UnitFinished, UnitStarted
from initdash.initializers import InitSpec

if TYPE_CHECKING:
    from threading import Event as Flag

Emit = Callable[[Event], None]


def run_seeds(root: int, sweep_id: int, initializer: str, repeats: int) -> tuple[int, ...]:
    """The seeds of one initializer's runs in one sweep, derived from the root seed.

    Keyed by the initializer's label (not its position), so adding an initializer or a repeat leaves the
    other runs' seeds unchanged.
    """
    import numpy as np  # here, not at the top: the dashboard paints before numpy loads

    seq = np.random.SeedSequence(root, spawn_key=(sweep_id, zlib.crc32(initializer.encode())))
    return tuple(int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in seq.spawn(repeats))


@dataclass(frozen=True)
class Unit:
    """One worker's job: one initializer's runs of one sweep."""

    sweep_id: int
    spec: InitSpec
    seeds: tuple[int, ...]
    # A grid (initdash.grid): the unit's width (None: the model's own sizes) and its learning rates; every rate
    # trains every seed, so its runs are lrs x seeds (() without an lr axis: one rate, the config's)
    width: int | None = None
    lrs: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        """The unit's key, as events carry it: the initializer's label (and a grid's width)."""
        from initdash.grid import unit_key

        return unit_key(self.spec.label, self.width)

    @property
    def run_lrs(self) -> tuple[float, ...]:
        """Each run's learning rate, in run order (() without an lr axis)."""
        return tuple(lr for lr in self.lrs for _ in self.seeds)

    @property
    def run_seeds(self) -> tuple[int, ...]:
        """Each run's seed, in run order: the seeds again for every learning rate."""
        return self.seeds * max(1, len(self.lrs))


def train_unit(config: ExperimentConfig, dataset: Dataset, unit: Unit, emit: Emit, cancel: Flag | None = None,
               between_epochs: Callable[[], None] | None = None) -> None:
    """The body of a worker on any executor: train one unit, and turn everything that happens into events.

    `between_epochs` runs after each epoch's event (the local executor passes the turn on there). Never raises:
    a failure becomes a UnitFailed event, so one initializer failing does not stop the others.
    """
    sid, label = unit.sweep_id, unit.label
    seeds, lrs = unit.run_seeds, unit.run_lrs
    try:
        from initdash import engine  # torch loads here, in the worker, never on the UI thread

        engine.limit_threads()

        def on_epoch(report: EpochReport) -> None:
            emit(EpochDone(sid, label, report))
            if between_epochs is not None and report.epoch < config.epochs:  # not after the last: it ends now
                between_epochs()

        from initdash.grid import unit_config

        outcomes = engine.train_many(dataset, unit_config(config, unit.width), [(unit.spec, s) for s in seeds],
                                     cancel, on_epoch, lrs=lrs or None,
                                     on_start=lambda names: emit(UnitStarted(sid, label, seeds, names, lrs,
                                                                             unit.width)))
        emit(UnitFinished(sid, label, tuple(outcomes)))
    except BaseException as exc:  # a user's model may raise anything, sys.exit included: only this unit fails
        if not fails_only_its_work(exc):
            raise
        emit(UnitFailed(sid, label, said(exc), traceback.format_exc(), seeds, lrs))


class Executor(Protocol):
    """Where a sweep's units train: local threads (executors.local) or a Ray cluster (executors.ray)."""

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
                 executor: Executor, interleave: bool = True) -> None:
        self.config, self.dataset, self.sweep_id = config, dataset, sweep_id
        self.emit, self.executor = emit, executor
        # Local threads take turns an epoch each (every initializer's curves grow together on the dashboard);
        # False: one unit after another, each to its end (headless: results as each unit ends).
        self.interleave = interleave
        self.cancel_event = threading.Event()
        from initdash.grid import is_grid, units

        # A run's seeds depend on its initializer only, not on its place in a grid: a cell's runs are the single
        # runs of its setting (grid.cell_config)
        seeds = {spec.label: run_seeds(config.seed, sweep_id, spec.label, config.repeats)
                 for spec in config.initializers}
        self.units = [Unit(sweep_id, plan.spec, seeds[plan.spec.label], plan.width,
                           plan.lrs if config.lrs else ()) for plan in units(config)] if is_grid(config) else \
            [Unit(sweep_id, spec, seeds[spec.label]) for spec in config.initializers]

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
