"""The local executor: a bounded pool sized to the machine, the same numbers in processes and threads,
cooperative cancelling, and a worker that dies failing only its own unit."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time

import pytest
from fakes import experiment

from initdash.data import load
from initdash.events import CANCELLED, OK, EpochDone, UnitFailed, UnitFinished, UnitStarted
from initdash.executors.local import LocalExecutor, forks
from initdash.initializers import parse_list
from initdash.sweep import Sweep

needs_fork = pytest.mark.skipif(not forks(), reason="worker processes are forked (Linux)")


def collect(sweep: Sweep, events: queue.Queue, timeout: float = 120) -> dict[str, object]:
    """Every unit's last event (UnitFinished or UnitFailed), by initializer."""
    ends: dict[str, object] = {}
    while len(ends) < len(sweep.units):
        event = events.get(timeout=timeout)
        if isinstance(event, (UnitFinished, UnitFailed)):
            ends[event.initializer] = event
    return ends


@needs_fork
def test_many_initializers_train_on_a_bounded_pool_with_the_numbers_of_threads():
    labels = ",".join(f"normal:std={0.01 * (i + 1):g}" for i in range(40))
    config = experiment(initializers=parse_list(labels), epochs=1, seed=3)
    data = load()
    before = threading.active_count()
    results = {}
    for processes in (True, False):
        executor = LocalExecutor(workers=2, processes=processes)
        events: queue.Queue = queue.Queue()
        sweep = Sweep(config, data, 1, events.put, executor)
        sweep.start()
        assert threading.active_count() <= before + 1  # one dispatcher (or one worker thread), not 40 threads
        if processes:
            assert len(executor.training()) <= 2  # one unit per worker, two workers
        ends = collect(sweep, events)
        sweep.join(timeout=30)
        executor.close()
        results[processes] = {k: [o.history for o in e.outcomes] for k, e in ends.items()}
        assert all(o.status == OK for e in ends.values() for o in e.outcomes)
    assert results[True] == results[False]  # bit for bit


def training_on_two_workers(config) -> tuple[LocalExecutor, queue.Queue, Sweep]:
    """A sweep started on a pool of two worker processes, returned once its first epoch is reported."""
    executor = LocalExecutor(workers=2, processes=True)
    events: queue.Queue = queue.Queue()
    sweep = Sweep(config, load(), 1, events.put, executor)
    sweep.start()
    while not isinstance(events.get(timeout=120), EpochDone):
        pass
    return executor, events, sweep


@needs_fork
def test_cancel_stops_running_units_and_skips_queued_ones():
    config = experiment(initializers=parse_list("zeros,he_normal,normal,uniform,lecun_uniform"), epochs=2000)
    executor, events, sweep = training_on_two_workers(config)
    started = time.monotonic()
    sweep.cancel()
    sweep.join(timeout=30)
    assert time.monotonic() - started < 10
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    finished = [e for e in seen if isinstance(e, UnitFinished)]
    assert 1 <= len(finished) <= 2 and all(o.status == CANCELLED for e in finished for o in e.outcomes)
    assert len([e for e in seen if isinstance(e, UnitStarted)]) <= 2  # the queued units never started
    executor.close()


@needs_fork
def test_a_worker_that_dies_fails_its_unit_and_the_pool_goes_on():
    config = experiment(initializers=parse_list("zeros,he_normal"), epochs=3000)
    executor, events, sweep = training_on_two_workers(config)
    label, pid = next(iter(executor.training().items()))
    os.kill(pid, signal.SIGKILL)
    failed = None
    while failed is None:
        event = events.get(timeout=60)
        if isinstance(event, UnitFailed):
            failed = event
    assert failed.initializer == label and failed.message == "its worker process died (killed by signal 9)"
    sweep.cancel()
    sweep.join(timeout=30)
    # A fresh worker took the dead one's place: the next sweep trains both units.
    events = queue.Queue()
    again = Sweep(config.with_changes(epochs=1), load(), 2, events.put, executor)
    again.start()
    ends = collect(again, events)
    assert all(isinstance(e, UnitFinished) and e.outcomes[0].status == OK for e in ends.values())
    executor.close()


@needs_fork
def test_a_worker_gets_a_sweeps_config_and_data_once_and_each_sweep_its_own(monkeypatch):
    from multiprocessing.connection import Connection

    tasks: list[tuple] = []
    send = Connection.send

    def recording(conn: Connection, obj: object) -> None:
        if isinstance(obj, tuple) and len(obj) in (2, 4):  # a unit (with its sweep's config and data, or not)
            tasks.append(obj)
        send(conn, obj)

    monkeypatch.setattr(Connection, "send", recording)
    labels = parse_list("zeros,he_normal,normal,uniform,lecun_uniform,glorot_uniform")
    executor = LocalExecutor(workers=2, processes=True)
    for sweep_id, epochs in ((1, 1), (2, 3)):
        events: queue.Queue = queue.Queue()
        sweep = Sweep(experiment(initializers=labels, epochs=epochs, seed=3), load(), sweep_id, events.put, executor)
        sweep.start()
        ends = collect(sweep, events)
        sweep.join(timeout=30)
        assert all(len(o.history) == epochs + 1 for e in ends.values() for o in e.outcomes)  # its own config
    executor.close()
    assert len(tasks) == 12
    full = [t for t in tasks if len(t) == 4]
    assert 2 <= len(full) <= 4 and len({t[0] for t in full}) == 2  # once per worker and sweep
