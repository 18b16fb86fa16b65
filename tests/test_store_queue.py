"""The history's writer thread: recording never waits on a database that another process holds."""

from __future__ import annotations

import sqlite3
import threading
import time

from fakes import config, sweep_events

from initdash.errors import UserError
from initdash.recorder import Recorder
from initdash.session import COMPLETE, Session
from initdash.store import HistoryWriter, open_reader
from initdash.store.queued import QueuedWriter


def test_events_queue_while_another_process_holds_the_database_and_land_in_order(tmp_path):
    db, cfg = tmp_path / "h.db", config(inits="zeros,he_normal", repeats=2)
    writer = HistoryWriter.open(db)
    writer.start_session(cfg, "tiny")
    queued = QueuedWriter(writer)
    session = Session(cfg, "tiny")
    recorder = Recorder(session, queued)
    sweep_id = recorder.begin_sweep(cfg)
    events = sweep_events(sweep_id, {"zeros": [0.5, 0.6], "he_normal": [0.9, 0.8]})
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        for event in events:
            assert recorder.apply(event)
        waited = time.monotonic() - started
        assert session.current.state == COMPLETE  # the Session has it all at once
        assert not queued.flush(timeout=0.2)  # the writes wait for the lock, the caller did not
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert queued.flush(timeout=30)
    queued.close()
    assert waited < 5, waited  # generous: a loaded machine; the database's busy timeout is far longer
    with open_reader(db) as reader:
        stored = reader.load_session(writer.session_id)
    assert [s.state for s in stored.sweeps] == [COMPLETE]
    assert stored.sweeps[0].initializers["he_normal"].final("val_accuracy") == \
        session.sweeps[0].initializers["he_normal"].final("val_accuracy")


def test_reserving_a_sweep_waits_for_earlier_writes_and_a_failure_is_said_once(tmp_path, monkeypatch):
    db, cfg = tmp_path / "h.db", config(inits="zeros")
    writer = HistoryWriter.open(db)
    writer.start_session(cfg, "tiny")
    said: list[str] = []
    session = Session(cfg, "tiny")
    recorder = Recorder(session, on_store_error=said.append)
    queued = QueuedWriter(writer, on_error=recorder.store_failed)
    recorder.store = queued
    first = recorder.reserve_sweep(cfg)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(recorder.reserve_sweep(cfg)))
    thread.start()
    thread.join(30)
    assert result == [first + 1]
    recorder.forget_sweep(first)  # reserved, never began: dropped from the store
    assert queued.flush(timeout=30)
    with open_reader(db) as reader:
        assert [s.sweep_id for s in reader.load_session(writer.session_id).sweeps] == result  # first is gone

    def full_disk(*args):
        raise UserError(f"history database {db}: database or disk is full")

    monkeypatch.setattr(writer, "end_sweep", full_disk)
    queued.end_sweep(result[0], COMPLETE)
    queued.flush(timeout=30)
    assert len(said) == 1 and recorder.store is None and recorder.store_error == said[0]
    queued.end_sweep(result[0], COMPLETE)  # later writes are dropped without a word
    queued.flush(timeout=30)
    assert len(said) == 1
    queued.close()
