"""The SQLite history: an event log written as it happens and replayed into the very Session it came from."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import struct
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from fakes import config, make_session, run_events, sweep_events

from initdash import store
from initdash.config import ExperimentConfig
from initdash.errors import UserError
from initdash.events import (
    DIVERGED,
    METRICS,
    OK,
    EpochDone,
    EpochReport,
    RunOutcome,
    UnitFailed,
    UnitFinished,
    UnitStarted,
)
from initdash.export import json_csv
from initdash.initializers import parse_list
from initdash.models.spec import ModelSpec
from initdash.recorder import Recorder
from initdash.session import Session
from initdash.stats import compute
from initdash.store import HistoryWriter, open_reader
from initdash.store.codec import decode, encode

HERE = Path(__file__).resolve().parent
NAN = float("nan")


# --- helpers ----------------------------------------------------------------------------------------------

def exact(obj):
    """A structure that compares equal only if every float is the same bits and every container the same type."""
    if isinstance(obj, float):
        return ("float", struct.pack(">d", obj))
    if isinstance(obj, dict):
        return ("dict", [(k, exact(v)) for k, v in obj.items()])
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [exact(v) for v in obj])
    if is_dataclass(obj):
        return (type(obj).__name__, [(f.name, exact(getattr(obj, f.name))) for f in fields(obj)])
    return (type(obj).__name__, obj)


def same_session(a: Session, b: Session) -> None:
    assert a.config == b.config and a.config.to_dict() == b.config.to_dict()
    assert a.data_label == b.data_label
    assert [(s.sweep_id, s.state) for s in a.sweeps] == [(s.sweep_id, s.state) for s in b.sweeps]
    assert exact(a.sweeps) == exact(b.sweeps)  # every float, every status, every worker state


def layered_events(sweep_id: int, label: str, repeats: int = 2, epochs: int = 3, diverge: int | None = None,
                   stop_after: int | None = None, zero: float = -0.0) -> list:
    """A worker of an MLP: per-layer statistics (one of them overflowed: None), repeat `diverge` diverging."""
    seeds = tuple(900 + 31 * sweep_id + i for i in range(repeats))
    names = ("layers.0", "layers.2")
    out: list = [UnitStarted(sweep_id, label, seeds, names)]
    histories: list[list[dict]] = [[] for _ in seeds]
    statuses = [OK] * repeats
    for epoch in range(epochs + 1):
        if diverge is not None and epoch == 2:
            statuses[diverge] = DIVERGED
        rows = [{m: 1 / (3 + epoch + i + k) for k, m in enumerate(METRICS)} for i in range(repeats)]
        values = {m: tuple(rows[i][m] if statuses[i] == OK else NAN for i in range(repeats)) for m in METRICS}
        layers = {"activation_std": tuple((0.1 * (epoch + 1) + i / 7, None if epoch == 1 else 2.5e-300)
                                          for i in range(repeats)),
                  "grad_norm": tuple((1e300 * (i + 1), zero) for i in range(repeats))}
        for i in range(repeats):
            if statuses[i] == OK:
                histories[i].append({"epoch": epoch, **rows[i], **{k: list(v[i]) for k, v in layers.items()}})
        out.append(EpochDone(sweep_id, label, EpochReport(epoch, values, tuple(statuses), layers)))
        if stop_after is not None and epoch == stop_after:
            return out
    out.append(UnitFinished(sweep_id, label, tuple(RunOutcome(s, st, tuple(h))
                                                  for s, st, h in zip(seeds, statuses, histories))))
    return out


def mlp_config(**changes) -> ExperimentConfig:
    return ExperimentConfig(initializers=parse_list("he_normal,zeros,normal:std=0.5"), repeats=2, epochs=3, seed=11,
                            model=ModelSpec(name="mlp", hidden=(8, 4), activation="tanh"), **changes)


def recorded(writer: HistoryWriter) -> Session:
    """Every way a sweep can go, recorded through a Recorder into `writer` as the dashboard would."""
    cfg = mlp_config()
    session = Session(cfg, "fake mlp data")
    writer.start_session(cfg, session.data_label)
    rec = Recorder(session, writer, on_failure=lambda e: None, on_store_error=pytest.fail)
    # 1: complete, with a diverged run and per-layer statistics
    sid = rec.begin_sweep()
    for e in layered_events(sid, "he_normal", diverge=1) + layered_events(sid, "zeros") + \
            layered_events(sid, "normal:std=0.5"):
        assert rec.apply(e)
    # 2: complete although one worker failed mid-way and another failed before it started
    sid = rec.begin_sweep()
    for e in layered_events(sid, "he_normal") + layered_events(sid, "zeros", stop_after=1):
        rec.apply(e)
    rec.apply(UnitFailed(sid, "zeros", "RuntimeError: boom", "Traceback ...", (1, 2)))
    rec.apply(UnitFailed(sid, "normal:std=0.5", "ValueError: bad", "Traceback ...", (3, 4)))
    # 3: replaced by a rerun half-way (cancelled), with a late event of it that must be dropped
    sid = rec.begin_sweep()
    late = layered_events(sid, "zeros")
    for e in late[:3]:
        rec.apply(e)
    sid = rec.begin_sweep()
    assert not rec.apply(late[3])
    # 4: complete; 5: interrupted (q, Ctrl-C) after two epochs; 6: interrupted before anything: forgotten
    for e in layered_events(sid, "he_normal") + layered_events(sid, "zeros") + layered_events(sid, "normal:std=0.5"):
        rec.apply(e)
    sid = rec.begin_sweep(cfg.with_changes(repeats=3))  # --open may change the repeats
    for e in layered_events(sid, "zeros", repeats=3, stop_after=1) + layered_events(sid, "he_normal", repeats=3):
        rec.apply(e)
    rec.end_sweep("interrupted")
    rec.begin_sweep()
    rec.end_sweep("interrupted")
    assert [(s.sweep_id, s.state) for s in session.sweeps] == \
        [(1, "complete"), (2, "complete"), (3, "cancelled"), (4, "complete"), (5, "interrupted")]
    return session


# --- events ---------------------------------------------------------------------------------------------

def test_events_round_trip_exactly():
    odd = (NAN, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1 / 3)
    events = [*layered_events(7, "he_normal", diverge=0), *run_events(7, "zeros", [0.5, None]),
              EpochDone(7, "x", EpochReport(3, {"loss": odd}, (OK,) * len(odd), {"grad_norm": ((None, 1.0),)})),
              UnitFailed(7, "normal:std=0.5", "boom", "Traceback\n  line", (2**63 - 1, 0)),
              UnitStarted(7, "ünïcode ✓", ())]
    for event in events:
        kind, label, body = encode(event)
        back = decode(kind, 7, label, body)
        assert type(back) is type(event) and exact(back) == exact(event)
    with pytest.raises(ValueError, match="unknown event kind"):
        decode("Bogus", 1, "x", "{}")


# --- replay -------------------------------------------------------------------------------------------

def test_replay_is_the_session_in_memory(tmp_path):
    db = tmp_path / "h.db"
    with HistoryWriter.open(db) as writer:
        original = recorded(writer)
        same_session(original, writer.load_session(writer.session_id))
    with open_reader(db) as reader:
        loaded = reader.load_session(1)
        [info] = reader.sessions()
    same_session(original, loaded)
    assert loaded.sweeps[1].initializers["zeros"].error == "RuntimeError: boom"
    assert loaded.sweeps[4].initializers["zeros"].status_text(3) == "interrupted at epoch 1/3"
    assert [s.sweep_id for s in loaded.completed()] == [1, 2, 4]
    assert json_csv.to_json(loaded) == json_csv.to_json(original)
    assert json_csv.to_csv(loaded) == json_csv.to_csv(original)
    assert json_csv.to_layers_csv(loaded) == json_csv.to_layers_csv(original)
    assert compute(loaded) == compute(original)
    assert (info.sweeps, info.interrupted, info.runs) == (3, 1, 18)
    assert (info.model, info.initializers, info.executor, info.seed) == \
        ("mlp 8-4 tanh", ("he_normal", "zeros", "normal:std=0.5"), "local", 11)
    assert info.to_dict()["interrupted"] == 1


def test_fake_sessions_round_trip(tmp_path):
    labels = ("he_normal", "zeros", "uniform")
    cfg = config(",".join(labels), repeats=3, epochs=4)
    with HistoryWriter.open(tmp_path / "h.db") as writer:
        original = make_session([{k: [0.9, None, 0.7] for k in labels}, {k: [0.6, 0.5, 0.4] for k in labels}],
                                cfg, writer)
    with open_reader(tmp_path / "h.db") as reader:
        same_session(original, reader.load_session(1))


def test_config_and_file_hashes_round_trip(tmp_path):
    model = ModelSpec(name=str(tmp_path / "net.py") + ":build").with_source("def build(): ...\n")
    cfg = ExperimentConfig(data=str(tmp_path / "d.csv"), target="class", split_seed=3, model=model,
                           optimizer="adam", lr=3e-4, batch_size=7, epochs=2, seed=2**63 - 1, repeats=2,
                           initializers=parse_list("uniform,variance_scaling:scale=2,mode=fan_out,constant:value=1e-20"),
                           data_digest="ab" * 32)
    with HistoryWriter.open(tmp_path / "h.db") as writer:
        writer.start_session(cfg, "d.csv (2 rows)")
        sid = writer.begin_sweep(cfg)
        writer.append(sid, UnitStarted(sid, "uniform", (1, 2)))
        writer.end_sweep(sid, "interrupted")
    with open_reader(tmp_path / "h.db") as reader:
        back = reader.load_session(1).config
    assert back == cfg and back.to_dict() == cfg.to_dict()
    assert back.model.digest == model.digest and back.data_digest == "ab" * 32 and back.lr == 3e-4
    assert ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


# --- sweeps and processes -------------------------------------------------------------------------------

def test_two_writers_on_one_session_get_distinct_sweeps_and_never_touch_each_other(tmp_path):
    db = tmp_path / "h.db"
    cfg = config("zeros", repeats=1)
    with HistoryWriter.open(db) as a, HistoryWriter.open(db) as b:
        sid = a.start_session(cfg, "fake")
        b.continue_session(sid)
        assert b.config == cfg
        assert [a.begin_sweep(), b.begin_sweep(), a.begin_sweep(at_least=2), b.begin_sweep(at_least=9)] == [1, 2, 3, 9]
        for writer, sweep in ((a, 1), (b, 2), (a, 3)):
            for e in run_events(sweep, "zeros", [0.5])[:None if sweep == 1 else 3]:
                writer.append(sweep, e)
        b.end_sweep(1, "cancelled")  # not b's: nothing happens
        with pytest.raises(UserError, match="sweep 1 of session 1 is not being recorded by this process"):
            b.append(1, run_events(1, "zeros", [0.5])[0])
        a.end_sweep(1, "complete")
        a.end_sweep(3, "cancelled")
    # b closed with sweep 2 (events) still open: interrupted; sweep 9 (no events): deleted
    with open_reader(db) as reader:
        loaded = reader.load_session(sid)
    assert [(s.sweep_id, s.state) for s in loaded.sweeps] == [(1, "complete"), (2, "interrupted"), (3, "cancelled")]
    with pytest.raises(UserError, match="no session 5 in"):
        HistoryWriter.open(db).continue_session(5)


def test_dead_or_reused_owner_reads_as_interrupted(tmp_path):
    db = tmp_path / "h.db"
    writer = HistoryWriter.open(db)
    sid = writer.start_session(config("zeros", repeats=1), "fake")
    for sweep in (writer.begin_sweep(), writer.begin_sweep()):
        for e in run_events(sweep, "zeros", [0.5])[:2]:
            writer.append(sweep, e)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sweeps SET owner_pid = ? WHERE sweep = 1", (int(dead),))
    with open_reader(db) as reader:
        assert [(s.sweep_id, s.state) for s in reader.load_session(sid).sweeps] == [(1, "interrupted"), (2, "running")]
        assert reader.sessions()[0].interrupted == 1
    with sqlite3.connect(db) as conn:  # our own pid, but another start time: the pid was reused
        conn.execute("UPDATE sweeps SET owner_pid = ?, owner_started = '1' WHERE sweep = 1", (os.getpid(),))
        conn.execute("UPDATE sweeps SET owner_host = 'elsewhere' WHERE sweep = 2")  # cannot tell: still running
    with open_reader(db) as reader:
        assert [(s.sweep_id, s.state) for s in reader.load_session(sid).sweeps] == [(1, "interrupted"), (2, "running")]
    writer.close()


WRITER = """
import sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from fakes import config, sweep_events
from initdash.recorder import Recorder
from initdash.session import Session
from initdash.store import HistoryWriter
cfg = config("he_normal,zeros", repeats=3, epochs=4)
writer = HistoryWriter.open(sys.argv[1])
session = Session(cfg, "fake")
writer.start_session(cfg, "fake")
rec = Recorder(session, writer)
written, pause = 0, int(sys.argv[4])
while True:
    sid = rec.begin_sweep()
    for e in sweep_events(sid, {"he_normal": [0.9, 0.8, 0.7], "zeros": [0.5, 0.5, 0.5]}, epochs=4):
        rec.apply(e)
        written += 1
        print(sid, written, flush=True)
        if written == pause:
            sys.stdin.read()  # wait here for the kill
