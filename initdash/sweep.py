"""One sweep = one rerun: a worker thread per initializer, cooperative cancel, results as events."""

from __future__ import annotations

import threading
import traceback
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.events import EpochDone, EpochReport, Event, RunFailed, RunFinished, RunStarted
from initdash.initializers import InitSpec

Spawn = Callable[[Callable[[], None], str], Any]


def run_seeds(root: int, rerun: int, initializer: str, repeats: int) -> tuple[int, ...]:
    """The seeds of one initializer's repeats in one rerun, derived from the root seed.

    Keyed by the initializer's label (not its position), so adding an initializer or a repeat leaves the
    other runs' seeds unchanged.
    """
    seq = np.random.SeedSequence(root, spawn_key=(rerun, zlib.crc32(initializer.encode())))
    return tuple(int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in seq.spawn(repeats))


class Turns:
    """The workers of one sweep train in turns, an epoch each, first come first served.

    Five workers training at once spend their time handing the GIL to each other, and the UI thread
    waits in that queue too (measured: 150-300 ms event-loop stalls). Taking turns keeps one worker per
    initializer, every initializer still advances epoch by epoch, and the UI competes with one thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()

    def acquire(self) -> object:
        """Queue up and wait for a turn; returns the ticket to pass on or release."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            self._cond.wait_for(lambda: self._queue[0] is ticket)
        return ticket

    def pass_on(self, ticket: object) -> None:
        """Let the others have their turn, then continue."""
        with self._cond:
            if len(self._queue) == 1:
                return
            self._queue.remove(ticket)
            self._queue.append(ticket)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._queue[0] is ticket)

    def release(self, ticket: object) -> None:
        """Leave the queue for good."""
        with self._cond:
            self._queue.remove(ticket)
            self._cond.notify_all()


def _thread(fn: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=fn, name=name, daemon=True)
    thread.start()
    return thread


class Sweep:
    """Trains every initializer of `config` once (with `repeats` seeds each), one worker per initializer.

    With `together`, one worker trains every model of the sweep as one batched computation and still
    emits each initializer's events: the headless mode's choice. Over tiny tensors, worker threads mostly
    hand the GIL around: on 2 cores the lesson sweep takes 289 ms with five workers and 29 ms as one batch
    (repeats 40: 413 vs 137 ms); only large MLPs gain from the second core, and not by much.
    """

    def __init__(self, config: ExperimentConfig, dataset: Dataset, sweep_id: int,
                 emit: Callable[[Event], None], spawn: Spawn = _thread, together: bool = False) -> None:
        self.config, self.dataset, self.sweep_id = config, dataset, sweep_id
        self.emit, self.spawn, self.together = emit, spawn, together
        self.cancel_event = threading.Event()
        self.turns = Turns()
        self.workers: list[Any] = []

    def seeds(self, spec: InitSpec) -> tuple[int, ...]:
        """This sweep's seeds for one initializer."""
        return run_seeds(self.config.seed, self.sweep_id, spec.label, self.config.repeats)

    def start(self) -> None:
        """Start one worker per initializer (or one for all, `together`); returns at once."""
        if self.together:
            self.workers.append(self.spawn(self.train_together, "train-all"))
            return
        for spec in self.config.initializers:
            self.workers.append(self.spawn(lambda spec=spec: self.train(spec), f"train-{spec.label}"))

    def cancel(self) -> None:
        """Ask every worker to stop at its next batch."""
        self.cancel_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for plain-thread workers (the headless mode's)."""
        for worker in self.workers:
            if isinstance(worker, threading.Thread):
                worker.join(timeout)

    def train(self, spec: InitSpec) -> None:
        """The body of one worker: train, and turn everything that happens into events."""
        label, sid = spec.label, self.sweep_id
        try:
            seeds = self.seeds(spec)
            self.emit(RunStarted(sid, label, seeds))
            from initdash import engine  # torch loads here, in the worker, never on the UI thread

            engine.limit_threads()
            ticket = self.turns.acquire()

            def on_epoch(report: EpochReport) -> None:
                self.emit(EpochDone(sid, label, report))
                self.turns.pass_on(ticket)

            try:
                outcomes = engine.train_batched(self.dataset, self.config, spec, seeds, self.cancel_event, on_epoch)
            finally:
                self.turns.release(ticket)
            self.emit(RunFinished(sid, label, tuple(outcomes)))
        except Exception as exc:  # one initializer failing must not stop the others
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.emit(RunFailed(sid, label, message, traceback.format_exc()))

    def train_together(self) -> None:
        """The body of the one worker of a `together` sweep: every initializer's models in one batch.

        If the batch fails, each initializer is trained on its own, so only the failing one reports it.
        """
        specs, sid, r = self.config.initializers, self.sweep_id, self.config.repeats
        try:
            seeds = {spec.label: self.seeds(spec) for spec in specs}
            for spec in specs:
                self.emit(RunStarted(sid, spec.label, seeds[spec.label]))
            from initdash import engine  # torch loads here, in the worker, never on the UI thread

            # One intra-op thread even for the only worker: two gave MLP 64,64,64 1.5x on an idle 2-core
            # machine, but made MLP 16,16 and 128 5-10x slower once another process wanted a core.
            engine.limit_threads()

            def split(report: EpochReport) -> None:
                for k, spec in enumerate(specs):
                    part = slice(k * r, (k + 1) * r)
                    values = {m: v[part] for m, v in report.values.items()}
                    layers = {k: v[part] for k, v in report.layers.items()}
                    self.emit(EpochDone(sid, spec.label,
                                        EpochReport(report.epoch, values, report.statuses[part], layers)))

            runs = [(spec, seed) for spec in specs for seed in seeds[spec.label]]
            outcomes = engine.train_many(self.dataset, self.config, runs, self.cancel_event, split)
        except Exception:  # train each initializer on its own, so only the failing one reports it
            for spec in specs:
                self.train(spec)
            return
        for k, spec in enumerate(specs):
            self.emit(RunFinished(sid, spec.label, tuple(outcomes[k * r:(k + 1) * r])))
