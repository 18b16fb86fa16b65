"""History that lasts: every sweep, written to SQLite as it happens, and read back as a Session.

Use it next to the Session, with the same calls in the same places::

    store = Store.open(path)                      # or Store.open(default_path())
    store.start_session(config, data_label)       # or store.continue_session(id) after load_session(id)
    session.begin_sweep(sweep_id); store.begin_sweep(sweep_id)       # config=... on both if it changed
    if session.apply(event): store.record(event)  # every event; one committed transaction each

Each event is one transaction, so `kill -9` loses at most the epochs in flight (WAL, synchronous=NORMAL:
safe against a crash of the process; a power cut may lose the last few commits, never the file).

Cancelled sweeps are deleted, never counted. Session.begin_sweep drops a current sweep that is not complete
(still training, or cancelled by a rerun), and Store.begin_sweep deletes the same sweeps, so the store holds
what the Session holds. Until then a cancelled sweep stays, its runs marked cancelled, and loads back as the
Session had it (so exports match; Session.completed(), and every statistic, leaves it out). A sweep cut off
by a crash is never loaded, and deleted once the session continues.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from initdash import __version__
from initdash.config import ExperimentConfig
from initdash.errors import UserError
from initdash.events import (
    CANCELLED,
    FAILED,
    LAYER_METRICS,
    METRICS,
    OK,
    EpochDone,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
)
from initdash.session import DONE, QUEUED, RUNNING, InitializerRuns, Session, SweepRecord  # noqa: F401

ENV_DB = "INITDASH_DB"  # overrides the default path (tests set it so they never touch the real history)
APPLICATION_ID = 0x69446173  # "iDas" in the SQLite header: tells our files from other SQLite databases
SCHEMA_VERSION = 2  # PRAGMA user_version; 2 added the per-layer statistics of MLPs

_LAYERS_TABLE = """
CREATE TABLE layers (                    -- MLPs: per hidden layer (1 = first), per evaluated epoch
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    layer INTEGER NOT NULL,
    activation_std REAL,                 -- NULL where the value overflowed
    grad_norm REAL,
    PRIMARY KEY (run, epoch, layer)
) WITHOUT ROWID;
"""

# Upgrades of older schemas: MIGRATIONS[v] turns version v into v + 1 (run inside one transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: conn.execute(_LAYERS_TABLE),
}

_SCHEMA = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,               -- ISO 8601, UTC
    config TEXT NOT NULL,                -- JSON, see config_to_json (the latest config of the session)
    data_label TEXT NOT NULL,
    root_seed INTEGER NOT NULL,
    version TEXT NOT NULL                -- initdash version that created it
);
CREATE TABLE workers (                   -- one initializer in one sweep (the Session's InitRun)
    session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    rerun INTEGER NOT NULL,              -- the sweep id
    initializer TEXT NOT NULL,
    position INTEGER NOT NULL,           -- order in the sweep's config
    state TEXT NOT NULL,                 -- queued, running, done, failed, cancelled
    epoch INTEGER NOT NULL DEFAULT -1,   -- last evaluated epoch
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session, rerun, initializer)
);
CREATE TABLE runs (                      -- one model: one seed of one initializer in one sweep
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL,
    rerun INTEGER NOT NULL,
    initializer TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,                -- ok, diverged, cancelled (as the Session has it)
    UNIQUE (session, rerun, initializer, repeat),
    FOREIGN KEY (session, rerun, initializer) REFERENCES workers(session, rerun, initializer) ON DELETE CASCADE
);
CREATE TABLE epochs (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    loss REAL NOT NULL,
    accuracy REAL NOT NULL,
    val_loss REAL NOT NULL,
    val_accuracy REAL NOT NULL,
    PRIMARY KEY (run, epoch)
) WITHOUT ROWID;
""" + _LAYERS_TABLE

_TERMINAL = (DONE, FAILED, CANCELLED)  # a worker that has reported its end
_COMPLETE = (DONE, FAILED)  # ... without being cancelled: a sweep of these counts