"""
PER_SWEEP = 14  # 2 workers x (UnitStarted, 5 epochs, UnitFinished)


def killed_writer(db: Path, pause: int, kill_at: int) -> int:
    """Run WRITER until it printed `kill_at` lines (or paused after `pause` events); kill -9 it; the events it
    reported written."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(HERE.parent), str(HERE), str(pause)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    written = 0
    try:
        for line in proc.stdout:
            written = int(line.split()[1])
            if written >= min(pause, kill_at):
                break
        proc.kill()
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert proc.returncode == -9
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] >= written  # every committed event
    conn.close()
    return written


def test_kill_9_anywhere_leaves_complete_sweeps_and_at_most_one_interrupted(tmp_path):
    db = tmp_path / "h.db"
    killed_writer(db, pause=10**9, kill_at=3 * PER_SWEEP)  # killed wherever it is by then
    with open_reader(db) as reader:
        [info] = reader.sessions()
        states = [s.state for s in reader.load_session(1).sweeps]
    done = states[:-1] if states[-1] == "interrupted" else states
    assert len(done) >= 2 and set(done) == {"complete"} and (info.sweeps, info.interrupted) == \
        (len(done), len(states) - len(done))


def test_kill_9_mid_sweep_keeps_what_it_recorded_and_the_session_goes_on(tmp_path):
    db = tmp_path / "h.db"
    assert killed_writer(db, pause=2 * PER_SWEEP + 5, kill_at=10**9) == 2 * PER_SWEEP + 5
    with open_reader(db) as reader:
        [info] = reader.sessions()
        session = reader.load_session(1)
    assert [(s.sweep_id, s.state) for s in session.sweeps] == [(1, "complete"), (2, "complete"), (3, "interrupted")]
    assert (info.sweeps, info.interrupted, info.runs) == (2, 1, 12)
    cut = session.sweeps[-1]
    assert [g.status_text(4) for g in cut.initializers.values()] == \
        ["interrupted at epoch 1/4", "interrupted at epoch 0/4"]
    assert [len(h) for g in cut.initializers.values() for h in g.histories] == [2, 2, 2, 1, 1, 1]
    assert all(len(h) == 5 for s in session.completed() for g in s.initializers.values() for h in g.histories)
    # a new process continues the session: the next id; the interrupted sweep stays as it was
    with HistoryWriter.open(db) as writer:
        writer.continue_session(1)
        again = writer.load_session(1)
        rec = Recorder(again, writer, on_store_error=pytest.fail)
        sid = rec.begin_sweep()
        assert sid == 4
        for e in sweep_events(sid, {"he_normal": [0.6] * 3, "zeros": [0.4] * 3}, epochs=4):
            rec.apply(e)
    with open_reader(db) as reader:
        final = reader.load_session(1)
    same_session(again, final)
    assert exact(final.sweeps[2]) == exact(cut)


