"""The local executor: a bounded pool sized to the machine, one unit at a time per worker.

Where the platform forks (Linux) and the machine has more than one core, the workers are processes, one per
core: torch's small operations hold Python's GIL between kernels, so threads in one process keep one core
busy however many there are (measured on the shared 2-core machine: two threads trained digits-cnn at one
seed per initializer 1.5-1.9x *slower* than one; one process with two intra-op threads 3.6x slower, spinning
against the machine's other work). Processes share nothing but their pipes. Each worker trains with one
intra-op thread, as before, so a seed's numbers do not depend on the executor. Elsewhere, one worker thread
trains the units in turn. Either way 3000 initializers are 3000 queued units, not 3000 threads.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from typing import TYPE_CHECKING

from initdash.executors.ledger import Ledger
from initdash.isolated import forks
from initdash.sweep import Sweep, Unit, train_unit

if TYPE_CHECKING:
    from initdash.executors.processes import ProcessPool


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadPool:
    """One worker thread in this process, training the queued units one after another."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.tasks: queue.Queue[tuple[int, Unit] | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def submit(self, sweep: Sweep) -> int:
        """Queue every unit of the sweep."""
        serial = self.ledger.add(sweep)
        for unit in sweep.units:
            self.tasks.put((serial, unit))
        if self.thread is None:
            # A plain daemon thread, not a Textual worker: those run in asyncio's default executor, which
            # App.run() joins at exit, so `q` during torch's import would wait for it.
            self.thread = threading.Thread(target=self._work, daemon=True, name="train")
            self.thread.start()
        return serial

    def _work(self) -> None:
        while (task := self.tasks.get()) is not None:
            serial, unit = task
            sweep = self.ledger.sweep(serial)
            try:
                if sweep is not None and not sweep.cancel_event.is_set():
                    train_unit(sweep.config, sweep.dataset, unit, sweep.emit, sweep.cancel_event)
            finally:
                self.ledger.unit_ended(serial)

    def cancel(self, serial: int) -> None:
        """Nothing more to do: the worker checks the sweep's own flag at every batch."""

    def close(self) -> None:
        """Let the thread end after its unit (it is a daemon: it never holds up the exit)."""
        self.tasks.put(None)


class LocalExecutor:
    """Trains a sweep's units on this machine: worker processes (one per core) or one worker thread."""

    name = "local"

    def __init__(self, workers: int | None = None, processes: bool | None = None) -> None:
        self.workers = max(1, workers or cores())
        self.processes = (self.workers > 1 and forks()) if processes is None else processes
        self._pool: ThreadPool | ProcessPool | None = None

    def _ensure(self) -> ThreadPool | ProcessPool:
        if self._pool is None:
            if self.processes:
                from initdash.executors.processes import ProcessPool

                self._pool = ProcessPool(self.workers)
            else:
                self._pool = ThreadPool()
            weakref.finalize(self, self._pool.close)
        return self._pool

    def start(self, sweep: Sweep) -> None:
        """Queue the sweep's units; the workers take them in order, one each at a time."""
        self._ensure().submit(sweep)

    def cancel(self, sweep: Sweep) -> None:
        """Stop the sweep's units at their next batch; its queued units are skipped."""
        serial = self._pool.ledger.serial_of(sweep) if self._pool is not None else None
        if serial is not None:
            self._pool.cancel(serial)

    def join(self, sweep: Sweep, timeout: float | None = None) -> None:
        """Wait for the sweep's units to end."""
        if self._pool is not None:
            self._pool.ledger.wait(sweep, timeout)

    def training(self) -> dict[str, int]:
        """The units training now, by label, and the pid of the worker process that trains each (none with the
        one-thread pool): what a user or a test may send a signal to."""
        from initdash.executors.processes import ProcessPool

        if not isinstance(self._pool, ProcessPool):
            return {}
        return {w.holding[1]: w.process.pid for w in list(self._pool.workers) if w.holding is not None}

    def close(self) -> None:
        """Stop the workers (bounded: a process still training after a second is ended)."""
        if self._pool is not None:
            self._pool.close()
