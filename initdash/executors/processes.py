"""Worker processes of the local executor: forked from this one, one per core, each training one unit at a time.

A worker runs `train_unit`, the code every executor runs, and sends its events back on its own pipe; one
thread here (the dispatcher) hands them to their sweep and gives an idle worker the next queued unit. A
worker gets a sweep's config and data set once, with its first unit of that sweep, and keeps them for the
sweep's next units: sending a 50000x784 float32 data set down a pipe costs 0.5 s here (pickling alone 0.1-0.2
s), which every unit used to pay, under the lock submit() takes on the dashboard's UI thread.
Cancelling stays cooperative: each sweep has a byte of shared memory that a worker reads at every batch,
as threads read a threading.Event. A worker that dies (killed, out of memory) fails the unit it held, in
one event, and a fresh worker takes its place.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any

from initdash.errors import said
from initdash.executors.ledger import Ledger
from initdash.isolated import ended_how
from initdash.sweep import Sweep, Unit, train_unit

SLOTS = 256  # sweeps a pool tells apart at once (a rerun cancels the one before: two or three train)
POLL_S = 1.0  # how often an idle worker looks whether its parent is still there
STOP_S = 1.0  # at close, how long a worker may take to finish its batch before it is ended


class SharedFlag:
    """A sweep's cancel flag as a worker sees it: one shared byte, read at every batch."""

    def __init__(self, flags: Any, slot: int) -> None:
        self.flags, self.slot = flags, slot

    def is_set(self) -> bool:
        """Whether the sweep was cancelled."""
        return bool(self.flags[self.slot])