def test_full_disk_is_one_line_and_earlier_sweeps_stay(tmp_path):
    db = tmp_path / "h.db"
    cfg = config("he_normal,zeros", repeats=3, epochs=4)
    errors: list[str] = []
    with HistoryWriter.open(db) as writer:
        session = Session(cfg, "fake")
        writer.start_session(cfg, "fake")
        rec = Recorder(session, writer, on_store_error=errors.append)
        for _ in range(2):
            sid = rec.begin_sweep()
            for e in sweep_events(sid, {"he_normal": [0.9] * 3, "zeros": [0.5] * 3}, epochs=4):
                rec.apply(e)
        pages = writer.conn.execute("PRAGMA page_count").fetchone()[0]
        writer.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
        for _ in range(3):
            sid = rec.begin_sweep()
            for e in sweep_events(sid, {"he_normal": [0.8] * 3, "zeros": [0.4] * 3}, epochs=4):
                rec.apply(e)
    assert len(errors) == 1 and "\n" not in errors[0] and "disk full" in errors[0], errors
    assert [s.state for s in session.sweeps] == ["complete"] * 5  # training went on
    with open_reader(db) as reader:
        loaded = reader.load_session(1)
    assert [s.sweep_id for s in loaded.completed()] == [1, 2]
    assert exact(loaded.sweeps[:2]) == exact(session.sweeps[:2])
    assert all(s.state == "interrupted" for s in loaded.sweeps[2:])


