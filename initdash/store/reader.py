"""Reading the history: the list of sessions, and a session rebuilt by replaying its events.

`initdash history` and `initdash export` read through open_reader(): the file is opened read-only and never
created, converted or locked against writers.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from initdash.config import ExperimentConfig
from initdash.errors import UserError, first_line
from initdash.events import OK
from initdash.session import COMPLETE, SWEEP_INTERRUPTED, SWEEP_RUNNING, Session, SweepState, replay_sweep
from initdash.store import codec, schema

REREADS = 5  # reads of a file that a writer keeps changing under an immutable reader, before the last one stands


@dataclass(frozen=True)
class SessionInfo:
    """One line of `initdash history`."""

    id: int
    created: str  # ISO 8601, UTC
    data: str
    model: str  # config.model.label
    initializers: tuple[str, ...]
    sweeps: int  # complete sweeps: the ones statistics use
    interrupted: int  # sweeps stopped by q, a signal or a crash (with what they recorded)
    runs: int  # runs in the complete sweeps
    seed: int
    version: str
    executor: str
    imported: bool = False  # stored by `initdash import`
    epochs: int = 0  # of the latest sweep's config (0: unreadable)
    optimizer: str = "?"
    best: str = ""  # the initializer with the best mean final val_accuracy over the complete sweeps ("": none)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for `initdash history --json`."""
        return {"id": self.id, "created": self.created, "data": self.data, "model": self.model,
                "initializers": list(self.initializers), "sweeps": self.sweeps, "interrupted": self.interrupted,
                "runs": self.runs, "seed": self.seed, "version": self.version, "executor": self.executor,
                "imported": self.imported, "epochs": self.epochs, "optimizer": self.optimizer, "best": self.best}


