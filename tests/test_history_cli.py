"""`initdash history`, `initdash export`, `--open`, `--db`, `--no-save`, and the headless statistics."""

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout

import pytest

from initdash.cli import main

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


def test_history_table_and_json(capsys, saved):
    d, _, _ = saved
    rc, out, _ = run(capsys, "history", "--db", str(d / "h.db"))
    assert rc == 0
    header, rule, row = out.splitlines()
    assert header.split() == ["id", "date", "data", "model", "initializers", "sweeps", "runs"]
    assert row.split()[0] == "1" and "zeros,he_normal" in row and "Dense(1, sigmoid)" in row
    assert row.split()[-2:] == ["2", "8"]
    rc, out, _ = run(capsys, "history", "--json", "--db", str(d / "h.db"))
    [info] = json.loads(out)
    assert (info["id"], info["sweeps"], info["runs"], info["initializers"]) == (1, 2, 8, ["zeros", "he_normal"])


def test_history_without_a_database_creates_none(capsys, tmp_path):
    rc, out, _ = run(capsys, "history", "--db", str(tmp_path / "none.db"))
    assert rc == 0 and out.startswith("no sessions stored yet")
    rc, out, _ = run(capsys, "history", "--json")  # the default path ($INITDASH_DB in tests)
    assert rc == 0 and json.loads(out) == []
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "default-history.db").exists()


def test_export_equals_the_runs_own_export(capsys, saved, tmp_path):
    d, _, _ = saved
    rc, _, err = run(capsys, "export", "1", "--out", str(tmp_path / "again.json"), "--db", str(d / "h.db"))
    assert rc == 0 and "wrote" in err
    assert (tmp_path / "again.json").read_text() == (d / "run.json").read_text()
    rc, _, _ = run(capsys, "export", "1", "--db", str(d / "h.db"), "--out", str(tmp_path / "again.csv"))
    assert rc == 0
    csv_lines = (tmp_path / "again.csv").read_text().splitlines()
    assert csv_lines[0] == "rerun,initializer,repeat,seed,epoch,loss,accuracy,val_loss,val_accuracy"
    assert len(csv_lines) == 1 + 2 * 2 * 2 * 2  # sweeps x initializers x repeats x epochs (0 and 1)


def test_open_continues_sweep_numbering(capsys, saved, tmp_path):
    d, _, _ = saved
    db = tmp_path / "h.db"
    shutil.copy(d / "h.db", db)
    rc, out, err = run(capsys, "--headless", "--open", "1", "--reruns", "1", "--db", str(db),
                       "--out", str(tmp_path / "more.json"))
    assert rc == 0, err
    assert "continuing session 1: 2 sweeps so far" in err
    assert "over 3 completed sweeps" in out and "rank and change in sweep 3" in out
    before, after = json.loads((d / "run.json").read_text()), json.loads((tmp_path / "more.json").read_text())
    assert sorted({r["rerun"] for r in after["runs"]}) == [1, 2, 3]
    assert after["config"] == before["config"]
    assert after["runs"][:len(before["runs"])] == before["runs"]
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    assert [(i["id"], i["sweeps"]) for i in json.loads(out)] == [(1, 3)]
    rc, _, _ = run(capsys, "--headless", "--open", "1", "--repeats", "1", "--db", str(db))  # repeats may change
    rc, out, _ = run(capsys, "history", "--json", "--db", str(db))
    assert [(i["sweeps"], i["runs"]) for i in json.loads(out)] == [(4, 14)]


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
    one_line_error(rc, err, "invalid int value: 'one'")
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
