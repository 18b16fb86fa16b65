"""Outside text is data: escaped on every output path; an import is validated whole and runs nothing."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
import sqlite3
import threading

import pytest
from recorded import tiny_dataset

from initdash import failures
from initdash.cli import main
from initdash.text import markup_safe, safe

ESC_2J = "\x1b[2J"
OSC_52 = "\x1b]52;c;aGVsbG8=\x07"  # writes "hello" to the terminal's clipboard
OSC_8 = "\x1b]8;;x:y\x1b\\link\x1b]8;;\x1b\\"  # a hyperlink
MARKUP = ("[link=a:b]", "[/tmp/x]", "[bold red]RED[blink].csv")
HOSTILE = ESC_2J + OSC_52 + OSC_8 + "".join(MARKUP)
RAW = ("\x1b", "\x07", "\x9b")  # ESC, BEL, the 8-bit CSI: none may reach a terminal


def clean(text: str) -> None:
    """No control character that starts an escape sequence, and the markup still there, as written."""
    assert not any(c in text for c in RAW), repr(text)


def test_safe_escapes_controls_and_markup_safe_shows_markup_as_written():
    from rich.text import Text

    shown = safe(HOSTILE)
    clean(shown)
    assert "\\x1b[2J" in shown and "\\x07" in shown and all(m in shown for m in MARKUP)
    assert safe("a\nb") == "a\\nb" and safe("a\nb", lines=True) == "a\nb" and safe("\u202eevil") == "\\u202eevil"
    assert Text.from_markup(markup_safe(HOSTILE)).plain == shown  # Rich (a DataTable's str cells)


# --- each output path -------------------------------------------------------------------------------------

def test_errors_escape_file_names_and_csv_header_names(capsys, tmp_path):
    bad = tmp_path / f"{ESC_2J}{MARKUP[2]}"
    bad.mkdir()
    data = bad / "d.csv"
    data.write_text(f"a{OSC_52},{MARKUP[0]}b\n1,0\n")
    rc = main(["--headless", "--no-save", "--data", str(data), "--target", "nope"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    clean(err)
    assert MARKUP[2] in err and "\\x1b]52" in err and MARKUP[0] in err


def test_headless_progress_escapes_a_model_message(capsys, tmp_path):
    model = tmp_path / "m.py"
    model.write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.l = torch.nn.Linear(4, 1); self.n = 0\n"
        "    def forward(self, x):\n"
        "        self.n += 1\n"
        "        if self.n > 3:\n"
        f"            raise ValueError({HOSTILE!r})\n"
        "        return self.l(x)\n"
        "def build():\n    return Net()\n")
    rc = main(["--headless", "--no-save", "--model", f"{model}:build", "--epochs", "1", "--init", "zeros"])
    out, err = capsys.readouterr()
    assert rc == 1 and "failed (ValueError: " in err
    clean(err + out)
    assert MARKUP[1] in err


def test_history_table_json_and_export_listing_escape_an_imported_label(capsys, tmp_path):
    doc = export_doc()
    doc["config"]["data_label"] = HOSTILE
    src = tmp_path / "x.json"
    src.write_text(json.dumps(doc))
    db = tmp_path / "h.db"
    assert main(["import", str(src), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    clean(table)
    assert "(imported)" in table and "\\x1b[2J" in table
    assert main(["history", "--json", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    clean(out)
    [info] = json.loads(out)
    assert info["data"] == HOSTILE and info["imported"] is True  # the data itself, kept exactly
    target = tmp_path / f"{OSC_8}.json"
    assert main(["export", "1", "--db", str(db), "--out", str(target)]) == 0
    err = capsys.readouterr().err
    clean(err)
    assert err.startswith("wrote ") and target.is_file()


def test_log_lines_escape_controls_but_keep_a_tracebacks_lines(tmp_path):
    where = failures.log_text(f"model said {HOSTILE}\nTraceback line two")
    text = where.read_text()
    clean(text)
    assert "\nTraceback line two" in text


async def test_dashboard_header_toasts_and_leaderboard_show_outside_text_as_written(tmp_path):
    from fakes import make_session

    from initdash.ui.app import InitdashApp
    from initdash.ui.leaderboard import Leaderboard
    from initdash.ui.views import Row

    session = make_session([{"zeros": [0.8], "he_normal": [0.9]}])
    data = dataclasses.replace(tiny_dataset(), name=HOSTILE)  # a data file's name
    app = InitdashApp(session.config, data, session=session, start_training=False, export_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        header = str(app.query_one("#header").render())
        clean(header)
        assert MARKUP[2] in header
        app.notify(f"zeros failed: {HOSTILE}", title=MARKUP[1], severity="error")  # a model's message
        await pilot.pause()
        [note] = list(app._notifications)
        clean(note.message + note.title)
        assert MARKUP[0] in note.message and not note.markup
        board = app.query_one(Leaderboard)
        cells = board._cells(Row(1, HOSTILE[:40], "done", "-", "-", "-", "-", "-", "-", False),
                             (("label", "initializer"),))
        from rich.text import Text

        clean(Text.from_markup(cells[0]).plain)


# --- imports ----------------------------------------------------------------------------------------------

def export_doc(epochs: int = 2) -> dict:
    """A valid export: one sweep of zeros and he_normal, one repeat each, on built-in data."""
    def history(final: float) -> list[dict]:
        return [{"epoch": e, "loss": 0.7 - 0.1 * e, "accuracy": final - 0.1 * (epochs - e), "val_loss": 0.7 - 0.1 * e,
                 "val_accuracy": final - 0.1 * (epochs - e)} for e in range(epochs + 1)]

    config = {"data": "moons", "target": None, "split_seed": 42, "model": {"name": "linear"}, "optimizer": "sgd",
              "lr": 0.01, "batch_size": 16, "epochs": epochs, "initializers": ["zeros", "he_normal"], "repeats": 1,
              "seed": 3, "device": "cpu", "executor": "local", "ray_address": None, "data_digest": "",
              "data_label": "moons"}
    runs = [{"sweep": 1, "initializer": label, "repeat": 0, "seed": 10 + i, "status": "ok",
             "history": history(0.8 + 0.05 * i)} for i, label in enumerate(("zeros", "he_normal"))]
    return {"initdash": "0.2.0", "config": config, "runs": runs}


def test_a_valid_export_imports_as_a_marked_session(capsys, tmp_path):
    from initdash.store import open_reader

    src = tmp_path / "x.json"
    src.write_text(json.dumps(export_doc()))
    assert main(["import", str(src), "--db", str(tmp_path / "h.db")]) == 0
    assert "results only" in capsys.readouterr().err
    with open_reader(tmp_path / "h.db") as reader:
        session = reader.load_session(1)
    assert session.imported and [len(s.initializers) for s in session.sweeps] == [2]


def _set(path: str, value):
    def change(doc: dict) -> None:
        *parents, last = path.split(".")
        target = doc
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[int(last) if last.isdigit() else last] = value
    return change


BAD_IMPORTS = {
    "initializer not in the config": (_set("runs.1.initializer", "orthogonal"), "not in the config's initializers"),
    "sweep 0": (_set("runs.0.sweep", 0), "runs[0].sweep must be a whole number from 1"),
    "sweep 2**63": (_set("runs.0.sweep", 2**63), "runs[0].sweep must be a whole number from 1"),
    "an epoch numbered 10,000,000": (_set("runs.0.history.2.epoch", 10_000_000), "must be a whole number from 0"),
    "an epoch skipped": (_set("runs.0.history.1.epoch", 5), "epochs must count 0, 1, 2"),
    "epochs past the config's": (_set("config.epochs", 1), "past the config's 1 epochs"),
    "a string metric": (_set("runs.0.history.0.loss", "0.5"), "runs[0].history[0].loss must be a number"),
    "a dict metric": (_set("runs.0.history.0.loss", {"a": 1}), "runs[0].history[0].loss must be a number"),
    "accuracy 7": (_set("runs.0.history.0.accuracy", 7.0), "must be a number from 0 to 1"),
    "epochs: 2.5": (_set("config.epochs", 2.5), "config.epochs must be a whole number"),
    "batch_size: 16.5": (_set("config.batch_size", 16.5), "config.batch_size must be a whole number"),
    "split_seed: 42.7": (_set("config.split_seed", 42.7), "config.split_seed must be a whole number"),
    "lr: true": (_set("config.lr", True), "config.lr must be a number > 0"),
    "repeat twice": (_set("runs.1.initializer", "zeros"), "repeats must be 0, 1, ... each once"),
    "unknown initializer": (_set("config.initializers", ["zeros", "nope"]), "unknown initializer 'nope'"),
    "unknown status": (_set("runs.0.status", "pwned"), "runs[0].status"),
    "no runs key": (lambda d: d.pop("runs"), "runs is missing"),
}


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_a_bad_import_is_one_line_and_writes_nothing(capsys, tmp_path, case):
    change, words = BAD_IMPORTS[case]
    doc = copy.deepcopy(export_doc())
    change(doc)
    src, db = tmp_path / "x.json", tmp_path / "h.db"
    src.write_text(json.dumps(doc))
    rc = main(["import", str(src), "--db", str(db)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and words in err, err
    assert not db.exists()


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e999"])
def test_non_finite_metrics_are_refused(capsys, tmp_path, token):
    text = json.dumps(export_doc()).replace('"loss": 0.7,', f'"loss": {token},', 1)
    assert token in text
    src = tmp_path / "x.json"
    src.write_text(text)
    assert main(["import", str(src), "--db", str(tmp_path / "h.db")]) == 2
    assert "runs[0].history[0].loss" in capsys.readouterr().err
    assert not (tmp_path / "h.db").exists()


def test_deep_nesting_and_oversized_and_endless_imports_are_one_line(capsys, tmp_path, monkeypatch):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["import", str(deep), "--db", str(tmp_path / "h.db")]) == 2
    assert "recursion limit" in capsys.readouterr().err
    monkeypatch.setattr("initdash.limits.MAX_EXPORT_BYTES", 1 << 20)
    big = tmp_path / "big.json"
    big.write_text(" " * ((1 << 20) + 1))
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for path, words in ((big, "larger than the 1 MiB"), (zero, "or it never ends")):
        rc = main(["import", str(path), "--db", str(tmp_path / "h.db")])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "h.db").exists()


def test_a_csv_import_with_a_nan_metric_is_refused(capsys, tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("sweep,initializer,repeat,seed,status,epoch,loss,accuracy,val_loss,val_accuracy\n"
                   "1,zeros,0,5,ok,0,nan,0.5,0.7,0.5\n")
    assert main(["import", str(src), "--db", str(tmp_path / "h.db")]) == 2
    assert "loss must be a finite number" in capsys.readouterr().err
    assert not (tmp_path / "h.db").exists()


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that records every connection (a stand-in for a cluster an export names)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(conn.recv(4096))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", seen
    stop.set()
    thread.join(2)
    server.close()


def test_open_of_an_import_runs_nothing_it_names_and_contacts_no_address(capsys, tmp_path, listener):
    from initdash.data.files import file_digest
    from initdash.models.spec import digest

    address, seen = listener
    marker = tmp_path / "ran"
    model = tmp_path / "evil.py"
    model.write_text(f"open({str(marker)!r}, 'w').close()\nimport torch\n"
                     "def build(in_shape, n_outputs):\n    return torch.nn.Linear(in_shape[0], n_outputs)\n")
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n" + "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(40)))
    doc = export_doc()
    doc["config"].update(model={"name": f"{model}:build", "digest": digest(model.read_text())}, data=str(data),
                         executor="ray", ray_address=address, data_digest=file_digest(data))
    src, db = tmp_path / "x.json", tmp_path / "h.db"
    src.write_text(json.dumps(doc))
    assert main(["import", str(src), "--db", str(db)]) == 0
    capsys.readouterr()
    rc = main(["--headless", "--open", "1", "--db", str(db)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "never runs, opens or contacts" in err and "--model FILE.py:build" in err and "--data FILE" in err
    rc = main(["--headless", "--open", "1", "--db", str(db), "--model", str(tmp_path / "other.py:build"),
               "--data", str(data)])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    assert not marker.exists() and seen == []
    # Named on the command line, the same model file runs (the user chose it), on the local executor.
    rc = main(["--headless", "--open", "1", "--db", str(db), "--model", f"{model}:build", "--data", str(data)])
    assert rc == 0, capsys.readouterr().err
    assert marker.exists() and seen == []


def test_schema_3_databases_gain_the_imported_column(tmp_path):
    from initdash.config import ExperimentConfig
    from initdash.store import SCHEMA_VERSION, HistoryWriter, open_reader

    db = tmp_path / "h.db"
    with HistoryWriter.open(db) as writer:
        writer.start_session(ExperimentConfig(), "old")
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE sessions DROP COLUMN imported")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with open_reader(db) as reader:  # read: a migrated copy in memory
        [info] = reader.sessions()
        assert info.imported is False
    with HistoryWriter.open(db) as writer:
        assert writer.conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert writer.conn.execute("SELECT imported FROM sessions").fetchall() == [(0,)]



def test_a_recorded_session_keeps_its_own_model_and_data(capsys, tmp_path):
    from fakes import config, sweep_events

    from initdash.store import HistoryWriter

    with HistoryWriter.open(tmp_path / "h.db") as writer:
        cfg = config(inits="zeros", repeats=1)
        writer.start_session(cfg, "banknote-like")
        sid = writer.begin_sweep(cfg)
        for e in sweep_events(sid, {"zeros": [0.5]}):
            writer.append(sid, e)
        writer.end_sweep(sid, "complete")
    for flag, value in (("--data", "moons"), ("--model", "mlp")):
        rc = main(["--headless", "--open", "1", "--db", str(tmp_path / "h.db"), flag, value])
        err = capsys.readouterr().err
        assert rc == 2 and f"{flag} cannot be combined with --open: session 1 keeps its own settings" in err
