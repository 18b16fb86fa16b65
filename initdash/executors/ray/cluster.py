"""On the cluster: the Ray generator task that trains one unit and yields its events as they happen.

`stream_unit` runs under `ray.remote` as a generator task: Ray sends each yielded event to the driver before
the task ends (no actor in between, so no single process whose death loses every unit's events). It runs
`train_unit`, the very code the local executor runs, so the numbers are the same.

Two Ray behaviours this relies on (Ray 2.60, checked by tests/test_ray.py):
- A retried task (its worker died) runs again from the start, and its stream goes on at the item the driver
  has not yet seen: an item the first attempt already produced keeps its first value (Ray never overwrites
  one), so nothing reaches the driver twice. Ray assumes the task deterministic, and a unit is, for its seeds:
  both attempts produce the same items, and the driver's stream is the one the local executor would have
  produced. (StreamingGeneratorReplayInconsistentError is for the other replay: a task that had succeeded,
  re-run to rebuild lost objects, yielding another number of items; diagnosis.py words it.)
- `ray.cancel(force=False)` interrupts a running task's main thread (`_thread.interrupt_main`, a simulated
  SIGINT). Here that raises the cooperative flag that training checks at every batch, instead of a
  KeyboardInterrupt somewhere in torch (in the middle of `import torch` it would leave a broken worker for the
  next task); Ray ends the task's stream with TaskCancelledError at its next yield.
"""

from __future__ import annotations

import dataclasses
import queue
import signal
import threading
from collections.abc import Iterator
from typing import Any

from initdash.events import Event
from initdash.sweep import Unit, train_unit

WAKE = 0.2  # seconds between looks at the events: the main thread runs the cancel handler in between
_END = object()  # the training thread is done


def stream_unit(config: Any, dataset: Any, unit: Unit) -> Iterator[Event]:
    """The body of one Ray generator task: train one unit, yielding each of its events as it happens."""
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    cancel = threading.Event()
    main = threading.current_thread() is threading.main_thread()  # signal handlers can only be set there
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set()) if main else None

    def work() -> None:
        try:
            train_unit(config, _writable(dataset), unit, events.put, cancel)
        finally:
            events.put(_END)

    # Training runs on its own thread, so that the main thread is free to take Ray's interrupt.
    trainer = threading.Thread(target=work, name=f"train-{unit.label}", daemon=True)
    trainer.start()
    try:
        while (item := _next(events)) is not _END:
            yield item
    finally:  # also when Ray stops the generator (cancelled): the training stops before the task ends
        cancel.set()
        trainer.join()
        if main:
            signal.signal(signal.SIGINT, previous)


def version() -> str:
    """initdash's version where the task runs (the cluster's, which must be the driver's)."""
    from initdash import __version__

    return __version__


def _next(events: queue.SimpleQueue[Any]) -> Any:
    """The next event, waiting in short steps: a thread blocked on a lock does not run signal handlers."""
    while True:
        try:
            return events.get(timeout=WAKE)
        except queue.Empty:
            continue


def _writable(dataset: Any) -> Any:
    """The dataset with its own arrays: Ray gives read-only views of the object store."""
    import numpy as np

    arrays = {f: np.array(getattr(dataset, f)) for f in ("x_train", "y_train", "x_val", "y_val")}
    return dataclasses.replace(dataset, **arrays)