class HistoryReader:
    """A history database opened for reading.

    `reopen` (read-only readers): a reader that found no writer reads the file as immutable; should the file
    change during a read (a writer started), the read is done again through a fresh connection.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path,
                 reopen: Callable[[], sqlite3.Connection] | None = None, state: tuple = ()) -> None:
        self.conn, self.path, self.reopen = conn, path, reopen
        self.state = state  # the file as it was when `conn` was opened (schema.file_state)
        self._lock = threading.Lock()

    def sessions(self) -> list[SessionInfo]:
        """Every stored session, oldest first."""
        return self._read(session_infos)

    def load_session(self, session_id: int) -> Session:
        """Rebuild a stored session: every sweep, every number, every status as it was recorded."""
        return self._read(lambda conn: replay(conn, self.path, session_id))

    def _read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        result = None
        for attempt in range(REREADS):
            with self._lock:
                if self.reopen is not None and schema.file_state(self.path) != self.state:
                    # written since we opened it: a fresh connection (through the writer's -wal if it has one)
                    self.conn.close()
                    self.state = schema.file_state(self.path)
                    self.conn = self.reopen()
                before = self.state
                try:
                    with _snapshot(self.conn, self.path):
                        result = query(self.conn)
                except UserError:  # e.g. a page read while a writer moved it: again, unless nothing changed
                    if self.reopen is None or schema.file_state(self.path) == before or attempt == REREADS - 1:
                        raise
                    continue
            if self.reopen is None or schema.file_state(self.path) == before:
                return result
        return result

    def close(self) -> None:
        """Close the database."""
        self.conn.close()

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(path: Path | str | None = None, writing: bool = False) -> HistoryReader:
    """The history at `path` (default: default_path()) for reading; it must exist, and is never created.

    Read-only unless `writing` (a caller that will write to it next, such as --open): then an older schema is
    migrated in the file itself.
    """
    path = Path(path) if path is not None else schema.default_path()
    if writing:
        return HistoryReader(schema.open_rw(path, create=False), path)
    state = schema.file_state(path)
    return HistoryReader(schema.open_ro(path), path, reopen=lambda: schema.open_ro(path), state=state)


@contextmanager
def _snapshot(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """One read transaction (every query sees the same moment); database errors as one-line UserErrors."""
    try:
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise schema.database_error(path, exc) from None


# --- replay -----------------------------------------------------------------------------------------------

def replay(conn: sqlite3.Connection, path: Path, session_id: int) -> Session:
    """The Session that a stored session's events build through Session.apply, with each sweep's end state."""
    row = conn.execute("SELECT config, data_label, imported FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        raise UserError(f"no session {session_id} in {path} (see `initdash history`)")
    configs = ConfigCache(path, session_id)
    session = Session(configs.parse(row[0]), row[1])
    session.imported = bool(row[2])
    rows = conn.execute(
        "SELECT s.sweep, s.config, s.state, s.owner_pid, s.owner_host, s.owner_started, e.kind, e.initializer, "
        "e.body FROM sweeps s LEFT JOIN events e ON e.session = s.session AND e.sweep = s.sweep "
        "WHERE s.session = ? ORDER BY s.sweep, e.seq", (session_id,))
    for sweep_id, group in groupby(rows, key=lambda r: r[0]):
        group = list(group)
        _, config_text, state, pid, host, started = group[0][:6]
        state = effective_state(state, pid, host, started)
        try:
            events = [codec.decode(kind, sweep_id, label, body) for *_, kind, label, body in group if kind]
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"session {session_id} in {path}: sweep {sweep_id} has an unreadable event "
                            f"({first_line(exc)})") from None
        if not events and state != SWEEP_RUNNING:
            continue  # begun, never recorded anything: the Session forgets such a sweep too (config unread)
        config = configs.parse(config_text)
        # A sweep stored as running is still recorded by a live process; one stored as complete whose units
        # did not all end stopped with its process.
        stopped = None if state == SWEEP_RUNNING else state if state != COMPLETE else SWEEP_INTERRUPTED
        alone = Session(config, session.data_label)  # one sweep at a time: a later one must not end it
        record = replay_sweep(alone, sweep_id, events, stopped, config)
        if record is None:
            continue  # its events started no unit: nothing recorded, as above
        session.sweeps.append(record)
        session.config = config
    return session


class ConfigCache:
    """Stored config JSON -> ExperimentConfig, each text parsed once (UserError naming the session if bad)."""

    def __init__(self, path: Path, session_id: int) -> None:
        self.path, self.session_id = path, session_id
        self.cache: dict[str, ExperimentConfig] = {}

    def parse(self, text: str) -> ExperimentConfig:
        """The config a stored JSON text describes."""
        if text not in self.cache:
            try:
                self.cache[text] = ExperimentConfig.from_dict(json.loads(text))
            except (ValueError, TypeError, KeyError, AttributeError, UserError, RecursionError) as exc:
                raise UserError(f"session {self.session_id} in {self.path} has an unreadable config: "
                                f"{exc}".splitlines()[0]) from None
        return self.cache[text]


# --- owners -----------------------------------------------------------------------------------------------

def effective_state(state: SweepState, pid: int | None, host: str | None, started: str | None) -> SweepState:
    """How a stored sweep stands now: a running one whose process is gone was interrupted."""
    if state == SWEEP_RUNNING and not owner_alive(pid, host, started):
        return SWEEP_INTERRUPTED
    return state


def owner() -> tuple[int, str, str | None]:
    """(pid, host, start time) of this process, as a sweep's owner columns record it."""
    pid = os.getpid()
    return pid, socket.gethostname(), process_start(pid)


def owner_alive(pid: int | None, host: str | None, started: str | None) -> bool:
    """False when the recording process is surely gone: same host, and no such pid (or a different process, or
    a zombie, under it). A process on another host we cannot see: alive."""
    if pid is None:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    except OSError:
        return True
    now = _stat(pid)
    if now is None:
        return True
    state, start = now
    return state != "Z" and (started is None or start == started)


