"""The history under real conditions: many processes on one file, signals, kill -9, closed pipes, a full disk
and read-only directories. Real subprocesses and real SQLite files; no fixed sleeps (conditions, deadlines)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import experiment, sweep_events

from initdash.cli import main
from initdash.initializers import parse_list
from initdash.store import HistoryWriter, open_reader

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DEADLINE_S = 120  # generous: a loaded 2-core CI machine; the tests finish in a fraction of it
RUN = ["--headless", "--init", "zeros", "--seed", "5"]


def environment(tmp_path: Path) -> dict[str, str]:
    """Subprocesses import this checkout and keep every file they write under tmp_path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), INITDASH_DB=str(tmp_path / "default-history.db"),
               XDG_DATA_HOME=str(tmp_path / "xdg-data"), XDG_STATE_HOME=str(tmp_path / "xdg-state"),
               XDG_CACHE_HOME=str(tmp_path / "xdg-cache"), XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    env.pop("RAY_ADDRESS", None)
    return env


def initdash(*args: str) -> list[str]:
    return [sys.executable, "-m", "initdash", *args]


def wait_until(condition, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def epochs_recorded(db: Path, sweep: int) -> int:
    """EpochDone events of one sweep in the file so far (0 while it does not exist yet)."""
    try:
        conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        sql = "SELECT COUNT(*) FROM events WHERE sweep = ? AND kind = 'EpochDone'"
        return conn.execute(sql, (sweep,)).fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def history(db: Path) -> list[dict]:
    with open_reader(db) as reader:
        return [i.to_dict() for i in reader.sessions()]


# --- many processes on one file -------------------------------------------------------------------------

LIGHT_WRITER = """
import sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from fakes import config, sweep_events
from initdash.store import HistoryWriter, open_reader
print("ready", flush=True)
sys.stdin.readline()  # every process starts at once
cfg = config("he_normal,zeros", repeats=2, epochs=2)
with HistoryWriter.open(sys.argv[1]) as writer:
    writer.start_session(cfg, "fake")
    for _ in range(3):
        sid = writer.begin_sweep(cfg)
        for e in sweep_events(sid, {"he_normal": [0.9, 0.8], "zeros": [0.5, 0.5]}, epochs=2):
            writer.append(sid, e)
        writer.end_sweep(sid, "complete")
        with open_reader(sys.argv[1]) as reader:
            reader.sessions()
"""


@pytest.mark.slow
def test_many_processes_create_and_write_one_fresh_file(tmp_path):
    """The schema is created exactly once however many processes open a new file at the same moment."""
    for round_ in range(4):
        db = tmp_path / f"h{round_}.db"
        procs = [subprocess.Popen([sys.executable, "-c", LIGHT_WRITER, str(db), str(ROOT), str(HERE)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [p.communicate(timeout=DEADLINE_S) for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results]
        infos = history(db)
        assert sorted(i["id"] for i in infos) == list(range(1, 9))
        assert {(i["sweeps"], i["interrupted"], i["runs"]) for i in infos} == {(3, 0, 12)}


@pytest.mark.slow
def test_concurrent_headless_runs_on_a_fresh_file(tmp_path):
    """Six `initdash --headless` at once on a new file (the light test above repeats the race more often)."""
    env = environment(tmp_path)
    started = time.monotonic()
    for round_ in range(1):
        db = tmp_path / f"h{round_}.db"
        procs = [subprocess.Popen(initdash(*RUN, "--epochs", "1", "--db", str(db)), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
        results = [p.communicate(timeout=DEADLINE_S) for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
        assert all("Traceback" not in err and "saved as session" in err for _, err in results)
        infos = history(db)
        assert sorted(i["id"] for i in infos) == list(range(1, 7))
        assert {(i["sweeps"], i["interrupted"], i["runs"]) for i in infos} == {(1, 0, 1)}
    print(f"6 concurrent headless runs: {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_two_processes_continue_one_session(tmp_path, capsys):
    db = tmp_path / "h.db"
    assert main([*RUN, "--init", "zeros,he_normal", "--epochs", "1", "--db", str(db)]) == 0
    capsys.readouterr()
    env = environment(tmp_path)
    procs = [subprocess.Popen(initdash("--headless", "--open", "1", "--sweeps", "2", "--db", str(db)), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=DEADLINE_S) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    with open_reader(db) as reader:
        session = reader.load_session(1)
        [info] = reader.sessions()
    assert [(s.sweep_id, s.state) for s in session.sweeps] == [(i, "complete") for i in range(1, 6)]
    assert (info.sweeps, info.interrupted, info.runs) == (5, 0, 10)
    seeds = [g.seeds for s in session.sweeps for g in s.initializers.values()]
    assert len(set(seeds)) == len(seeds) == 10  # every sweep once, each with its own seeds


# --- signals, kill -9, closed pipes ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_what_finished_and_says_so_in_one_line(tmp_path, sig, code):
    db, out = tmp_path / "h.db", tmp_path / "out.json"
    env = environment(tmp_path)
    proc = subprocess.Popen(initdash(*RUN, "--init", "zeros,he_normal", "--epochs", "60", "--sweeps", "3",
                                     "--db", str(db), "--out", str(out)),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: epochs_recorded(db, 2) >= 4, "sweep 2 to train a little")
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert stdout == ""
    name = signal.Signals(sig).name
    tail = stderr.splitlines()[-1]
    assert re.fullmatch(rf"initdash: interrupted by {name}: 1 complete sweep and sweep 2 as interrupted "
                        rf"\(up to epoch \d+\) saved as session 1 in {re.escape(str(db))}; wrote "
                        rf"{re.escape(str(out))}", tail), stderr
    assert stderr.count("interrupted") == 2 and "wrote" not in stderr.splitlines()[-2]
    [info] = history(db)
    assert (info["sweeps"], info["interrupted"]) == (1, 1)
    exported = tmp_path / "export.json"
    assert subprocess.run(initdash("export", "1", "--db", str(db), "--out", str(exported)), env=env).returncode == 0
    assert exported.read_text() == out.read_text()
    runs = json.loads(out.read_text())["runs"]
    assert {r["status"] for r in runs if r["sweep"] == 2} == {"interrupted"}
    assert all(len(r["history"]) >= 2 for r in runs if r["sweep"] == 2)
    # --open goes on from there: sweep 3, the interrupted one kept
    more = subprocess.run(initdash("--headless", "--open", "1", "--db", str(db)), env=env, capture_output=True,
                          text=True)
    assert more.returncode == 0, more.stderr
    assert "continuing session 1: 1 complete sweep so far" in more.stderr and "sweep 3  zeros" in more.stderr
    [info] = history(db)
    assert (info["sweeps"], info["interrupted"]) == (2, 1)


@pytest.mark.slow
def test_kill_9_leaves_an_interrupted_sweep_that_history_export_and_open_see(tmp_path):
    db = tmp_path / "h.db"
    env = environment(tmp_path)
    proc = subprocess.Popen(initdash(*RUN, "--epochs", "60", "--sweeps", "3", "--db", str(db)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: epochs_recorded(db, 2) >= 3, "sweep 2 to train a little")
        proc.kill()
    finally:
        proc.kill()
        proc.wait()
    listed = subprocess.run(initdash("history", "--db", str(db)), env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "1 +1 interrupted" in listed.stdout, listed
    out = tmp_path / "x.json"
    assert subprocess.run(initdash("export", "1", "--db", str(db), "--out", str(out)), env=env).returncode == 0
    cut = [r for r in json.loads(out.read_text())["runs"] if r["sweep"] == 2]
    assert [r["status"] for r in cut] == ["interrupted"] and len(cut[0]["history"]) >= 3
    more = subprocess.run(initdash("--headless", "--open", "1", "--db", str(db)), env=env, capture_output=True,
                          text=True)
    assert more.returncode == 0 and "sweep 3  zeros: done" in more.stderr, more.stderr
    [info] = history(db)
    assert (info["sweeps"], info["interrupted"]) == (2, 1)


def test_closed_pipe_training_goes_on_results_saved_exit_code_says_the_table_was_lost(tmp_path):
    """`initdash ... 2>&1 | head -3`: the reader leaves after three lines."""
    db, out = tmp_path / "h.db", tmp_path / "out.json"
    command = " ".join(initdash(*RUN, "--epochs", "5", "--sweeps", "3", "--db", str(db), "--out", str(out)))
    shell = subprocess.run(["bash", "-c", f"{command} 2>&1 | head -3; exit ${{PIPESTATUS[0]}}"],
                           env=environment(tmp_path), capture_output=True, text=True, timeout=DEADLINE_S)
    assert len(shell.stdout.splitlines()) == 3 and shell.stdout.startswith("initdash ")
    assert shell.returncode == 1  # the table never arrived
    [info] = history(db)
    assert (info["sweeps"], info["interrupted"]) == (3, 0)
    assert sorted({r["sweep"] for r in json.loads(out.read_text())["runs"]}) == [1, 2, 3]


# --- a full disk ---------------------------------------------------------------------------------------

def test_full_disk_one_line_training_goes_on_earlier_sessions_stay(tmp_path, capsys, monkeypatch):
    from initdash.store import schema

    db, out = tmp_path / "h.db", tmp_path / "out.json"
    assert main([*RUN, "--epochs", "1", "--db", str(db)]) == 0
    capsys.readouterr()
    real = schema.open_rw

    def nearly_full(*args, **kwargs):
        conn = real(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for a few events, then the disk is full
        return conn

    monkeypatch.setattr(schema, "open_rw", nearly_full)
    rc = main([*RUN, "--init", "zeros,he_normal", "--epochs", "3", "--sweeps", "3", "--db", str(db),
               "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert rc == 1  # not every destination got the results
    failures = [line for line in stderr.splitlines() if "disk full" in line]
    assert len(failures) == 1 and failures[0].startswith("initdash: history: history database "), stderr
    assert failures[0].endswith("sweeps are no longer saved")
    assert "Traceback" not in stderr and "saved as session" not in stderr
    assert "over 3 completed sweeps" in stdout  # training went on: the table has every sweep
    assert sorted({r["sweep"] for r in json.loads(out.read_text())["runs"]}) == [1, 2, 3]
    first, second = history(db)
    assert (first["sweeps"], first["runs"]) == (1, 1)  # the earlier session is whole
    assert second["sweeps"] < 3 and second["interrupted"] <= 1


# --- readers only read ---------------------------------------------------------------------------------

def readonly_prefix(tmp_path: Path) -> list[str]:
    """How to run a command that cannot write to a chmod-ed directory: as is for a normal user; as root, with
    every capability dropped (setpriv). Skips where neither is possible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a chmod-ed directory would stay writable")
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    prefix = [setpriv, "--bounding-set=-all", "--inh-caps=-all"]
    try:
        check = subprocess.run([*prefix, sys.executable, "-c", f"""
try:
    open({str(probe / "x")!r}, "w")
    print("wrote")
except PermissionError:
    print("denied")
"""], capture_output=True, text=True)
    finally:
        probe.chmod(0o755)
    if check.stdout.strip() != "denied":
        pytest.skip(f"cannot drop root's capabilities here (setpriv: {check.stdout or check.stderr})".strip())
    return prefix


def files(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


@pytest.mark.parametrize("writer_open", [False, True], ids=["closed", "writer-still-open"])
def test_history_and_export_in_a_read_only_directory(tmp_path, capsys, writer_open):
    prefix = readonly_prefix(tmp_path)
    ro, outdir = tmp_path / "ro", tmp_path / "out"
    ro.mkdir()
    outdir.mkdir()
    outdir.chmod(0o777)
    db = ro / "h.db"
    cfg = experiment(epochs=2, initializers=parse_list("zeros"), repeats=1)
    writer = HistoryWriter.open(db)
    writer.start_session(cfg, "fake")
    sid = writer.begin_sweep(cfg)
    for e in sweep_events(sid, {"zeros": [0.5]}, epochs=2):
        writer.append(sid, e)
    writer.end_sweep(sid, "complete")
    if not writer_open:
        writer.close()
    assert sorted(p.name for p in ro.iterdir()) == (["h.db", "h.db-shm", "h.db-wal"] if writer_open else ["h.db"])
    for p in ro.iterdir():
        p.chmod(0o444)
    ro.chmod(0o555)
    before = files(ro)
    env = environment(tmp_path)
    try:
        listed = subprocess.run([*prefix, *initdash("history", "--json", "--db", str(db))], env=env,
                                capture_output=True, text=True)
        assert listed.returncode == 0, listed.stderr
        assert [(i["id"], i["sweeps"]) for i in json.loads(listed.stdout)] == [(1, 1)]
        exported = subprocess.run([*prefix, *initdash("export", "1", "--db", str(db), "--out",
                                                      str(outdir / "x.json"))], env=env, capture_output=True, text=True)
        assert exported.returncode == 0, exported.stderr
        assert [r["sweep"] for r in json.loads((outdir / "x.json").read_text())["runs"]] == [1]
        # writing there is refused in one line, and changes nothing either
        refused = subprocess.run([*prefix, *initdash(*RUN, "--epochs", "1", "--db", str(db))], env=env,
                                 capture_output=True, text=True)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("initdash: error: ") and str(db) in refused.stderr
        assert files(ro) == before
    finally:
        ro.chmod(0o755)
        if writer_open:
            writer.close()


# --- the dashboard --------------------------------------------------------------------------------------

async def test_dashboard_q_keeps_the_sweep_as_interrupted(tmp_path):
    from test_store import exact
    from test_ui_app import wait_for

    from initdash.data import load
    from initdash.ui.app import InitdashApp

    db = tmp_path / "h.db"
    config = experiment(seed=3, epochs=200, initializers=parse_list("zeros,he_normal"))
    dataset = load()
    writer = HistoryWriter.open(db)
    writer.start_session(config, dataset.describe())
    app = InitdashApp(config, dataset, store=writer, export_dir=tmp_path)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.session.current is not None and
                           min(g.epoch for g in app.session.current.initializers.values()) >= 2)
            await pilot.press("q")
        recorded = app.session.sweeps[0]
    finally:
        writer.close()
    with open_reader(db) as reader:
        [info] = reader.sessions()
        [sweep] = reader.load_session(1).sweeps
    assert (info.sweeps, info.interrupted) == (0, 1)
    assert sweep.state == recorded.state == "interrupted"
    assert exact(sweep) == exact(recorded)  # the dashboard's Session and the history agree, number for number
    assert all(g.status_text(200).startswith("interrupted at epoch") for g in sweep.initializers.values())
    assert all(len(h) >= 3 for g in sweep.initializers.values() for h in g.histories)
