"""QueuedWriter: a HistoryWriter driven from one writer thread, so that no caller waits on the database.

Another process may hold the history's write lock for up to the busy timeout; the dashboard's event loop
must never wait on that. Events and ends of sweeps are queued and written in order by one thread; starting a
sweep (which needs the id the database hands out) waits for its turn in the same queue, and is called off
the event loop. A write that fails is reported once through `on_error`; later writes are dropped, as the
Recorder does with a store that failed (the Session keeps everything).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from initdash.config import ExperimentConfig
from initdash.errors import UserError
from initdash.events import Event
from initdash.session import SweepState
from initdash.store.writer import HistoryWriter

CLOSE_WAIT_S = 30.0  # at exit: how long the queue may take to drain before what is left reads as interrupted

_STOP = object()


class QueuedWriter:
    """The SweepWriter a Recorder uses where waiting is not allowed: writes happen on a thread of its own."""

    def __init__(self, writer: HistoryWriter, on_error: Callable[[str], None] | None = None) -> None:
        self.writer, self.on_error = writer, on_error
        self.path: Path = writer.path
        self.error: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._drain, name="history-writer", daemon=True)
        self._thread.start()

    @property
    def session_id(self) -> int | None:
        """The session being recorded (as the writer has it)."""
        return self.writer.session_id

    def begin_sweep(self, config: ExperimentConfig, at_least: int = 1) -> int:
        """The new sweep's id, once every earlier write is done (blocks: call it off the event loop)."""
        future: Future[int] = Future()
        self._queue.put((future, lambda: self.writer.begin_sweep(config, at_least=at_least)))
        return future.result()

    def append(self, sweep_id: int, event: Event) -> None:
        """Queue one event; returns at once."""
        self._queue.put((None, lambda: self.writer.append(sweep_id, event)))

    def end_sweep(self, sweep_id: int, state: SweepState) -> None:
        """Queue the end of a sweep; returns at once."""
        self._queue.put((None, lambda: self.writer.end_sweep(sweep_id, state)))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False if `timeout` passed first."""
        done: Future[None] = Future()
        self._queue.put((done, lambda: None))
        try:
            done.result(timeout)
            return True
        except TimeoutError:
            return False

    def stop(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Write what is queued (waiting at most `timeout`), then end the writer thread; the database stays open
        for its owner to close."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def close(self) -> None:
        """Write what is queued (bounded), then close the database (sweeps still open end as interrupted)."""
        self.stop()
        self.writer.close()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, write = item
            try:
                if self.error is not None and future is None:
                    continue  # the store failed: the Session keeps everything, nothing more is written
                result = write()
            except (UserError, OSError) as exc:
                if future is not None:
                    future.set_exception(exc)
                elif self.error is None:
                    self.error = str(exc)
                    if self.on_error is not None:
                        self.on_error(self.error)
            except BaseException as exc:  # a bug: the caller waiting on a future must not wait forever
                if future is not None:
                    future.set_exception(exc)
                else:
                    self.error = f"{type(exc).__name__}: {exc}"
                    if self.on_error is not None:
                        self.on_error(self.error)
            else:
                if future is not None:
                    future.set_result(result)
