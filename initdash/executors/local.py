"""The local executor: one worker thread per initializer, taking turns an epoch each."""

from __future__ import annotations

import threading
from collections import deque

from initdash.sweep import Sweep, Unit, train_unit


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


class LocalExecutor:
    """Plain daemon threads, not Textual workers: those run in asyncio's default executor (6 threads on 2
    cores, so a sweep of nine initializers would queue) and App.run() joins it at exit, so `q` during
    torch's import would wait for it."""

    name = "local"

    def __init__(self) -> None:
        self._threads: dict[int, list[threading.Thread]] = {}  # per sweep (by id(sweep))

    def start(self, sweep: Sweep) -> None:
        """One thread per unit; the sweep's threads take turns an epoch each."""
        self._threads = {k: ts for k, ts in self._threads.items() if any(t.is_alive() for t in ts)}
        turns = Turns()
        threads = [threading.Thread(target=self._work, args=(sweep, unit, turns), daemon=True,
                                    name=f"train-{unit.label}") for unit in sweep.units]
        self._threads[id(sweep)] = threads
        for thread in threads:
            thread.start()

    @staticmethod
    def _work(sweep: Sweep, unit: Unit, turns: Turns) -> None:
        ticket = turns.acquire()
        try:
            if sweep.cancel_event.is_set():  # cancelled while it waited for its turn: it never began
                return
            train_unit(sweep.config, sweep.dataset, unit, sweep.emit, sweep.cancel_event,
                       between_epochs=(lambda: turns.pass_on(ticket)) if sweep.interleave else None)
        finally:
            turns.release(ticket)

    def cancel(self, sweep: Sweep) -> None:
        """Nothing to do: the workers check the sweep's flag at every batch."""

    def join(self, sweep: Sweep, timeout: float | None = None) -> None:
        """Wait for the sweep's threads."""
        for thread in self._threads.get(id(sweep), []):
            thread.join(timeout)
        if all(not t.is_alive() for t in self._threads.get(id(sweep), [])):
            self._threads.pop(id(sweep), None)

    def close(self) -> None:
        """Threads are daemons: nothing to release."""