# --- files ----------------------------------------------------------------------------------------------

def snapshot(path: Path) -> tuple:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_size


def test_newer_schema_and_foreign_files_are_refused_untouched(tmp_path):
    db = tmp_path / "h.db"
    HistoryWriter.open(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = snapshot(db)
    for opening in (lambda: HistoryWriter.open(db), lambda: open_reader(db), lambda: open_reader(db, writing=True)):
        with pytest.raises(UserError, match="newer initdash .*schema 99"):
            opening()
    assert snapshot(db) == before
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 50)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    for path in (text, other):
        before = snapshot(path)
        for opening in (HistoryWriter.open, open_reader):
            with pytest.raises(UserError, match="is not an initdash history database") as err:
                opening(path)
            assert "\n" not in str(err.value)
        assert snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db", "notes.db", "other.db"]


def test_reader_creates_nothing(tmp_path):
    with pytest.raises(UserError, match="no history database at"):
        open_reader(tmp_path / "missing.db")
    empty = tmp_path / "empty.db"
    empty.touch()
    before = snapshot(empty)
    with open_reader(empty) as reader:
        assert reader.sessions() == []
        with pytest.raises(UserError, match="no session 1 in"):
            reader.load_session(1)
    assert snapshot(empty) == before
    with pytest.raises(UserError, match="is a directory"):
        open_reader(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_writer_errors_are_one_line(tmp_path):
    with HistoryWriter.open(tmp_path / "h.db") as writer:
        for sid in (42, 2**63 - 1):
            with pytest.raises(UserError, match=f"no session {sid} in"):
                writer.load_session(sid)
    with pytest.raises(UserError, match="is a directory"):
        HistoryWriter.open(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        HistoryWriter.open(tmp_path / "nope" / "h.db")
    assert not (tmp_path / "nope").exists()


def test_default_path_and_pragmas(tmp_path, monkeypatch):
    assert store.default_path() == tmp_path / "default-history.db"
    with HistoryWriter.open() as writer:
        assert writer.path == tmp_path / "default-history.db"
        pragma = lambda name: writer.conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert (pragma("journal_mode"), pragma("synchronous"), pragma("foreign_keys")) == ("wal", 1, 1)
        assert (pragma("application_id"), pragma("user_version")) == (store.APPLICATION_ID, store.SCHEMA_VERSION)
    monkeypatch.setenv("INITDASH_DB", str(tmp_path / "deep" / "er" / "h.db"))
    HistoryWriter.open().close()  # the default location's directories are made
    assert (tmp_path / "deep" / "er" / "h.db").is_file()


# --- schemas 1 and 2 -----------------------------------------------------------------------------------

OLD_DDL = """
CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, config TEXT NOT NULL,
    data_label TEXT NOT NULL, root_seed INTEGER NOT NULL, version TEXT NOT NULL);
CREATE TABLE workers (session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, rerun INTEGER NOT NULL,
    initializer TEXT NOT NULL, position INTEGER NOT NULL, state TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT -1,
    error TEXT NOT NULL DEFAULT '', PRIMARY KEY (session, rerun, initializer));
CREATE TABLE runs (id INTEGER PRIMARY KEY, session INTEGER NOT NULL, rerun INTEGER NOT NULL,
    initializer TEXT NOT NULL, repeat INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL,
    UNIQUE (session, rerun, initializer, repeat),
    FOREIGN KEY (session, rerun, initializer) REFERENCES workers(session, rerun, initializer) ON DELETE CASCADE);
CREATE TABLE epochs (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    loss REAL NOT NULL, accuracy REAL NOT NULL, val_loss REAL NOT NULL, val_accuracy REAL NOT NULL,
    PRIMARY KEY (run, epoch)) WITHOUT ROWID;
"""
OLD_LAYERS = """
CREATE TABLE layers (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    layer INTEGER NOT NULL, activation_std REAL, grad_norm REAL, PRIMARY KEY (run, epoch, layer)) WITHOUT ROWID;
"""


def old_database(path: Path, version: int) -> Session:
    """A history as initdash wrote it before the event log (schema 1 or 2), holding the Session it returns:
    two complete sweeps and one cut off by a crash (one worker still queued)."""
    cfg = mlp_config()
    session = Session(cfg, "old data")
    for sid in (1, 2, 3):
        session.begin_sweep(sid)
        # zero=0.0: the old tables' REAL columns kept -0.0 as 0
        events = layered_events(sid, "he_normal", diverge=0 if sid == 2 else None, zero=0.0) + \
            layered_events(sid, "zeros", zero=0.0)
        if sid == 3:
            events = events[:3]
        else:
            events += layered_events(sid, "normal:std=0.5", zero=0.0)
        for e in events:
            session.apply(UnitStarted(sid, e.initializer, e.seeds) if isinstance(e, UnitStarted) else e)
    session.end_current("interrupted")
    if version == 1:  # no per-layer statistics then
        for s in session.sweeps:
            for g in s.initializers.values():
                g.histories = [[{k: v for k, v in h.items() if k == "epoch" or k in METRICS} for h in hs]
                               for hs in g.histories]
    old = {**cfg.to_dict(), "hidden": [8, 4], "activation": "tanh"}
    del old["model"]  # the old config: an MLP's sizes at the top level
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_DDL + (OLD_LAYERS if version == 2 else ""))
    conn.execute(f"PRAGMA application_id = {store.APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO sessions VALUES (1, '2024-05-01T10:00:00+00:00', ?, 'old data', 11, '0.0.9')",
                 (json.dumps(old),))
    for s in session.sweeps:
        for pos, (label, g) in enumerate(s.initializers.items()):
            state = {"interrupted": "running"}.get(g.state, g.state)  # the old store never knew interrupted
            conn.execute("INSERT INTO workers VALUES (1, ?, ?, ?, ?, ?, ?)", (s.sweep_id, label, pos, state, g.epoch,
                                                                            g.error))
            for i, seed in enumerate(g.seeds):
                status = OK if g.statuses[i] == "interrupted" else g.statuses[i]
                run = conn.execute("INSERT INTO runs (session, rerun, initializer, repeat, seed, status) "
                                   "VALUES (1, ?, ?, ?, ?, ?)", (s.sweep_id, label, i, seed, status)).lastrowid
                for h in g.histories[i]:
                    conn.execute("INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?)",
                                 (run, h["epoch"], *(h[m] for m in METRICS)))
                    for layer, values in enumerate(zip(h.get("activation_std", ()), h.get("grad_norm", ())), 1):
                        conn.execute("INSERT INTO layers VALUES (?, ?, ?, ?, ?)", (run, h["epoch"], layer, *values))
    conn.commit()
    conn.close()
    session.config = ExperimentConfig.from_dict(old)
    return session


@pytest.mark.parametrize("version", [1, 2])
def test_old_schema_is_read_in_memory_and_migrated_when_written(tmp_path, version):
    db = tmp_path / "h.db"
    expected = old_database(db, version)
    assert [(s.sweep_id, s.state) for s in expected.sweeps] == [(1, "complete"), (2, "complete"), (3, "interrupted")]
    before = snapshot(db)
    with open_reader(db) as reader:  # read: a migrated copy in memory, the file as it was
        [info] = reader.sessions()
        same_session(expected, reader.load_session(1))
    assert snapshot(db) == before
    assert (info.sweeps, info.interrupted, info.runs, info.model, info.created) == \
        (2, 1, 12, "mlp 8-4 tanh", "2024-05-01T10:00:00+00:00")
    with HistoryWriter.open(db) as writer:  # written: migrated in place, once
        assert writer.conn.execute("PRAGMA user_version").fetchone() == (store.SCHEMA_VERSION,)
        tables = {r[0] for r in writer.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not tables & {"workers", "runs", "epochs", "layers"}
        same_session(expected, writer.load_session(1))
        writer.continue_session(1)
        loaded = writer.load_session(1)
        rec = Recorder(loaded, writer, on_store_error=pytest.fail)
        sid = rec.begin_sweep()
        for e in layered_events(sid, "zeros") + layered_events(sid, "he_normal") + \
                layered_events(sid, "normal:std=0.5"):
            rec.apply(e)
    assert sid == 4
    with open_reader(db) as reader:
        same_session(loaded, reader.load_session(1))


def test_every_setting_survives_to_dict_and_from_dict():
    """Each field set away from its default comes back (a field the reading side forgot would fail here)."""
    from dataclasses import fields

    model = ModelSpec("resnet", channels=(8,), depth=2)
    cfg = ExperimentConfig(data="d.csv", target="class", split_seed=3, model=model,
                           optimizer="adam", lrs=(0.1, 0.01), widths=(4, 8), batch_size=7, epochs=2,
                           initializers=parse_list("uniform,zeros"), repeats=3, seed=5, design="independent",
                           device="cuda", executor="ray", ray_address="127.0.0.1:6379", data_digest="ab" * 32,
                           apply_to=("kernel", "embedding"), left_to_module=("temperature",), layer_stats=True)
    default = ExperimentConfig()
    unchanged = {f.name for f in fields(cfg) if getattr(cfg, f.name) == getattr(default, f.name)}
    assert unchanged == {"lr"}  # a grid's lr axis stands in for it (lr: test_config_and_file_hashes_round_trip)
    assert ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
