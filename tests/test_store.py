"""The SQLite history: written event by event, read back number for number, safe against kill -9."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import config, make_session, run_events, sweep_events

from initdash import report, store
from initdash.errors import UserError
from initdash.events import CANCELLED, RunFailed, RunFinished, RunOutcome
from initdash.initializers import parse_list
from initdash.stats import compute
from initdash.store import Store, config_from_json, config_to_json

HERE = Path(__file__).resolve().parent


def rand_sweeps(n: int, labels: tuple[str, ...], repeats: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    return [{label: [rng.random() for _ in range(repeats)] for label in labels} for _ in range(n)]


def same_session(a, b) -> None:
    assert a.config == b.config and a.config.to_dict() == b.config.to_dict()
    assert a.data_label == b.data_label
    assert [s.sweep_id for s in a.sweeps] == [s.sweep_id for s in b.sweeps]
    for sa, sb in zip(a.sweeps, b.sweeps):
        assert list(sa.runs) == list(sb.runs)
        for ra, rb in zip(sa.runs.values(), sb.runs.values()):
            assert (ra.label, ra.seeds, ra.state, ra.epoch, ra.statuses, ra.error) == \
                (rb.label, rb.seeds, rb.state, rb.epoch, rb.statuses, rb.error)
            assert ra.histories == rb.histories  # every float compared with ==: bit for bit
            for ha, hb in zip(ra.histories, rb.histories):
                for ea, eb in zip(ha, hb):
                    assert all(type(ea[k]) is type(eb[k]) for k in ea)


def test_round_trip_every_number(tmp_path):
    labels = ("he_normal", "zeros", "uniform")
    with Store.open(tmp_path / "h.db") as st:
        original = make_session(rand_sweeps(3, labels, 3), config(",".join(labels), repeats=3, epochs=4), st)
        sid = st.session_id
    with Store.open(tmp_path / "h.db") as st:
        loaded = st.load_session(sid)
    same_session(original, loaded)
    assert report.to_json(loaded) == report.to_json(original)
    assert report.to_csv(loaded) == report.to_csv(original)
    assert compute(loaded) == compute(original)
    report.write(loaded, tmp_path / "x.json")
    assert (tmp_path / "x.json").read_text() == report.to_json(original)


def test_diverged_failed_and_cancelled_are_kept_as_they_were(tmp_path):
    cfg = config("he_normal,zeros", repeats=2, epochs=3)
    with Store.open(tmp_path / "h.db") as st:
        session = make_session([{"he_normal": [0.9, None], "zeros": [0.5, 0.6]}], cfg, st)
        # sweep 2: zeros' worker raises after one epoch
        session.begin_sweep(2), st.begin_sweep(2)
        events = run_events(2, "he_normal", [0.8, 0.7], 3) + run_events(2, "zeros", [0.4, 0.4], 3)[:2]
        events.append(RunFailed(2, "zeros", "RuntimeError: boom", "Traceback ..."))
        # sweep 3: cancelled by every worker (finished, so the Session keeps it; statistics leave it out)
        for e in events:
            assert session.apply(e) and st.record(e)
        session.begin_sweep(3), st.begin_sweep(3)
        for label in ("he_normal", "zeros"):
            evs = run_events(3, label, [0.9, 0.9], 3)[:3]
            outcomes = tuple(RunOutcome(s, CANCELLED, tuple({"epoch": e, **{m: 0.25 + e for m in
                             ("loss", "accuracy", "val_loss", "val_accuracy")}} for e in range(2)))
                             for s in evs[0].seeds)
            for e in [*evs, RunFinished(3, label, outcomes)]:
                assert session.apply(e) and st.record(e)
        assert [s.sweep_id for s in session.completed()] == [1, 2]
        loaded = st.load_session(st.session_id)
    same_session(session, loaded)
    assert report.to_json(loaded) == report.to_json(session)
    assert loaded.sweeps[1].runs["zeros"].error == "RuntimeError: boom"
    assert [s.sweep_id for s in loaded.completed()] == [1, 2]
    assert compute(loaded) == compute(session)
    # the next sweep drops the cancelled one, in the Session and in the store alike
    with Store.open(tmp_path / "h.db") as st:
        st.continue_session(1)
        loaded.begin_sweep(4), st.begin_sweep(4)
        for e in sweep_events(4, {"he_normal": [0.6, 0.6], "zeros": [0.5, 0.5]}, 3):
            assert loaded.apply(e) and st.record(e)
        again = st.load_session(1)
    assert [s.sweep_id for s in loaded.sweeps] == [s.sweep_id for s in again.sweeps] == [1, 2, 4]
    assert report.to_json(again) == report.to_json(loaded)


def test_replaced_and_interrupted_sweeps_are_dropped_and_ids_continue(tmp_path):
    cfg = config("he_normal,zeros", repeats=1)
    with Store.open(tmp_path / "h.db") as st:
        session = make_session([{"he_normal": [0.9], "zeros": [0.5]}], cfg, st)
        sid = st.session_id
        session.begin_sweep(2), st.begin_sweep(2)  # rerun pressed mid-sweep: sweep 2 is replaced by 3
        for e in run_events(2, "zeros", [0.7])[:3]:
            session.apply(e), st.record(e)
        session.begin_sweep(3), st.begin_sweep(3)
        assert not st.record(run_events(2, "zeros", [0.7])[3])  # a late event of the replaced sweep
        for e in sweep_events(3, {"he_normal": [0.8], "zeros": [0.6]}):
            session.apply(e), st.record(e)
        st.begin_sweep(4)  # a sweep cut off by a crash: started, one epoch written, never finished
        for e in run_events(4, "zeros", [0.1])[:2]:
            st.record(e)
        assert [s.sweep_id for s in st.load_session(sid).sweeps] == [1, 3]
        assert st.sessions()[0].sweeps == 2 and st.sessions()[0].runs == 4
    with Store.open(tmp_path / "h.db") as st:
        again = st.load_session(sid)
        same_session(session, again)
        st.continue_session(sid)
        assert again.next_sweep_id == 4
        again.begin_sweep(4), st.begin_sweep(4)
        for e in sweep_events(4, {"he_normal": [0.85], "zeros": [0.55]}):
            again.apply(e), st.record(e)
        final = st.load_session(sid)
    assert [s.sweep_id for s in final.sweeps] == [1, 3, 4]
    assert report.to_json(final) == report.to_json(again)
    with Store.open(tmp_path / "h.db") as st:
        st.continue_session(sid)
        with pytest.raises(UserError, match="already has sweep 3 or later"):  # never overwrite a finished sweep
            st.begin_sweep(3)
        assert [s.sweep_id for s in st.load_session(sid).sweeps] == [1, 3, 4]


def test_config_round_trip():
    cfg = config("uniform,normal:std=0.5,variance_scaling:scale=2,mode=fan_out,constant:value=1e-20").with_changes(
        hidden=(16, 8), activation="tanh", optimizer="adam", target="class", data="x.csv", split_seed=3, seed=2**62)
    back = config_from_json(config_to_json(cfg))
    assert back == cfg and [s.label for s in back.initializers] == [s.label for s in cfg.initializers]
    assert back.lr is None and back.to_dict() == cfg.to_dict()
    assert back.initializers == parse_list("uniform,normal:std=0.5,variance_scaling:scale=2,mode=fan_out,"
                                           "constant:value=1e-20")


WRITER = """
import itertools, sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from fakes import config, sweep_events
from initdash.store import Store
st = Store.open(sys.argv[1])
cfg = config("he_normal,zeros", repeats=3, epochs=4)
st.start_session(cfg, "fake")
epochs = 0
for sid in itertools.count(1):
    st.begin_sweep(sid)
    for e in sweep_events(sid, {"he_normal": [0.9, 0.8, 0.7], "zeros": [0.5, 0.5, 0.5]}, epochs=4):
        st.record(e)
        if type(e).__name__ == "EpochDone":
            epochs += 3
            print(sid, epochs, flush=True)
