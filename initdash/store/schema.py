"""The history file: its schema and versions, migrating older ones, and opening it to write or to read.

Schema 3 is an event log: `sessions` (one experiment each), `sweeps` (one per press of r: its config, how it
ended, which process records it) and `events` (what the Session accepted, in order). The Session is rebuilt
by replaying the events through Session.apply (reader.py): no second state machine lives in SQL.

Any number of processes may create, write and read one file at once: WAL, a busy timeout, creation and
migration inside BEGIN IMMEDIATE with a re-check, and every write one atomic statement (writer.py). Readers
open the file read-only and never change it; an older schema they read by migrating a copy in memory.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from initdash.errors import UserError
from initdash.events import EVENT_ALIASES

ENV_DB = "INITDASH_DB"  # overrides the default path (tests set it so they never touch the real history)
APPLICATION_ID = 0x69446173  # "iDas" in the SQLite header: tells our files from other SQLite databases
# PRAGMA user_version. 1: runs and epochs; 2: + per-layer statistics; 3: an event log; 4: + sessions.imported
SCHEMA_VERSION = 4
OLD_VERSIONS = (1, 2, 3)  # what migrate() upgrades
IMPORTED = "imported INTEGER NOT NULL DEFAULT 0 CHECK (imported IN (0, 1))"
BUSY_TIMEOUT_S = 60.0  # how long a statement waits for another process's write before it gives up

SESSIONS = f"""
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,               -- ISO 8601, UTC
    config TEXT NOT NULL,                -- JSON: ExperimentConfig.to_dict() when the session began
    data_label TEXT NOT NULL,
    root_seed INTEGER NOT NULL,
    version TEXT NOT NULL,               -- initdash version that created it
    {IMPORTED}  -- 1: stored by `initdash import`: data only
)"""
EVENT_LOG = ("""
CREATE TABLE sweeps (
    session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sweep INTEGER NOT NULL,              -- the sweep id, unique in its session
    config TEXT NOT NULL,                -- JSON: the config it trained with (--open may change repeats)
    state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'cancelled', 'interrupted')),
    started TEXT NOT NULL,               -- ISO 8601, UTC
    owner_pid INTEGER,                   -- the process that records it: a running sweep whose process
    owner_host TEXT,                     -- is gone (same host, pid not alive) reads as interrupted
    owner_started TEXT,                  -- that process's start time, to tell a reused pid from it
    PRIMARY KEY (session, sweep)
)""", """
CREATE TABLE events (                    -- what the Session accepted, in order (a rowid table: bodies are large)
    session INTEGER NOT NULL,
    sweep INTEGER NOT NULL,
    seq INTEGER NOT NULL,                -- 1, 2, ... within the sweep
    kind TEXT NOT NULL,                  -- UnitStarted, EpochDone, UnitFinished, UnitFailed
    initializer TEXT NOT NULL,
    body TEXT NOT NULL,                  -- JSON of the other fields (codec.py)
    PRIMARY KEY (session, sweep, seq),
    FOREIGN KEY (session, sweep) REFERENCES sweeps(session, sweep) ON DELETE CASCADE
)""", "CREATE INDEX events_by_kind ON events(kind, session, sweep)")


def default_path() -> Path:
    """$INITDASH_DB, else history.db in the platform's user data dir."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser().absolute()  # taken at start: a user's model may change the directory
    from initdash.locations import data_dir

    return data_dir() / "history.db"


