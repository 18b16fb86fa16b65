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

from initdash.config import PAIRED, ExperimentConfig
from initdash.data import Dataset
from initdash.errors import fails_only_its_work, said
from initdash.events import EpochDone, EpochReport, Event, UnitFailed, UnitFinished, UnitStarted
from initdash.initializers import InitSpec

Emit = Callable[[Event], None]


def _spawned(root: int, spawn_key: tuple[int, ...], n: int) -> tuple[int, ...]:
    """n 63-bit seeds from numpy's SeedSequence of (root, spawn_key): independent streams, whatever n is."""
    import numpy as np  # here, not at the top: the dashboard paints before numpy loads

    seq = np.random.SeedSequence(root, spawn_key=spawn_key)
    return tuple(int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in seq.spawn(n))


def run_seeds(root: int, sweep_id: int, initializer: str, repeats: int) -> tuple[int, ...]:
    """The seeds of one initializer's runs in one sweep, derived from the root seed.

    Keyed by the initializer's label (not its position), so adding an initializer or a repeat leaves the
    other runs' seeds unchanged.
    """
    return _spawned(root, (sweep_id, zlib.crc32(initializer.encode())), repeats)


def paired_seeds(root: int, sweep_id: int, repeats: int) -> tuple[int, ...]:
    """The paired design's data seeds of one sweep: repeat k's depends only on (sweep, k). Spawn key (sweep,):
    one entry shorter than run_seeds' (sweep, label), so the streams never meet."""
    return _spawned(root, (sweep_id,), repeats)


def data_seeds(root: int, sweep_id: int, design: str, init_seeds: tuple[int, ...]) -> tuple[int, ...]:
    """The seeds of the data order (and dropout) of one initializer's runs in one sweep.

    Paired: repeat k's seed depends only on (sweep, k), so every initializer sees the same batches and masks.
    Independent: each run's own seed (its one generator draws the weights, then shuffles: initdash 0.x's
    numbers).
    """
    return paired_seeds(root, sweep_id, len(init_seeds)) if design == PAIRED else init_seeds


class CancelFlag(Protocol):
    """What a worker checks at every batch: a threading.Event, or a flag in memory shared with a process."""

    def is_set(self) -> bool:
        """Whether the sweep was cancelled."""


@dataclass(frozen=True)
class Unit:
    """One worker's job: one initializer's runs of one sweep."""

    sweep_id: int
    spec: InitSpec
    seeds: tuple[int, ...]  # the initializer's seed of each repeat
    data_seeds: tuple[int, ...] | None = None  # paired design: each repeat's data order and dropout; None: `seeds`
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

    def failed(self, message: str, trace: str = "") -> UnitFailed:
        """The event of this unit failing (every run of it, with its learning rate in a grid)."""
        return UnitFailed(self.sweep_id, self.label, message, trace, self.run_seeds, self.run_lrs)

    @property
    def run_data_seeds(self) -> tuple[int, ...] | None:
        """Each run's data seed, in run order (None: the independent design, each run's own seed)."""
        return None if self.data_seeds is None else self.data_seeds * max(1, len(self.lrs))


def train_unit(config: ExperimentConfig, dataset: Dataset, unit: Unit, emit: Emit,
               cancel: CancelFlag | None = None) -> None:
    """The body of a worker on any executor: train one unit, and turn everything that happens into events.

    Never raises: a failure becomes a UnitFailed event, so one initializer failing does not stop the others.
    """
    sid, label = unit.sweep_id, unit.label
    seeds, lrs = unit.run_seeds, unit.run_lrs
    try:
        from initdash import engine  # torch loads here, in the worker, never on the UI thread

        engine.limit_threads()

        def on_epoch(report: EpochReport) -> None:
            emit(EpochDone(sid, label, report))

        from initdash.grid import unit_config

        outcomes = engine.train_many(dataset, unit_config(config, unit.width), [(unit.spec, s) for s in seeds],
                                     cancel, on_epoch, lrs=lrs or None,
                                     on_start=lambda names: emit(UnitStarted(sid, label, seeds, names, lrs,
                                                                             unit.width)),
                                     data_seeds=unit.run_data_seeds)
        emit(UnitFinished(sid, label, tuple(outcomes)))
    except BaseException as exc:  # a user's model may raise anything, sys.exit included: only this unit fails
        if not fails_only_its_work(exc):
            raise
        emit(unit.failed(said(exc), traceback.format_exc()))


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
        from initdash.grid import units

        # A run's seeds depend on its initializer (and repeat) only, not on its place in a grid: a cell's runs are
        # the single runs of its setting (grid.cell_config); in the paired design repeat k's data seed is shared
        # by every initializer and cell.
        seeds = {spec.label: run_seeds(config.seed, sweep_id, spec.label, config.repeats)
                 for spec in config.initializers}
        shared = paired_seeds(config.seed, sweep_id, config.repeats) if config.design == PAIRED else None
        # One unit per initializer (and width, in a grid); its learning rates only with an lr axis
        self.units = [Unit(sweep_id, plan.spec, seeds[plan.spec.label], shared, plan.width,
                           plan.lrs if config.lrs else ()) for plan in units(config)]

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
