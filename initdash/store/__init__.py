"""The SQLite history: every sweep's events as they happen, replayed into a Session when read back.

    schema.py   the file: tables, versions and migration, opening it to write (creating it) or to read
    codec.py    events <-> JSON, exactly
    writer.py   HistoryWriter: sessions, sweeps, events (what a Recorder writes through)
    reader.py   HistoryReader / open_reader: the list of sessions, and a session replayed through Session.apply
    legacy.py   the tables of schemas 1 and 2, read for the migration
"""

from initdash.store.reader import HistoryReader, SessionInfo, open_reader
from initdash.store.schema import APPLICATION_ID, ENV_DB, SCHEMA_VERSION, default_path
from initdash.store.writer import HistoryWriter

__all__ = ["APPLICATION_ID", "ENV_DB", "SCHEMA_VERSION", "HistoryReader", "HistoryWriter", "SessionInfo",
           "default_path", "open_reader"]