def process_start(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot, Linux' /proc), or None where it cannot be read."""
    stat = _stat(pid)
    return stat[1] if stat else None


def _stat(pid: int) -> tuple[str, str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) ": state is field 3, starttime field 22
    return (fields[0], fields[19]) if len(fields) > 19 else None


# --- listing ----------------------------------------------------------------------------------------------

def session_infos(conn: sqlite3.Connection) -> list[SessionInfo]:
    """Every stored session as a line of `initdash history` (from the sweeps table and the run-starting events;
    no replay)."""
    sessions = conn.execute("SELECT id, created, data_label, config, root_seed, version, imported FROM sessions "
                            "ORDER BY id").fetchall()
    sweeps: dict[int, list[tuple]] = {}
    for row in conn.execute("SELECT s.session, s.sweep, s.config, s.state, s.owner_pid, s.owner_host, "
                            "s.owner_started, EXISTS (SELECT 1 FROM events e WHERE e.session = s.session "
                            "AND e.sweep = s.sweep) FROM sweeps s ORDER BY s.session, s.sweep"):
        sweeps.setdefault(row[0], []).append(row)
    runs: dict[tuple[int, int, str], int] = {}
    for session_id, sweep_id, label, body in conn.execute(
            "SELECT session, sweep, initializer, body FROM events WHERE kind IN ('UnitStarted', 'UnitFailed')"):
        try:
            n = len(json.loads(body).get("seeds", ()))
        except (ValueError, AttributeError, TypeError):
            n = 0
        key = (session_id, sweep_id, label)
        runs[key] = max(runs.get(key, 0), n)
    per_sweep: dict[tuple[int, int], int] = {}
    for (session_id, sweep_id, _), n in runs.items():
        per_sweep[(session_id, sweep_id)] = per_sweep.get((session_id, sweep_id), 0) + n
    out = []
    for session_id, created, data, config_text, seed, version, imported in sessions:
        mine = sweeps.get(session_id, [])
        states = [(s[1], effective_state(s[3], s[4], s[5], s[6]), s[7]) for s in mine]
        complete = [sweep_id for sweep_id, state, _ in states if state == COMPLETE]
        interrupted = sum(1 for _, state, recorded in states if state == SWEEP_INTERRUPTED and recorded)
        latest = mine[-1][2] if mine else config_text
        try:
            config = ExperimentConfig.from_dict(json.loads(latest))
            model, inits, executor = config.model.label, tuple(s.label for s in config.initializers), config.executor
            epochs, optimizer = config.epochs, config.optimizer
        except (ValueError, TypeError, KeyError, AttributeError, UserError, RecursionError):
            model, inits, executor, epochs, optimizer = "?", (), "?", 0, "?"
        out.append(SessionInfo(session_id, created, data, model, inits, len(complete), interrupted,
                               sum(per_sweep.get((session_id, s), 0) for s in complete), seed, version, executor,
                               bool(imported), epochs, optimizer, _best(conn, session_id, complete)))
    return out


def _best(conn: sqlite3.Connection, session_id: int, complete: list[int]) -> str:
    """The initializer with the best mean final val_accuracy over `complete` sweeps: per sweep, the mean over
    the runs that ended ok of the last epoch each finished unit recorded (bodies of the last epochs only)."""
    if not complete:
        return ""
    rows = conn.execute(
        "SELECT e.sweep, e.initializer, e.body FROM events e JOIN (SELECT sweep, initializer, MAX(seq) AS seq "
        "FROM events WHERE session = ? AND kind = 'EpochDone' GROUP BY sweep, initializer) last "
        "ON e.session = ? AND e.sweep = last.sweep AND e.seq = last.seq "
        "WHERE EXISTS (SELECT 1 FROM events f WHERE f.session = ? AND f.sweep = e.sweep "
        "AND f.initializer = e.initializer AND f.kind = 'UnitFinished')", (session_id, session_id, session_id))
    means: dict[str, list[float]] = {}
    for sweep_id, label, body in rows:
        if sweep_id not in complete:
            continue
        try:
            report = json.loads(body)["report"]
            values = [v for v, st in zip(report["values"]["val_accuracy"], report["statuses"])
                      if st == OK and isinstance(v, (int, float)) and v == v]
        except (ValueError, TypeError, KeyError):
            continue
        if values:
            means.setdefault(label, []).append(sum(values) / len(values))
    if not means:
        return ""
    return max(means, key=lambda k: sum(means[k]) / len(means[k]))