def database_error(path: Path, exc: BaseException) -> UserError:
    """One line that says what went wrong with the file, for any sqlite3 error."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not a database" in text or "encrypted" in text:
        return UserError(f"{path} is not an initdash history database (file is not a database)")
    if "disk is full" in text or "disk I/O" in text:
        return UserError(f"history database {path}: disk full or failing ({text})")
    if "locked" in text or "busy" in text:
        return UserError(f"history database {path} is busy: another process held it for over "
                         f"{BUSY_TIMEOUT_S:.0f} s ({text})")
    if "readonly" in text or "read-only" in text:
        return UserError(f"history database {path} is read-only here ({text})")
    if "unable to open" in text:
        return UserError(f"cannot open history database {path} ({text})")
    return UserError(f"history database {path}: {text}")


# --- opening ----------------------------------------------------------------------------------------------

def regular(path: Path) -> None:
    """Refuse a history path that exists and is not a regular file (/dev/null, a pipe): SQLite would write a
    journal beside it."""
    if path.is_dir():
        raise UserError(f"history database {path} is a directory")
    if path.exists() and not path.is_file():
        raise UserError(f"history database {path} is not a regular file (give --db a file)")


def open_rw(path: Path, create: bool = True, make_dirs: bool = False) -> sqlite3.Connection:
    """A read-write connection to a current history (created if `create`, migrated if older)."""
    regular(path)
    if not path.exists():
        if not create:
            raise UserError(f"no history database at {path}")
        parent = path.parent if str(path.parent) else Path(".")
        if make_dirs:
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create {parent}: {exc.strerror or exc} (use --db PATH or --no-save)") from None
        elif not parent.is_dir():
            raise UserError(f"--db {path}: directory {parent} does not exist")
    try:
        conn = _connect(str(path))
    except sqlite3.Error as exc:
        raise database_error(path, exc) from None
    with _closed_on_error(conn, path):
        _prepare(conn, path)
    return conn


def open_ro(path: Path) -> sqlite3.Connection:
    """A connection that reads a current history without changing the file (an older schema: a migrated
    copy in memory; an empty file: an empty history in memory). Nothing is created beside the file."""
    regular(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(f"no history database at {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read history database {path}: {exc.strerror or exc}") from None
    if size == 0:
        return _empty_in_memory()
    try:
        conn = _connect_ro(path)
    except sqlite3.Error as exc:
        raise database_error(path, exc) from None
    with _closed_on_error(conn, path):
        kind = _inspect(conn, path)
        if kind == "empty":
            conn.close()
            return _empty_in_memory()
        if kind == "old":
            copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.backup(copy)
            conn.close()
            with _closed_on_error(copy, path):
                _upgrade(copy, path)  # the copy, never the file
            return copy
    return conn


@contextmanager
def _closed_on_error(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """Close the connection if the block fails; a database error becomes a one-line UserError."""
    try:
        yield
    except sqlite3.Error as exc:
        conn.close()
        raise database_error(path, exc) from None
    except BaseException:
        conn.close()
        raise


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: every write is one atomic statement, or an explicit BEGIN IMMEDIATE.
    return sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False, uri=uri)


def sidecars(path: Path) -> bool:
    """True while the file has a -wal or -shm beside it: some connection has it open in WAL mode."""
    return any(Path(f"{path}{s}").exists() for s in ("-wal", "-shm"))


def file_state(path: Path) -> tuple:
    """What changes when anyone writes the file: its inode, size and time, and whether it has sidecars."""
    try:
        st = path.stat()
    except OSError:
        return ()
    return st.st_ino, st.st_size, st.st_mtime_ns, sidecars(path)


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A reader that creates nothing. With no -wal/-shm beside the file no writer has it open: read it as
    immutable=1 (SQLite then opens no -wal or -shm, and so never creates them; HistoryReader reads again if
    a writer started meanwhile). With them, a writer is at work: mode=ro reads through its -wal and -shm."""
    uri = path.absolute().as_uri()
    if not sidecars(path):
        return _connect(f"{uri}?immutable=1", uri=True)
    conn = _connect(f"{uri}?mode=ro", uri=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        if sidecars(path):
            raise
        return _connect(f"{uri}?immutable=1", uri=True)  # the writer closed meanwhile, taking its sidecars
    return conn


def _empty_in_memory() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    _create(conn)
    return conn


def _inspect(conn: sqlite3.Connection, path: Path) -> str:
    """'empty', 'current' or 'old'; UserError for a file that is not ours or is newer than this initdash."""
    outside = not conn.in_transaction
    if outside:  # one snapshot: another process may create the schema between two reads
        conn.execute("BEGIN")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]  # "file is not a database" shows up here
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    finally:
        if outside and conn.in_transaction:
            conn.execute("COMMIT")
    if app_id != APPLICATION_ID:
        if app_id == 0 and version == 0 and tables == 0:
            return "empty"
        raise UserError(f"{path} is not an initdash history database (use another --db PATH)")
    if version > SCHEMA_VERSION:
        from initdash import __version__

        raise UserError(f"{path} was written by a newer initdash (history schema {version}; this initdash "
                        f"{__version__} reads up to {SCHEMA_VERSION}): upgrade initdash or use another --db PATH")
    if version == SCHEMA_VERSION:
        return "current"
    if version in OLD_VERSIONS:
        return "old"
    raise UserError(f"{path} has history schema {version}, which this initdash cannot read")


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Make the file a current history: check it is ours, WAL, then create or migrate it under the write lock
    (re-checked there: another process may have done it meanwhile)."""
    kind = _inspect(conn, path)  # refuse a foreign or newer file before changing anything, even its journal
    if kind == "empty" or conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        _retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
    if kind != "current":
        _upgrade(conn, path)
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash of the process loses nothing committed
    conn.execute("PRAGMA foreign_keys=ON")


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema in an empty database, or migrate an older one, in one write transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        kind = _inspect(conn, path)
        if kind == "empty":
            _create(conn)
        elif kind == "old":
            migrate(conn, conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _create(conn: sqlite3.Connection) -> None:
    for ddl in (SESSIONS, *EVENT_LOG):
        conn.execute(ddl)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _retry(step, deadline_s: float = BUSY_TIMEOUT_S):
    """Run `step` again while another process holds a lock it needs (switching to WAL does not always wait)."""
    deadline = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


# --- migration --------------------------------------------------------------------------------------------

def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Schema 1, 2 or 3 -> 4, inside the caller's transaction. From 1 or 2, every old sweep becomes the events
    that rebuild it (a sweep the old store never finished, a crash or Ctrl-C, becomes interrupted, with what it
    recorded); from 3, sessions learn whether they were imported (none before 4 is marked: schema 3 stored
    imports like any session, so an import made before 4 reads as recorded here), and events stored under
    their old names (RunStarted, ...) take this version's, which the readers' SQL filters on."""
    if version < 3:
        _event_log(conn, version)
    conn.executemany("UPDATE events SET kind = ? WHERE kind = ?", [(new, old) for old, new in EVENT_ALIASES.items()])
    conn.execute(f"ALTER TABLE sessions ADD COLUMN {IMPORTED}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _event_log(conn: sqlite3.Connection, version: int) -> None:
    """Schema 1 or 2 -> 3: the event log."""
    from initdash.session import events_of
    from initdash.store import codec, legacy

    for ddl in EVENT_LOG:
        conn.execute(ddl)
    for session_id, created, config_text, sweeps in legacy.read_sessions(conn, version):
        config_text = _normalized(config_text)
        conn.execute("UPDATE sessions SET config = ? WHERE id = ?", (config_text, session_id))
        for record, state in sweeps:
            conn.execute("INSERT INTO sweeps (session, sweep, config, state, started) VALUES (?, ?, ?, ?, ?)",
                         (session_id, record.sweep_id, config_text, state, created))
            conn.executemany("INSERT INTO events (session, sweep, seq, kind, initializer, body) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             [(session_id, record.sweep_id, seq, *codec.encode(event))
                              for seq, event in enumerate(events_of(record), start=1)])
    for table in ("layers", "epochs", "runs", "workers"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _normalized(config_text: str) -> str:
    """An old config (an MLP's `hidden` at the top level) in this version's form; as it was if unreadable."""
    import json

    from initdash.config import ExperimentConfig

    try:
        return json.dumps(ExperimentConfig.from_dict(json.loads(config_text)).to_dict())
    except (ValueError, TypeError, KeyError, AttributeError, UserError):
        return config_text
