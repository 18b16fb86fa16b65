"""Headless output from a hand-made Session (no training): JSON, CSV, the results table, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import pytest
from fakes import experiment

from initdash import __version__, report
from initdash.errors import UserError
from initdash.events import (
    CANCELLED,
    DIVERGED,
    FAILED,
    OK,
    EpochDone,
    EpochReport,
    RunOutcome,
    UnitFailed,
    UnitFinished,
    UnitStarted,
)
from initdash.export import json_csv, paths
from initdash.initializers import parse_list
from initdash.session import Session

LABELS = ("zeros", "he_normal", "normal:std=0.5")


def row(epoch: int, loss: float, acc: float) -> dict[str, float]:
    return {"epoch": epoch, "loss": loss, "accuracy": acc, "val_loss": loss + 0.125, "val_accuracy": acc - 0.0625}


def finish(session: Session, sid: int, label: str, outcomes: list[RunOutcome]) -> None:
    session.apply(UnitStarted(sid, label, tuple(o.seed for o in outcomes)))
    for e in range(max(len(o.history) for o in outcomes)):
        values = {m: tuple(o.history[e][m] if e < len(o.history) else math.nan for o in outcomes)
                  for m in ("loss", "accuracy", "val_loss", "val_accuracy")}
        statuses = tuple(OK if e < len(o.history) else DIVERGED for o in outcomes)
        session.apply(EpochDone(sid, label, EpochReport(e, values, statuses)))
    session.apply(UnitFinished(sid, label, tuple(outcomes)))


@pytest.fixture
def session() -> Session:
    """One sweep: zeros (2 repeats, ok), he_normal (one ok, one diverged), normal:std=0.5 (worker failed)."""
    config = experiment(epochs=2, repeats=2, seed=9, initializers=parse_list(",".join(LABELS)))
    s = Session(config, "test data")
    s.begin_sweep(1)
    finish(s, 1, "zeros", [RunOutcome(11, OK, (row(0, 0.75, 0.5), row(1, 0.5, 0.75), row(2, 0.25, 0.5))),
                           RunOutcome(12, OK, (row(0, 0.75, 0.5), row(1, 0.5, 0.5), row(2, 0.75, 1.0)))])
    finish(s, 1, "he_normal", [RunOutcome(21, OK, (row(0, 1.0, 0.25), row(1, 0.5, 0.5), row(2, 0.5, 0.5))),
                               RunOutcome(22, DIVERGED, (row(0, 2.0, 0.25),))])
    s.apply(UnitStarted(1, "normal:std=0.5", (31, 32)))
    s.apply(UnitFailed(1, "normal:std=0.5", "RuntimeError: boom", "Traceback ..."))
    return s


def test_runs_one_entry_per_seed_with_status(session):
    runs = json_csv.runs(session)
    assert [(r["sweep"], r["initializer"], r["repeat"], r["seed"], r["status"]) for r in runs] == [
        (1, "zeros", 0, 11, OK), (1, "zeros", 1, 12, OK),
        (1, "he_normal", 0, 21, OK), (1, "he_normal", 1, 22, DIVERGED),
        (1, "normal:std=0.5", 0, 31, FAILED), (1, "normal:std=0.5", 1, 32, FAILED)]
    assert [h["epoch"] for h in runs[0]["history"]] == [0, 1, 2]
    assert [h["epoch"] for h in runs[3]["history"]] == [0]
    assert runs[4]["history"] == [] and runs[5]["history"] == []


def test_json_document(session):
    doc = json.loads(json_csv.to_json(session))
    assert set(doc) == {"initdash", "config", "runs"}
    assert doc["initdash"] == __version__
    config = doc["config"]
    for key in ("data", "target", "split_seed", "model", "optimizer", "lr", "batch_size", "epochs",
                "initializers", "repeats", "seed", "device", "executor"):
        assert key in config, key
    assert config["initializers"] == list(LABELS)
    assert config["lr"] == 0.001 and config["epochs"] == 2 and config["seed"] == 9
    assert config["model"] == {"name": "linear"}
    assert config["data_label"] == "test data"
    assert len(doc["runs"]) == 6
    for run in doc["runs"]:
        assert set(run) == {"sweep", "initializer", "repeat", "seed", "init_seed", "data_seed", "lr", "width", "status",
                            "history"}
        for h in run["history"]:
            assert set(h) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert doc["runs"][0]["history"][2] == row(2, 0.25, 0.5)


def test_csv_long_format_round_trips_exactly(session):
    text = json_csv.to_csv(session)
    lines = text.splitlines()
    assert lines[0] == "sweep,initializer,repeat,seed,status,epoch,loss,accuracy,val_loss,val_accuracy,lr,width"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 + 3 + 3 + 1  # failed runs have no epochs
    he = [r for r in rows if r["initializer"] == "he_normal"]
    assert [(r["repeat"], r["seed"], r["epoch"]) for r in he] == [("0", "21", "0"), ("0", "21", "1"), ("0", "21", "2"),
                                                                  ("1", "22", "0")]
    by_key = {(r["initializer"], int(r["repeat"]), int(r["epoch"])): r for r in rows}
    for run in json_csv.runs(session):
        for h in run["history"]:
            r = by_key[(run["initializer"], run["repeat"], h["epoch"])]
            for m in ("loss", "accuracy", "val_loss", "val_accuracy"):
                assert float(r[m]) == h[m]  # repr: no digits lost


def test_csv_quotes_labels_with_commas():
    config = experiment(epochs=1, initializers=parse_list("uniform:low=-1,high=1"))
    s = Session(config, "d")
    s.begin_sweep(1)
    finish(s, 1, "uniform:low=-1,high=1", [RunOutcome(5, OK, (row(0, 0.5, 0.5), row(1, 0.25, 0.75)))])
    rows = list(csv.reader(io.StringIO(json_csv.to_csv(s))))
    assert all(len(r) == 12 for r in rows)
    assert rows[1][1] == "uniform:low=-1,high=1"


def test_results_table(session):
    table = report.results_table(session)
    lines = table.splitlines()
    assert lines[0].split() == ["initializer", "loss", "accuracy", "val_loss", "val_accuracy", "runs", "diverged",
                                "failed"]
    assert set(lines[1]) <= {"-", " "}
    zeros = lines[2].split()
    # final losses 0.25, 0.75: mean 0.5, sample std 0.3536; accuracies 0.5, 1.0: 0.75 ± 0.3536
    assert zeros[:8] == ["zeros", "0.5000", "±", "0.3536", "0.7500", "±", "0.3536", "0.6250"]
    assert zeros[-3:] == ["2", "0", "0"]
    he = lines[3].split()
    assert he == ["he_normal", "0.5000", "0.5000", "0.6250", "0.4375", "2", "1", "0"]  # only the ok run counts
    failed = lines[4].split()
    assert failed == ["normal:std=0.5", "-", "-", "-", "-", "2", "0", "2"]


def test_results_table_over_reruns_ignores_a_cancelled_sweep(session):
    finish_zero = [RunOutcome(13, OK, (row(0, 0.75, 0.5), row(1, 0.5, 0.5), row(2, 1.5, 0.5))),
                   RunOutcome(14, OK, (row(0, 0.75, 0.5), row(1, 0.5, 0.5), row(2, 1.5, 0.5)))]
    session.begin_sweep(2)
    finish(session, 2, "zeros", finish_zero)
    for label in LABELS[1:]:
        finish(session, 2, label, [RunOutcome(40, OK, (row(0, 0.5, 0.5),)), RunOutcome(41, OK, (row(0, 0.5, 0.5),))])
    zeros = report.results_table(session).splitlines()[2].split()
    assert zeros[1] == "1.0000" and zeros[-3] == "4"  # mean of 0.25, 0.75, 1.5, 1.5 over 4 runs
    # A third sweep whose workers were cancelled does not enter the statistics.
    session.begin_sweep(3)
    for label in LABELS:
        finish(session, 3, label, [RunOutcome(50, CANCELLED, (row(0, 9.0, 0.0),)),
                                   RunOutcome(51, CANCELLED, (row(0, 9.0, 0.0),))])
    assert report.results_table(session).splitlines()[2].split() == zeros
    assert len(json_csv.runs(session)) == 18  # ... but it is exported


@pytest.mark.parametrize("name", ["out.json", "out.csv", "OUT.JSON"])
def test_write_by_extension(session, tmp_path, name):
    path = tmp_path / name
    json_csv.write(session, path)
    text = path.read_text(encoding="utf-8")
    assert text == (json_csv.to_json(session) if name.lower().endswith(".json") else json_csv.to_csv(session))
    assert os.listdir(tmp_path) == [name]  # no temporary file left


def test_write_replaces_an_existing_file_with_the_usual_mode(session, tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    json_csv.write(session, path)
    assert json.loads(path.read_text())["runs"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


@pytest.mark.parametrize("name, words", [
    ("out.txt", "must end in .json or .csv"),
    ("out", "must end in .json or .csv"),
    ("missing/out.json", "does not exist"),
])
def test_check_out_path_errors(tmp_path, name, words):
    with pytest.raises(UserError, match=words):
        paths.check_out_path(tmp_path / name)


def test_check_out_path_directory(tmp_path):
    (tmp_path / "d.json").mkdir()
    with pytest.raises(UserError, match="is a directory"):
        paths.check_out_path(tmp_path / "d.json")


def test_failed_write_leaves_nothing(session, tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(paths.os, "replace", fail)
    with pytest.raises(UserError, match="cannot write .*No space left on device"):
        json_csv.write(session, tmp_path / "out.json")
    assert os.listdir(tmp_path) == []