"""


def test_kill_9_mid_write_leaves_a_readable_database(tmp_path):
    db = tmp_path / "h.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(HERE.parent), str(HERE)],
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            line = proc.stdout.readline()
            assert line, "writer died"
            sweep, written = map(int, line.split())
            if sweep >= 3 and written % 30 not in (0, 3):  # somewhere inside sweep 3 or later
                break
            assert time.monotonic() < deadline
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] >= written  # every committed epoch is there
    conn.close()
    with Store.open(db) as st:
        [info] = st.sessions()
        session = st.load_session(info.id)
        in_flight = {r for (r,) in st.conn.execute("SELECT rerun FROM workers WHERE state IN ('queued', 'running')")}
        # the writer may have run a little past the last line we read before the kill landed
        done = [s.sweep_id for s in session.sweeps]
        assert done == list(range(1, len(done) + 1)) and len(done) >= sweep - 1 and info.sweeps == len(done)
        assert not in_flight & set(done)  # the sweep in flight is not loaded
        assert all(len(h) == 5 for s in session.sweeps for r in s.runs.values() for h in r.histories)


def test_newer_schema_is_refused_untouched(tmp_path):
    db = tmp_path / "h.db"
    Store.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(UserError, match="newer initdash .*schema 99"):
        Store.open(db)
    assert db.read_bytes() == before


def test_not_a_database_is_refused(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 50)
    with pytest.raises(UserError, match="not an initdash history database"):
        Store.open(text)
    assert text.read_text().startswith("these are my notes")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="not an initdash history database"):
        Store.open(other)
    assert sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]


def test_older_schema_migrates(tmp_path, monkeypatch):
    db = tmp_path / "h.db"
    with Store.open(db) as st:
        make_session([{"zeros": [0.5]}], store=st)
        sid = st.session_id
    # Make it a version-1 database: no per-layer table yet.
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE layers")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store.open(db) as st:
        assert st.conn.execute("PRAGMA user_version").fetchone() == (2,)
        assert st.conn.execute("SELECT COUNT(*) FROM layers").fetchone() == (0,)
        assert st.load_session(sid).sweeps[0].runs["zeros"].final("val_accuracy") == [0.5]
    monkeypatch.setattr(store, "SCHEMA_VERSION", 3)  # no migration from 2: refused, not guessed
    with pytest.raises(UserError, match="schema 2, which this initdash cannot upgrade"):
        Store.open(db)


def test_errors_are_one_line_user_errors(tmp_path):
    with Store.open(tmp_path / "h.db") as st:
        with pytest.raises(UserError, match="no session 42"):
            st.load_session(42)
    with pytest.raises(UserError, match="is a directory"):
        Store.open(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        Store.open(tmp_path / "nope" / "h.db")
    with pytest.raises(UserError, match="no history database"):
        Store.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_default_path_follows_the_environment(tmp_path):
    assert store.default_path() == tmp_path / "default-history.db"
    with Store.open() as st:
        assert st.path == tmp_path / "default-history.db"
    assert st.path.exists()


def test_wal_mode(tmp_path):
    with Store.open(tmp_path / "h.db") as st:
        assert st.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert st.conn.execute("PRAGMA application_id").fetchone() == (store.APPLICATION_ID,)
