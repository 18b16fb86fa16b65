"""Writing the history: sessions, sweeps and each event the Session accepted, as it happens.

Used through a Recorder (initdash.recorder), which calls begin_sweep / append / end_sweep in step with the
Session. Every write is one atomic SQL statement, committed at once: `kill -9` or a signal between two of
them loses at most the event in flight and never leaves half of one (WAL, synchronous=NORMAL: safe against a
crash of the process; a power cut may lose the last commits, never the file). Other processes may write the
same file, even the same session: sweep ids are handed out by the database, and a writer only ever changes
the sweeps it began.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from initdash import __version__
from initdash.config import ExperimentConfig
from initdash.errors import UserError
from initdash.events import Event
from initdash.limits import MAX_ID
from initdash.session import SWEEP_INTERRUPTED, SWEEP_RUNNING, SWEEP_STATES, Session, SweepState, events_of
from initdash.store import codec, reader, schema


class HistoryWriter:
    """A history database opened for writing; records one session at a time."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path
        self.session_id: int | None = None
        self.config: ExperimentConfig | None = None
        self._mine: set[int] = set()  # sweeps this writer began and has not ended
        self._owner = reader.owner()
        self._lock = threading.RLock()  # the dashboard may record from another thread than it opened on
        self._closed = False

    @classmethod
    def open(cls, path: Path | str | None = None) -> HistoryWriter:
        """Open the history at `path` (default: default_path(), its directory made if missing), creating the file
        and its schema, or migrating an older one."""
        explicit = path is not None
        path = Path(path) if explicit else schema.default_path()
        return cls(schema.open_rw(path, create=True, make_dirs=not explicit), path)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the sweeps still recording here as interrupted (what they recorded stays), then close."""
        with self._lock:
            if self._closed:
                return
            for sweep_id in sorted(self._mine):
                try:
                    self.end_sweep(sweep_id, SWEEP_INTERRUPTED)
                except UserError:
                    pass  # a full disk or a lost file: the sweep reads as interrupted once this process is gone
            self._closed = True
            self.conn.close()

    # --- sessions ---------------------------------------------------------------------------------------

    def start_session(self, config: ExperimentConfig, data_label: str) -> int:
        """Create a new session and record into it from now on; returns its id."""
        created = _now()
        cur = self._write("INSERT INTO sessions (created, config, data_label, root_seed, version) "
                          "VALUES (?, ?, ?, ?, ?)", (created, _json(config), data_label, config.seed, __version__))
        self.session_id, self.config = int(cur.lastrowid), config
        return self.session_id

    def import_session(self, session: Session) -> int:
        """Store an imported session whole, in one transaction (all of it or nothing), marked as imported: its
        model, data and executor are never used (--open asks for them). Returns its id; the export's sweep ids
        are kept."""
        with self._lock:
            self._settle()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = self.conn.execute(
                        "INSERT INTO sessions (created, config, data_label, root_seed, version, imported) "
                        "VALUES (?, ?, ?, ?, ?, 1)", (_now(), _json(session.config), session.data_label,
                                                      session.config.seed, __version__))
                    session_id = int(cur.lastrowid)
                    for sweep in session.sweeps:
                        events = events_of(sweep)
                        if not events:
                            continue
                        state = sweep.state if sweep.state != SWEEP_RUNNING else SWEEP_INTERRUPTED
                        self.conn.execute("INSERT INTO sweeps (session, sweep, config, state, started) "
                                          "VALUES (?, ?, ?, ?, ?)",
                                          (session_id, sweep.sweep_id, _json(session.config), state, _now()))
                        self.conn.executemany(
                            "INSERT INTO events (session, sweep, seq, kind, initializer, body) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            [(session_id, sweep.sweep_id, seq, *codec.encode(event))
                             for seq, event in enumerate(events, start=1)])
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from None
        return session_id

    def continue_session(self, session_id: int, config: ExperimentConfig | None = None) -> None:
        """Record further sweeps into a stored session (by default with its stored config)."""
        row = self._read("SELECT config FROM sessions WHERE id = ?", (session_id,))
        if not row:
            raise UserError(f"no session {session_id} in {self.path} (see `initdash history`)")
        if config is None:
            latest = self._read("SELECT config FROM sweeps WHERE session = ? ORDER BY sweep DESC LIMIT 1",
                                (session_id,))
            config = reader.ConfigCache(self.path, session_id).parse((latest or row)[0][0])
        self.session_id, self.config = session_id, config

    def load_session(self, session_id: int) -> Session:
        """Rebuild a stored session by replaying its events (as HistoryReader.load_session)."""
        with self._lock:
            self._settle()
            try:
                self.conn.execute("BEGIN")
                try:
                    return reader.replay(self.conn, self.path, session_id)
                finally:
                    if self.conn.in_transaction:
                        self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from None

    # --- sweeps -----------------------------------------------------------------------------------------

    def begin_sweep(self, config: ExperimentConfig | None = None, at_least: int = 1) -> int:
        """Start recording a new sweep of the session; returns its id: one above every sweep the session has
        (whoever recorded it), and at least `at_least`. Allocated and inserted in one statement, so two
        processes adding sweeps to one session never get the same id."""
        session_id = self._session()
        if config is not None:
            self.config = config
        assert self.config is not None
        if not 1 <= at_least <= MAX_ID:
            raise UserError(f"sweep ids run from 1 to {MAX_ID}, got {at_least}")
        pid, host, started = self._owner
        cur = self._write(
            "INSERT INTO sweeps (session, sweep, config, state, started, owner_pid, owner_host, owner_started) "
            "SELECT ?, MAX(COALESCE(MAX(sweep), 0) + 1, ?), ?, 'running', ?, ?, ?, ? FROM sweeps WHERE session = ?",
            (session_id, at_least, _json(self.config), _now(), pid, host, started, session_id))
        (sweep_id,), = self._read("SELECT sweep FROM sweeps WHERE rowid = ?", (cur.lastrowid,))
        self._mine.add(sweep_id)
        return sweep_id

    def append(self, sweep_id: int, event: Event) -> None:
        """Write one event of a sweep this writer began (committed before it returns)."""
        session_id = self._session()
        if sweep_id not in self._mine:
            raise UserError(f"sweep {sweep_id} of session {session_id} is not being recorded by this process")
        kind, label, body = codec.encode(event)
        self._write("INSERT INTO events (session, sweep, seq, kind, initializer, body) "
                    "SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM events WHERE session = ? AND sweep = ?",
                    (session_id, sweep_id, kind, label, body, session_id, sweep_id))

    def end_sweep(self, sweep_id: int, state: SweepState) -> None:
        """A sweep this writer began ended (complete, cancelled or interrupted); one that recorded no event is
        deleted instead. Another process's sweep is never touched."""
        if state not in SWEEP_STATES or state == SWEEP_RUNNING:
            raise ValueError(f"a sweep ends as complete, cancelled or interrupted, not {state!r}")
        with self._lock:
            if sweep_id not in self._mine:
                return
            session_id = self._session()
            # Two statements, each atomic: cut off between them, the sweep stays running and reads as
            # interrupted once this process is gone.
            self._write("DELETE FROM sweeps WHERE session = ? AND sweep = ? AND NOT EXISTS "
                        "(SELECT 1 FROM events WHERE session = ? AND sweep = ?)",
                        (session_id, sweep_id, session_id, sweep_id))
            self._write("UPDATE sweeps SET state = ? WHERE session = ? AND sweep = ? AND state = 'running'",
                        (state, session_id, sweep_id))
            self._mine.discard(sweep_id)

    # --- plumbing ---------------------------------------------------------------------------------------

    def _session(self) -> int:
        if self.session_id is None:
            raise RuntimeError("start_session or continue_session first")
        return self.session_id

    def _settle(self) -> None:
        """A read cut off by a signal may have left a transaction open: end it before anything else."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            if self._closed:
                raise UserError(f"history database {self.path} is closed")
            try:
                self._settle()
                return self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from None

    def _read(self, sql: str, params: tuple = ()) -> list[Any]:
        with self._lock:
            try:
                self._settle()
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from None


def _json(config: ExperimentConfig) -> str:
    return json.dumps(config.to_dict())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
