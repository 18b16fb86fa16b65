"""`initdash report ID|FILE.json`: the statistics of a stored session or an export, in headless' own words."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from initdash.cli import main
from initdash.report_cmd import DIRECTORY, EXPORT, SESSION, source_kind


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One headless run (2 sweeps x 4 repeats) saved to a database and exported: (folder, what it printed)."""
    d = tmp_path_factory.mktemp("report")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["--headless", "--epochs", "1", "--init", "zeros,he_normal", "--seed", "5", "--repeats", "4",
                   "--sweeps", "2", "--db", str(d / "h.db"), "--out", str(d / "run.json")])
    assert rc == 0, err.getvalue()
    return d, out.getvalue()


def report(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["report", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_stored_session_and_its_export_report_what_headless_printed(capsys, run):
    d, printed = run
    rc, out, err = report(capsys, "1", "--db", str(d / "h.db"))
    assert rc == 0 and err == "" and out == printed
    rc, out, _ = report(capsys, str(d / "run.json"))
    assert rc == 0 and out == printed
    lines = out.splitlines()
    assert lines[-3].startswith("clear: Wilcoxon signed-rank on per-repeat differences (paired design)")
    assert lines[-1].endswith((": clear", "this size clear")) or ": not clear" in lines[-1]


def test_another_metric(capsys, run):
    d, _ = run
    rc, out, _ = report(capsys, "1", "--db", str(d / "h.db"), "--metric", "loss")
    assert rc == 0 and "loss at the end of training over 2 completed sweeps (lower is better" in out


def test_an_older_export_reads_as_independent_runs(capsys, run, tmp_path):
    d, printed = run
    doc = json.loads((d / "run.json").read_text())
    del doc["config"]["design"]
    for r in doc["runs"]:
        del r["init_seed"], r["data_seed"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    rc, out, _ = report(capsys, str(tmp_path / "old.json"))
    assert rc == 0 and "clear: Mann-Whitney U (independent runs) at the 5% level" in out
    assert out.splitlines()[:4] == printed.splitlines()[:4]  # the results table does not depend on the design


@pytest.mark.parametrize(("argv", "message"), [
    (["9"], "no session 9 in "),
    (["abc"], "'abc' is neither a session id (a whole number) nor an export file (.json, .csv)"),
    (["missing.json"], "missing.json: no such file"),
    (["0"], "session ids run from 1 to"),
])
def test_bad_sources_are_one_line(capsys, run, argv, message):
    d, _ = run
    rc, out, err = report(capsys, *argv, "--db", str(d / "h.db"))
    assert rc == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_a_directory_is_its_own_kind_of_source(capsys, tmp_path):
    assert (source_kind(str(tmp_path)), source_kind("run.json"), source_kind("12")) == (DIRECTORY, EXPORT, SESSION)
    rc, _, err = report(capsys, str(tmp_path))  # a directory is read for TensorBoard runs (test_tensorboard.py)
    assert rc == 2 and err.count("\n") == 1 and "no TensorBoard event files under it" in err
    rc, _, err = report(capsys, "12", "--metric", "val_acc")
    assert rc == 2 and "--metric 'val_acc': a session or an export has loss" in err