def _quiet_signals() -> None:
    """Ctrl-C reaches the whole process group: the parent decides (it cancels the sweep), not the worker. The
    parent's handlers (the dashboard's, headless mode's) are not the worker's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP", "SIGWINCH", "SIGCONT", "SIGTSTP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)  # the parent's event loop wakes on this fd; a worker's signals are its own
    except ValueError:
        pass


def _output_off_the_dashboard() -> None:
    """Where the parent has taken Python's streams over (the dashboard draws on the terminal and captures
    prints), a worker's descriptors 1 and 2 that are a terminal go to the log file: what a user's model writes
    there (C code, os.write; an escape sequence included) would land raw in the middle of the drawing."""
    if sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__:
        return  # headless: the parent sends the model's output to stderr itself (initdash.streams)
    ttys = [fd for fd in (1, 2) if _isatty(fd)]
    if not ttys:
        return
    from initdash import locations

    path = locations.log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        log = os.open(os.devnull, os.O_WRONLY)
    for fd in ttys:
        os.dup2(log, fd)
    os.close(log)
    sys.stdout = sys.stderr = open(1 if 1 in ttys else 2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _work(conn: Connection, flags: Any, parent: int) -> None:
    """A worker process: take a unit, train it, say when it is done; until told to stop or the parent is gone."""
    _quiet_signals()
    _output_off_the_dashboard()
    context: tuple[int, Any, Any] | None = None  # (serial, config, dataset) of the sweep last sent
    while True:
        try:
            if not conn.poll(POLL_S):
                if os.getppid() != parent:
                    return
                continue
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if len(task) == 4:
            context = (task[0], task[2], task[3])
        serial, unit = task[0], task[1]
        if context is None or context[0] != serial:  # the parent sends them first: never, short of a bug
            raise RuntimeError(f"unit {unit.label!r} of sweep {serial} came before that sweep's config")
        _, config, dataset = context
        flag = SharedFlag(flags, serial % SLOTS)

        def emit(event: object, serial: int = serial) -> None:
            try:
                conn.send(("event", serial, event))
            except OSError:  # the parent is gone (killed): no one to train for, nothing to say
                os._exit(0)

        try:
            train_unit(config, dataset, unit, emit, flag)
        except BaseException as exc:  # SystemExit from a user's model: its unit fails, the worker goes on
            emit(unit.failed(said(exc), traceback.format_exc()))
        try:
            conn.send(("done", serial, unit.label))
        except OSError:
            return


class Worker:
    """One worker process, its end of the pipe, and the unit it trains (serial, label), if any."""

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process, self.conn = process, conn
        self.holding: tuple[int, str] | None = None
        self.context: int | None = None  # the serial of the sweep whose config and data set it holds


class ProcessPool:
    """Up to `size` forked worker processes, started as units come and kept for later sweeps (torch stays
    loaded in them)."""

    def __init__(self, size: int) -> None:
        self.ctx = multiprocessing.get_context("fork")
        self.size = size
        self.ledger = Ledger()
        self.flags = self.ctx.RawArray("b", SLOTS)
        self.pending: deque[tuple[int, Unit]] = deque()
        self.workers: list[Worker] = []
        self.lock = threading.Lock()  # pending and the workers; held briefly: submit() runs on the UI thread
        self.send_lock = threading.Lock()  # one writer at a time on a worker's pipe (the dispatcher, close)
        self.wake_r, self.wake_w = self.ctx.Pipe(duplex=False)
        self.closed = False
        self.thread: threading.Thread | None = None

    def submit(self, sweep: Sweep) -> int:
        """Queue every unit of the sweep; start workers up to one per unit, at most `size`."""
        serial = self.ledger.add(sweep)
        self.flags[serial % SLOTS] = 0
        with self.lock:
            self.pending.extend((serial, unit) for unit in sweep.units)
            while len(self.workers) < min(self.size, len(sweep.units)):
                self._spawn()
        if self.thread is None:
            self.thread = threading.Thread(target=self._dispatch, daemon=True, name="train-dispatch")
            self.thread.start()
        self._wake()
        return serial

    def _spawn(self) -> None:
        ours, theirs = self.ctx.Pipe()
        process = self.ctx.Process(target=_work, args=(theirs, self.flags, os.getpid()), daemon=True,
                                   name=f"initdash-train-{len(self.workers)}")
        process.start()
        theirs.close()  # only the worker holds its end: its death reads as the end of the pipe here
        self.workers.append(Worker(process, ours))

    def _wake(self) -> None:
        try:
            self.wake_w.send_bytes(b".")
        except OSError:
            pass

    def cancel(self, serial: int) -> None:
        """Set the sweep's shared flag: its workers stop at their next batch, its queued units are skipped."""
        self.flags[serial % SLOTS] = 1
        self._wake()

    def _dispatch(self) -> None:
        """Hand every event to its sweep, give idle workers the next units, replace workers that died."""
        while not self.closed:
            with self.lock:
                conns = {w.conn: w for w in self.workers}
            for conn in wait([self.wake_r, *conns]):
                if conn is self.wake_r:
                    self.wake_r.recv_bytes()
                    continue
                worker = conns[conn]
                try:
                    kind, serial, payload = conn.recv()
                except (EOFError, OSError):
                    self._died(worker)
                    continue
                if kind == "event":
                    self._deliver(serial, payload)
                else:
                    worker.holding = None
                    self.ledger.unit_ended(serial)
            self._assign()

    def _deliver(self, serial: int, event: object) -> None:
        """An event to its sweep, if it still trains (a method: the dispatcher's loop keeps no sweep alive, so
        an executor that no one closes still ends with its last reference)."""
        sweep = self.ledger.sweep(serial)
        if sweep is not None:
            sweep.emit(event)

    def _assign(self) -> None:
        """Idle workers take the next units (a cancelled sweep's are skipped). A unit is taken under the lock
        and sent after it, so that pickling a sweep's data set never holds up submit()."""
        dead: set[int] = set()
        while True:
            with self.lock:
                taken = self._take(dead)
            if taken is None:
                return
            worker, serial, unit, sweep = taken
            task = (serial, unit) if worker.context == serial else (serial, unit, sweep.config, sweep.dataset)
            try:
                with self.send_lock:
                    worker.conn.send(task)
            except (OSError, ValueError):
                with self.lock:  # it died: the next round replaces it
                    self.pending.appendleft((serial, unit))
                    worker.holding = None
                dead.add(id(worker))
                continue
            worker.context = serial

    def _take(self, dead: set[int]) -> tuple[Worker, int, Unit, Sweep] | None:
        """The next (idle worker, serial, unit, sweep), the worker marked as holding it; None when no worker is
        idle (`dead`: ids of workers whose pipe failed this round) or no unit waits."""
        worker = next((w for w in self.workers if w.holding is None and id(w) not in dead), None)
        while worker is not None and self.pending and not self.closed:
            serial, unit = self.pending.popleft()
            sweep = self.ledger.sweep(serial)
            if sweep is None or self.flags[serial % SLOTS]:
                self.ledger.unit_ended(serial)
                continue
            worker.holding = (serial, unit.label)
            return worker, serial, unit, sweep
        return None

    def _died(self, worker: Worker) -> None:
        """A worker that died fails the unit it held; another takes its place."""
        worker.process.join(STOP_S)
        code = worker.process.exitcode
        with self.lock:
            self.workers.remove(worker)
            worker.conn.close()
            if not self.closed:
                self._spawn()
        if worker.holding is None:
            return
        serial, label = worker.holding
        sweep = self.ledger.sweep(serial)
        unit = next((u for u in sweep.units if u.label == label), None) if sweep is not None else None
        if unit is not None and sweep is not None:
            sweep.emit(unit.failed(f"its worker process died ({ended_how(code)})"))
        self.ledger.unit_ended(serial)

    def close(self) -> None:
        """Cancel everything, ask the workers to stop, and end those still running after STOP_S."""
        if self.closed:
            return
        self.closed = True
        for slot in range(SLOTS):
            self.flags[slot] = 1
        self._wake()
        with self.lock:
            workers = list(self.workers)
        for worker in workers:
            try:
                with self.send_lock:
                    worker.conn.send(None)  # read once its unit has stopped (at its next batch)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + STOP_S
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
