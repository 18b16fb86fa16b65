"""`initdash history`, `initdash export`, `--open`, `--db`, `--no-save`, and the headless statistics."""

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout

import pytest

from initdash.cli import main
from initdash.export import json_csv
from initdash.stats import compute
from initdash.store import open_reader

RUN = ["--headless", "--epochs", "1", "--init", "zeros,he_normal", "--seed", "5"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One headless run of 2 sweeps x 2 repeats saved to a database, with its --out export."""
    d = tmp_path_factory.mktemp("saved")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main([*RUN, "--reruns", "2", "--repeats", "2", "--db", str(d / "h.db"), "--out", str(d / "run.json")])
    assert rc == 0, err.getvalue()
    return d, out.getvalue(), err.getvalue()


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err, match):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("initdash: error: "), err
    assert match in err, err


def test_headless_prints_statistics_and_saves(saved):
    d, out, err = saved
    assert out.startswith("initializer ")
    assert "val_accuracy at the end of training over 2 completed sweeps" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["initializer", "n"])
    assert lines[header].split()[-3:] == ["rank", "change", "wins"]
    assert {lines[header + 2].split()[0], lines[header + 3].split()[0]} == {"zeros", "he_normal"}
    assert " beats " in lines[-1] or "no clear" in lines[-1]
    assert "saved as session 1 in " in err


def test_single_run_prints_no_statistics(capsys, tmp_path):
    rc, out, err = run(capsys, *RUN, "--init", "zeros", "--db", str(tmp_path / "h.db"))
    assert rc == 0 and "95% CI" not in out and "saved as session 1" in err


def test_history_table_and_json(capsys, saved, monkeypatch):
    d, _, _ = saved
    monkeypatch.setenv("COLUMNS", "60")  # too narrow for the names: the initializers are counted
    rc, out, _ = run(capsys, "history", "--db", str(d / "h.db"))
    assert rc == 0 and out.splitlines()[2].split()[7] == "2"  # after id, date (two words), data, model, ...
    monkeypatch.setenv("COLUMNS", "200")
    rc, out, _ = run(capsys, "history", "--db", str(d / "h.db"))
    assert rc == 0
    header, rule, row = out.splitlines()
    assert header.split() == ["id", "date", "data", "model", "optimizer", "epochs", "initializers", "sweeps", "runs",
                              "best", "(val", "acc)"]
    assert row.split()[0] == "1" and "zeros,he_normal" in row and " linear " in row
    info = json.loads(run(capsys, "history", "--json", "--db", str(d / "h.db"))[1])[0]
    with open_reader(d / "h.db") as reader:  # the best by mean final val_accuracy, as the statistics say
        assert info["best"] == compute(reader.load_session(1)).best.label
    assert row.split()[-3:] == ["2", "8", info["best"]] and (info["optimizer"], info["epochs"]) == ("rmsprop", 1)
    assert f" {info['optimizer']} " in row
    rc, out, _ = run(capsys, "history", "--json", "--db", str(d / "h.db"))
    [info] = json.loads(out)
    assert (info["id"], info["sweeps"], info["runs"], info["initializers"]) == (1, 2, 8, ["zeros", "he_normal"])


def test_history_creates_nothing(capsys, tmp_path):
    rc, _, err = run(capsys, "history", "--db", str(tmp_path / "none.db"))
    one_line_error(rc, err, f"no history database at {tmp_path / 'none.db'}")
    rc, out, _ = run(capsys, "history")  # the default path ($INITDASH_DB in tests) not made yet: nothing stored
    assert rc == 0 and out.startswith("no sessions stored yet")
    rc, out, _ = run(capsys, "history", "--json")
    assert rc == 0 and json.loads(out) == []
    empty = tmp_path / "empty.db"
    empty.touch()
    before = empty.stat()
    rc, out, _ = run(capsys, "history", "--db", str(empty))
    assert rc == 0 and out.startswith(f"no sessions stored yet in {empty}")
    rc, _, err = run(capsys, "export", "1", "--db", str(empty), "--out", str(tmp_path / "x.json"))
    one_line_error(rc, err, "no session 1 in")
    assert empty.read_bytes() == b"" and empty.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_readers_change_nothing(capsys, saved, tmp_path):
    d, _, _ = saved
    db = tmp_path / "h.db"
    shutil.copy(d / "h.db", db)
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    assert run(capsys, "history", "--db", str(db))[0] == 0
    assert run(capsys, "history", "--json", "--db", str(db))[0] == 0
    assert run(capsys, "export", "1", "--db", str(db), "--out", str(tmp_path / "x.csv"))[0] == 0
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_export_equals_the_runs_own_export(capsys, saved, tmp_path):
    d, _, _ = saved
    rc, _, err = run(capsys, "export", "1", "--out", str(tmp_path / "again.json"), "--db", str(d / "h.db"))
    assert rc == 0 and "wrote" in err
    assert (tmp_path / "again.json").read_text() == (d / "run.json").read_text()
    rc, _, _ = run(capsys, "export", "1", "--db", str(d / "h.db"), "--out", str(tmp_path / "again.csv"))
    assert rc == 0
    csv_lines = (tmp_path / "again.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(json_csv.CSV_COLUMNS)
    assert len(csv_lines) == 1 + 2 * 2 * 2 * 2  # sweeps x initializers x repeats x epochs (0 and 1)


def test_export_refuses_to_overwrite_without_force(capsys, saved, tmp_path):
    d, _, _ = saved
    out = tmp_path / "mine.csv"
    out.write_text("precious")
    rc, _, err = run(capsys, "export", "1", "--db", str(d / "h.db"), "--out", str(out))
    one_line_error(rc, err, f"--out {out} already exists (add --force to overwrite)")
    assert out.read_text() == "precious"
    rc, _, _ = run(capsys, "export", "1", "--db", str(d / "h.db"), "--out", str(out), "--force")
    assert rc == 0 and out.read_text().startswith(",".join(json_csv.CSV_COLUMNS))


def test_open_continues_sweep_numbering(capsys, saved, tmp_path):
    d, _, _ = saved
    db = tmp_path / "h.db"
    shutil.copy(d / "h.db", db)
    rc, out, err = run(capsys, "--headless", "--open", "1", "--reruns", "1", "--db", str(db),
                       "--out", str(tmp_path / "more.json"))
    assert rc == 0, err
    assert "continuing session 1: 2 complete sweeps so far" in err
    assert "over 3 completed sweeps" in out and "rank and change in sweep 3" in out
    before, after = json.loads((d / "run.json").read_text()), json.loads((tmp_path / "more.json").read_text())
    assert sorted({r["sweep"] for r in after["runs"]}) == [1, 2, 3]
    assert after["config"] == before["config"]
    assert after["runs"][:len(before["runs"])] == before["runs"]
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    assert [(i["id"], i["sweeps"]) for i in json.loads(out)] == [(1, 3)]
    rc, _, _ = run(capsys, "--headless", "--open", "1", "--repeats", "1", "--db", str(db))  # repeats may change
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    assert [(i["sweeps"], i["runs"]) for i in json.loads(out)] == [(4, 14)]


def test_a_history_from_before_the_event_rename_lists_reports_and_opens(capsys, saved, tmp_path):
    import sqlite3

    from initdash.events import EVENT_ALIASES

    d, _, _ = saved
    db = tmp_path / "h.db"
    shutil.copy(d / "h.db", db)
    conn = sqlite3.connect(db)  # schema 3 as it was written before RunStarted became UnitStarted
    conn.executemany("UPDATE events SET kind = ? WHERE kind = ?", list(EVENT_ALIASES.items()))
    conn.execute("ALTER TABLE sessions DROP COLUMN imported")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    assert {k for (k,) in conn.execute("SELECT kind FROM events")} == {"RunStarted", "EpochDone", "RunFinished"}
    conn.close()
    expected = json.loads(run(capsys, "history", "--json", "--db", str(d / "h.db"))[1])
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))  # read: a copy migrated in memory
    assert rc == 0 and json.loads(out) == expected
    assert (expected[0]["runs"], bool(expected[0]["best"])) == (8, True)
    assert run(capsys, "report", "1", "--db", str(db))[1] == run(capsys, "report", "1", "--db", str(d / "h.db"))[1]
    rc, _, err = run(capsys, "--headless", "--open", "1", "--reruns", "1", "--db", str(db))  # migrated in place
    assert rc == 0 and "continuing session 1: 2 complete sweeps so far" in err
    conn = sqlite3.connect(db)
    assert {k for (k,) in conn.execute("SELECT kind FROM events")} == {"UnitStarted", "EpochDone", "UnitFinished"}
    conn.close()
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    assert [(i["sweeps"], i["runs"], bool(i["best"])) for i in json.loads(out)] == [(3, 12, True)]


def test_open_refuses_flags_that_change_the_experiment(capsys, saved):
    d, _, _ = saved
    rc, _, err = run(capsys, "--open", "1", "--epochs", "5", "--init", "zeros", "--db", str(d / "h.db"))
    one_line_error(rc, err, "--epochs, --init cannot be combined with --open")
    rc, _, err = run(capsys, "--open", "1", "--no-save", "--db", str(d / "h.db"))
    one_line_error(rc, err, "cannot be combined with --no-save")
    rc, _, err = run(capsys, "--headless", "--open", "9", "--db", str(d / "h.db"))
    one_line_error(rc, err, "no session 9 in")


def test_no_save_writes_nothing(capsys, tmp_path):
    rc, out, err = run(capsys, *RUN, "--no-save")
    assert rc == 0 and "saved as" not in err
    assert list(tmp_path.iterdir()) == []  # not even the default ($INITDASH_DB) file


def test_default_database_is_used_without_db(capsys, tmp_path):
    rc, _, err = run(capsys, *RUN, "--init", "zeros")
    assert rc == 0 and f"saved as session 1 in {tmp_path / 'default-history.db'}" in err
    rc, out, _ = run(capsys, "history", "--json")
    assert [i["id"] for i in json.loads(out)] == [1]


def test_errors_are_one_line(capsys, saved, tmp_path):
    d, _, _ = saved
    db = str(d / "h.db")
    rc, _, err = run(capsys, "export", "7", "--out", str(tmp_path / "x.json"), "--db", db)
    one_line_error(rc, err, "no session 7")
    assert not (tmp_path / "x.json").exists()  # no partial file
    rc, _, err = run(capsys, "export", "1", "--out", str(tmp_path / "x.txt"), "--db", db)
    one_line_error(rc, err, "must end in .json or .csv")
    rc, _, err = run(capsys, "export", "1", "--out", str(tmp_path / "no" / "x.json"), "--db", db)
    one_line_error(rc, err, "does not exist")
    rc, _, err = run(capsys, "export", "1", "--db", db)
    one_line_error(rc, err, "required: --out")
    rc, _, err = run(capsys, "export", "one", "--out", "x.json", "--db", db)
    one_line_error(rc, err, "expected a session id (a whole number), got 'one'")
    for bad in ("0", str(2**63)):
        rc, _, err = run(capsys, "export", bad, "--out", "x.json", "--db", db)
        one_line_error(rc, err, f"session ids run from 1 to {2**63 - 1}, got {bad}")
    rc, _, err = run(capsys, "export", str(2**63 - 1), "--out", str(tmp_path / "x.json"), "--db", db)
    one_line_error(rc, err, f"no session {2**63 - 1} in")
    rc, _, err = run(capsys, "--headless", "--open", str(2**63 - 1), "--db", db)
    one_line_error(rc, err, f"no session {2**63 - 1} in")
    rc, _, err = run(capsys, "export", "1", "--out", str(tmp_path / "x.json"), "--db", str(tmp_path / "none.db"))
    one_line_error(rc, err, "no history database at")
    (tmp_path / "junk.db").write_text("junk " * 300)
    rc, _, err = run(capsys, "history", "--db", str(tmp_path / "junk.db"))
    one_line_error(rc, err, "is not an initdash history database")
    rc, _, err = run(capsys, *RUN, "--db", str(tmp_path / "junk.db"))
    one_line_error(rc, err, "is not an initdash history database")
    rc, _, err = run(capsys, *RUN, "--db", str(tmp_path / "missing" / "h.db"))
    one_line_error(rc, err, "does not exist")
    rc, _, err = run(capsys, "histroy")
    one_line_error(rc, err, "unknown command 'histroy'")
    rc, _, err = run(capsys, "history", "--bogus")
    one_line_error(rc, err, "unrecognized arguments: --bogus")


def test_bad_data_creates_no_database(capsys, tmp_path):
    db = tmp_path / "h.db"
    rc, out, err = run(capsys, *RUN, "--data", str(tmp_path / "missing.csv"), "--db", str(db))
    one_line_error(rc, err, "no such file")
    rc, out, err = run(capsys, *RUN, "--init", "he_norml", "--db", str(db))
    one_line_error(rc, err, "did you mean he_normal")
    assert not db.exists()


# --- import -------------------------------------------------------------------------------------------------

def test_import_of_this_versions_exports(capsys, saved, tmp_path):
    d, _, _ = saved
    db = tmp_path / "h.db"
    rc, _, _ = run(capsys, "export", "1", "--db", str(d / "h.db"), "--out", str(tmp_path / "run.csv"))
    assert rc == 0
    for source in (d / "run.json", tmp_path / "run.csv"):
        rc, _, err = run(capsys, "import", str(source), "--db", str(db))
        assert rc == 0 and f"imported {source} as session" in err and "(2 complete sweeps)" in err
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    assert [(i["id"], i["sweeps"], i["runs"], i["initializers"]) for i in json.loads(out)] == \
        [(1, 2, 8, ["zeros", "he_normal"]), (2, 2, 8, ["zeros", "he_normal"])]
    assert run(capsys, "export", "1", "--db", str(db), "--out", str(tmp_path / "back.json"))[0] == 0
    assert (tmp_path / "back.json").read_text() == (d / "run.json").read_text()
    assert run(capsys, "export", "2", "--db", str(db), "--out", str(tmp_path / "back.csv"))[0] == 0
    assert (tmp_path / "back.csv").read_text() == (tmp_path / "run.csv").read_text()


OLD_CONFIG = {"data": "banknote", "target": None, "split_seed": 42, "hidden": [4], "activation": "tanh",
              "optimizer": "sgd", "lr": 0.01, "batch_size": 16, "epochs": 1, "initializers": ["zeros", "ones"],
              "repeats": 1, "seed": 3, "device": "cpu", "data_label": "banknote (UCI, 960/412)"}


def old_history(epoch: int, loss: float) -> dict:
    return {"epoch": epoch, "loss": loss, "accuracy": 0.5 + epoch / 10, "val_loss": loss + 0.01,
            "val_accuracy": 0.25 * (epoch + 1)}


def test_import_of_old_exports(capsys, tmp_path):
    db = tmp_path / "h.db"
    runs = [{"rerun": sweep, "initializer": label, "repeat": 0, "seed": 100 * sweep + i, "status": status,
             "history": [old_history(e, 0.7 - e / 10 - i / 100) for e in range(2 if status == "ok" else 1)]}
            for sweep in (1, 2) for i, (label, status) in enumerate((("zeros", "ok"), ("ones", "diverged")))]
    (tmp_path / "old.json").write_text(json.dumps({"initdash": "0.0.9", "config": OLD_CONFIG, "runs": runs}))
    rows = ["rerun,initializer,repeat,seed,epoch,loss,accuracy,val_loss,val_accuracy"]
    rows += [f"{sweep},{label},{rep},{7 + rep},{e},{0.6 - e / 8!r},0.5,0.61,0.75" for sweep in (1, 2, 3)
             for label in ("he_normal", "zeros") for rep in (0, 1) for e in (0, 1, 2)]
    (tmp_path / "old.csv").write_text("\n".join(rows) + "\n")
    for name in ("old.json", "old.csv"):
        rc, _, err = run(capsys, "import", str(tmp_path / name), "--db", str(db))
        assert rc == 0, err
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    infos = json.loads(out)
    assert [(i["sweeps"], i["runs"], i["model"], i["initializers"]) for i in infos] == \
        [(2, 4, "mlp 4 tanh", ["zeros", "ones"]), (3, 12, "linear", ["he_normal", "zeros"])]
    assert infos[0]["data"] == "banknote (UCI, 960/412)"
    assert run(capsys, "export", "1", "--db", str(db), "--out", str(tmp_path / "back.json"))[0] == 0
    back = json.loads((tmp_path / "back.json").read_text())
    assert [(r["sweep"], r["initializer"], r["seed"], r["status"], r["history"]) for r in back["runs"]] == \
        [(r["rerun"], r["initializer"], r["seed"], r["status"], r["history"]) for r in runs]
    assert back["config"]["model"] == {"name": "mlp", "hidden": [4], "activation": "tanh"}
    assert run(capsys, "export", "2", "--db", str(db), "--out", str(tmp_path / "back.csv"))[0] == 0
    lines = (tmp_path / "back.csv").read_text().splitlines()
    assert lines[0] == ",".join(json_csv.CSV_COLUMNS) and len(lines) == 1 + 3 * 2 * 2 * 3
    assert lines[1] == "1,he_normal,0,7,ok,0,0.6,0.5,0.61,0.75,0.001,"  # its lr; no width axis


def test_import_errors_create_nothing(capsys, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    for name in ("bad.json", "missing.csv", "x.txt"):
        rc, _, err = run(capsys, "import", str(tmp_path / name), "--db", str(tmp_path / "h.db"))
        one_line_error(rc, err, name)
    assert not (tmp_path / "h.db").exists()


def test_opening_a_built_in_session_for_the_dashboard_loads_no_data_before_the_first_frame(saved):
    """As for a new session: built-in data is only described (the dashboard loads it after painting)."""
    from initdash.arguments import apply_layers, build_parser
    from initdash.data import Dataset
    from initdash.experiment import prepare

    d, _, _ = saved
    argv = ["--open", "1", "--db", str(d / "h.db")]
    args = build_parser().parse_args(argv)
    apply_layers(args, argv)
    experiment = prepare(args, argv, load_now=False)
    try:
        assert not isinstance(experiment.data, Dataset)
        assert isinstance(experiment.ready()[0], Dataset)  # loaded when asked
    finally:
        experiment.close()