def default_path() -> Path:
    """$INITDASH_DB, else history.db in the platform's user data dir."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    from initdash.locations import data_dir

    return data_dir() / "history.db"


def config_to_json(config: ExperimentConfig) -> str:
    """Every setting, as given (lr stays None when it was the optimizer's default)."""
    return json.dumps(config.to_dict())


def config_from_json(text: str) -> ExperimentConfig:
    """The config that config_to_json wrote."""
    return ExperimentConfig.from_dict(json.loads(text))


@dataclass(frozen=True)
class SessionInfo:
    """One line of `initdash history`."""

    id: int
    created: str  # ISO 8601, UTC
    data: str
    model: str
    initializers: tuple[str, ...]
    sweeps: int  # completed sweeps (cancelled and cut-off ones not counted)
    runs: int  # runs in those sweeps
    seed: int
    version: str
    interrupted: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for `initdash history --json`."""
        return {"id": self.id, "created": self.created, "data": self.data, "model": self.model,
                "initializers": list(self.initializers), "sweeps": self.sweeps, "runs": self.runs,
                "seed": self.seed, "version": self.version}


class Store:
    """One SQLite history database; records one session's events at a time."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path
        self.session_id: int | None = None
        self.config: ExperimentConfig | None = None
        self.sweep_id: int | None = None
        self._run_ids: dict[tuple[str, int], int] = {}  # (initializer, repeat) -> runs.id in this sweep
        self._created = False  # this Store made the session (so an empty one may be removed again)
        self._lock = threading.Lock()  # the dashboard may record from another thread than it opened on

    # --- opening ---------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str | None = None, create: bool = True) -> Store:
        """Open (or, with create, make) the history database at `path` (default: default_path())."""
        explicit = path is not None
        path = Path(path) if explicit else default_path()
        if path.is_dir():
            raise UserError(f"history database {path} is a directory")
        if not path.exists():
            if not create:
                raise UserError(f"no history database at {path}")
            if not explicit:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UserError(f"cannot create {path.parent}: {exc.strerror or exc} "
                                    "(use --db PATH or --no-save)") from None
            elif not path.parent.is_dir():
                raise UserError(f"--db {path}: directory {path.parent} does not exist")
        try:
            conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise UserError(f"cannot open history database {path}: {exc}") from None
        try:
            _prepare(conn, path)
        except UserError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            if "not a database" in str(exc):
                raise UserError(f"{path} is not an initdash history database (file is not a database)") from None
            raise UserError(f"cannot use history database {path}: {exc}") from None
        return cls(conn, path)

    def close(self) -> None:
        """Close the database (everything recorded is already committed)."""
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; a database error becomes a one-line UserError."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise UserError(f"history database {self.path}: {exc}") from None

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise UserError(f"history database {self.path}: {exc}") from None

    # --- writing ---------------------------------------------------------------------------------------

    def start_session(self, config: ExperimentConfig, data_label: str) -> int:
        """Create a new session and record into it from now on; returns its id."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._tx() as c:
            cur = c.execute("INSERT INTO sessions (created, config, data_label, root_seed, version) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (created, config_to_json(config), data_label, config.seed, __version__))
            self.session_id = int(cur.lastrowid)
        self.config, self.sweep_id, self._run_ids, self._created = config, None, {}, True
        return self.session_id

    def continue_session(self, session_id: int, config: ExperimentConfig | None = None) -> None:
        """Record further sweeps into an existing session (after load_session)."""
        stored = self.session_config(session_id)
        self.session_id, self.config, self.sweep_id, self._run_ids = session_id, config or stored, None, {}
        self._created = False

    def begin_sweep(self, config: ExperimentConfig | None = None, at_least: int = 1) -> int:
        """Start recording a sweep; returns its id."""
        sid = self._need_session()
        (last,), = self._read("SELECT COALESCE(MAX(rerun), 0) FROM workers WHERE session = ?", (sid,))
        sweep_id = max(last + 1, at_least)
        if config is not None:
            self.config = config
        assert self.config is not None
        with self._tx() as c:
            # Mirror Session.begin_sweep: an incomplete sweep (cancelled, or cut off by a crash) is dropped.
            c.execute("DELETE FROM workers WHERE session = ? AND rerun IN "
                      "(SELECT rerun FROM workers WHERE session = ? AND state NOT IN (?, ?))",
                      (sid, sid, *_COMPLETE))
            if c.execute("SELECT 1 FROM workers WHERE session = ? AND rerun >= ?", (sid, sweep_id)).fetchone():
                raise UserError(f"session {sid} in {self.path} already has sweep {sweep_id} or later "
                                "(is another initdash adding to it?)")
            c.execute("UPDATE sessions SET config = ? WHERE id = ?", (config_to_json(self.config), sid))
            c.executemany("INSERT INTO workers (session, rerun, initializer, position, state) VALUES (?, ?, ?, ?, ?)",
                          [(sid, sweep_id, s.label, i, QUEUED) for i, s in enumerate(self.config.initializers)])
        self.sweep_id, self._run_ids = sweep_id, {}
        return sweep_id

    def append(self, sweep_id: int, event: Event) -> None:
        """Write one event."""
        self.record(event)

    def end_sweep(self, sweep_id: int, state: str) -> None:
        """A sweep ended; one that did not complete is dropped."""
        if state != "complete":
            self.discard_incomplete()

    def record(self, event: Event) -> bool:
        """Write one event in its own transaction; False (nothing written) if it is not of the current sweep."""
        sid = self._need_session()
        if event.sweep_id != self.sweep_id or self.config is None or \
                event.initializer not in {s.label for s in self.config.initializers}:
            return False
        key = (sid, event.sweep_id, event.initializer)
        with self._tx() as c:
            if isinstance(event, RunStarted):
                c.execute("DELETE FROM runs WHERE session = ? AND rerun = ? AND initializer = ?", key)
                c.execute("UPDATE workers SET state = ? WHERE session = ? AND rerun = ? AND initializer = ?",
                          (RUNNING, *key))
                for i, seed in enumerate(event.seeds):
                    cur = c.execute("INSERT INTO runs (session, rerun, initializer, repeat, seed, status) "
                                    "VALUES (?, ?, ?, ?, ?, ?)", (*key, i, seed, OK))
                    self._run_ids[(event.initializer, i)] = int(cur.lastrowid)
            elif isinstance(event, EpochDone):
                rep = event.report
                rows, statuses, layers = [], [], []
                for i, status in enumerate(rep.statuses):
                    run_id = self._run_id(c, event.initializer, i)
                    if status == OK:
                        rows.append((run_id, rep.epoch, *(rep.values[m][i] for m in METRICS)))
                        layers += _layer_rows(run_id, rep.epoch, {k: v[i] for k, v in rep.layers.items()})
                    statuses.append((status, run_id))
                c.executemany("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?, ?, ?, ?)", rows)
                c.executemany("INSERT OR REPLACE INTO layers VALUES (?, ?, ?, ?, ?)", layers)
                c.executemany("UPDATE runs SET status = ? WHERE id = ?", statuses)
                c.execute("UPDATE workers SET epoch = ? WHERE session = ? AND rerun = ? AND initializer = ?",
                          (rep.epoch, *key))
            elif isinstance(event, RunFinished):
                # The outcomes are the final word: replace what the epochs said with them.
                for i, outcome in enumerate(event.outcomes):
                    run_id = self._run_id(c, event.initializer, i)
                    c.execute("UPDATE runs SET status = ?, seed = ? WHERE id = ?",
                              (outcome.status, outcome.seed, run_id))
                    c.execute("DELETE FROM epochs WHERE run = ?", (run_id,))
                    c.execute("DELETE FROM layers WHERE run = ?", (run_id,))
                    c.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?)",
                                  [(run_id, h["epoch"], *(h[m] for m in METRICS)) for h in outcome.history])
                    c.executemany("INSERT INTO layers VALUES (?, ?, ?, ?, ?)",
                                  [r for h in outcome.history for r in _layer_rows(run_id, h["epoch"], h)])
                state = CANCELLED if any(o.status == CANCELLED for o in event.outcomes) else DONE
                c.execute("UPDATE workers SET state = ? WHERE session = ? AND rerun = ? AND initializer = ?",
                          (state, *key))
            elif isinstance(event, RunFailed):
                c.execute("UPDATE workers SET state = ?, error = ? WHERE session = ? AND rerun = ? "
                          "AND initializer = ?", (FAILED, event.message, *key))
        return True

    def discard_incomplete(self) -> None:
        """Delete the current sweep unless it is complete, and the session if this left it empty.

        The headless mode calls it on Ctrl-C: an interrupted sweep is no result.
        """
        if self.session_id is None or self.sweep_id is None:
            return
        sid = self.session_id
        with self._tx() as c:
            c.execute("DELETE FROM workers WHERE session = ? AND rerun = ? AND rerun IN "
                      "(SELECT rerun FROM workers WHERE session = ? AND state NOT IN (?, ?))",
                      (sid, self.sweep_id, sid, *_COMPLETE))
            if self._created and not c.execute("SELECT 1 FROM workers WHERE session = ?", (sid,)).fetchone():
                c.execute("DELETE FROM sessions WHERE id = ?", (sid,))
                self.session_id = None
        self.sweep_id = None

    def _run_id(self, c: sqlite3.Connection, initializer: str, repeat: int) -> int:
        """runs.id of one repeat of the current sweep (cached since its RunStarted)."""
        key = (initializer, repeat)
        if key not in self._run_ids:
            row = c.execute("SELECT id FROM runs WHERE session = ? AND rerun = ? AND initializer = ? AND repeat = ?",
                            (self.session_id, self.sweep_id, initializer, repeat)).fetchone()
            if row is None:
                raise RuntimeError(f"{initializer} repeat {repeat}: an epoch arrived before its RunStarted")
            self._run_ids[key] = row[0]
        return self._run_ids[key]

    def _need_session(self) -> int:
        if self.session_id is None:
            raise RuntimeError("start_session or continue_session first")
        return self.session_id

    # --- reading ---------------------------------------------------------------------------------------

    def session_config(self, session_id: int) -> ExperimentConfig:
        """The stored (latest) config of a session; UserError if there is no such session."""
        rows = self._read("SELECT config FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            raise UserError(f"no session {session_id} in {self.path} (see `initdash history`)")
        try:
            return config_from_json(rows[0][0])
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"session {session_id} in {self.path} has an unreadable config: {exc}") from None

    def load_session(self, session_id: int) -> Session:
        """Rebuild a stored session: every finished sweep, every number as it was recorded."""
        config = self.session_config(session_id)
        (data_label,), = self._read("SELECT data_label FROM sessions WHERE id = ?", (session_id,))
        session = Session(config, data_label)
        workers = self._read("SELECT rerun, initializer, state, epoch, error FROM workers WHERE session = ? "
                             "ORDER BY rerun, position", (session_id,))
        runs = self._read("SELECT id, rerun, initializer, seed, status FROM runs WHERE session = ? "
                          "ORDER BY rerun, initializer, repeat", (session_id,))
        epochs = self._read("SELECT e.run, e.epoch, e.loss, e.accuracy, e.val_loss, e.val_accuracy FROM epochs e "
                            "JOIN runs r ON r.id = e.run WHERE r.session = ? ORDER BY e.run, e.epoch", (session_id,))
        layer_rows = self._read("SELECT l.run, l.epoch, l.activation_std, l.grad_norm FROM layers l "
                                "JOIN runs r ON r.id = l.run WHERE r.session = ? ORDER BY l.run, l.epoch, l.layer",
                                (session_id,))
        per_layer: dict[tuple[int, int], dict[str, list]] = {}
        for run_id, epoch, *values in layer_rows:
            entry = per_layer.setdefault((run_id, epoch), {k: [] for k in LAYER_METRICS})
            for k, v in zip(LAYER_METRICS, values):
                entry[k].append(v)
        history: dict[int, list[dict[str, float]]] = {}
        for run_id, epoch, *values in epochs:
            history.setdefault(run_id, []).append({"epoch": epoch, **dict(zip(METRICS, values)),
                                                   **per_layer.get((run_id, epoch), {})})
        by_worker: dict[tuple[int, str], list[tuple]] = {}
        for row in runs:
            by_worker.setdefault((row[1], row[2]), []).append(row)
        sweeps: dict[int, SweepRecord] = {}
        for rerun, label, state, epoch, error in workers:
            rows = by_worker.get((rerun, label), [])
            run = InitializerRuns(label, seeds=tuple(r[3] for r in rows), state=state, epoch=epoch,
                                  statuses=[r[4] for r in rows], histories=[history.get(r[0], []) for r in rows],
                                  error=error)
            sweeps.setdefault(rerun, SweepRecord(rerun, {})).initializers[label] = run
        for s in sweeps.values():
            s.state = "complete" if s.complete else "cancelled"
        session.sweeps = [s for _, s in sorted(sweeps.items()) if s.finished]
        return session

    def sessions(self) -> list[SessionInfo]:
        """Every stored session, oldest first."""
        rows = self._read("""
            SELECT s.id, s.created, s.data_label, s.config, s.root_seed, s.version,
                   (SELECT COUNT(DISTINCT w.rerun) FROM workers w WHERE w.session = s.id AND w.rerun NOT IN
                       (SELECT rerun FROM workers WHERE session = s.id AND state NOT IN (?, ?))),
                   (SELECT COUNT(*) FROM runs r JOIN workers w USING (session, rerun, initializer)
                       WHERE r.session = s.id AND w.state = ? AND r.rerun NOT IN
                       (SELECT rerun FROM workers WHERE session = s.id AND state NOT IN (?, ?)))
            FROM sessions s ORDER BY s.id""", (DONE, FAILED, DONE, DONE, FAILED))
        out = []
        for sid, created, data, config_text, seed, version, n_sweeps, n_runs in rows:
            try:
                config = config_from_json(config_text)
                model, inits = config.model.label, tuple(s.label for s in config.initializers)
            except (ValueError, TypeError, KeyError, UserError):
                model, inits = "?", ()
            out.append(SessionInfo(sid, created, data, model, inits, n_sweeps, n_runs, seed, version))
        return out


def _layer_rows(run_id: int, epoch: int, entry: dict) -> list[tuple]:
    """The layers-table rows of one history entry (none for the lesson's model)."""
    if LAYER_METRICS[0] not in entry:
        return []
    return [(run_id, epoch, layer, *values)
            for layer, values in enumerate(zip(*(entry[k] for k in LAYER_METRICS)), start=1)]


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check that the file is ours and current (migrating an older schema); create it when empty."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]  # "file is not a database" shows up here
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    if app_id != APPLICATION_ID:
        if app_id != 0 or version != 0 or tables:
            raise UserError(f"{path} is not an initdash history database (use another --db PATH)")
        conn.execute("PRAGMA journal_mode=WAL")  # outside a transaction: it cannot change inside one
        conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
                           f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    elif version > SCHEMA_VERSION:
        raise UserError(f"{path} was written by a newer initdash (history schema {version}; this initdash "
                        f"{__version__} reads up to {SCHEMA_VERSION}): upgrade initdash or use another --db PATH")
    elif version < SCHEMA_VERSION:
        missing = [v for v in range(version, SCHEMA_VERSION) if v not in MIGRATIONS]
        if version < 1 or missing:
            raise UserError(f"{path} has history schema {version}, which this initdash cannot upgrade")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v](conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")


# --- the API the rest of initdash uses (the store package's final shape) -------------------------------

class HistoryWriter(Store):
    """A history database opened for writing."""

    @classmethod
    def open(cls, path: Path | str | None = None, create: bool = True) -> HistoryWriter:  # type: ignore[override]
        """Open or create the database."""
        store = Store.open(path, create)
        store.__class__ = cls
        return store  # type: ignore[return-value]


def open_reader(path: Path | str | None = None, writing: bool = False) -> Store:
    """The database for reading sessions."""
    return Store.open(path, create=writing)
