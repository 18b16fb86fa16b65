"""A second hostile probe (issue 16) on the newer paths: `initdash report DIR` on a TensorBoard directory that is
not what it seems, grids and user initializers in exports, worker processes that misbehave."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from initdash.cli import main


def _runs(root: Path, values: dict[str, list[float]]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for name, steps in values.items():
        with SummaryWriter(str(root / name)) as w:
            for step, value in enumerate(steps):
                w.add_scalar("val_accuracy", value, step)


def test_report_refuses_an_event_file_that_is_not_a_regular_file(tmp_path, capsys):
    # Reading a FIFO named like an event file never ended; a device never runs out: refused by name, in one line.
    pytest.importorskip("tensorboard")
    _runs(tmp_path, {"initializer=a": [0.5]})
    (tmp_path / "initializer=f").mkdir()
    os.mkfifo(tmp_path / "initializer=f" / "events.out.tfevents.1.x")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and err.count("\n") == 1
    (tmp_path / "initializer=f" / "events.out.tfevents.1.x").unlink()
    (tmp_path / "initializer=f" / "events.out.tfevents.1.x").symlink_to("/dev/zero")
    assert main(["report", str(tmp_path)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_report_keeps_a_bounded_number_of_events_and_still_counts_the_last(tmp_path, capsys, monkeypatch):
    # A run's every event was kept in memory (a 100 MB event file: 2.9 GB); a bounded reservoir keeps the last.
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import plugin_event_accumulator

    from initdash.export import tensorboard_report

    monkeypatch.setattr(tensorboard_report, "KEPT_PER_TAG", 5)
    kept = []
    real = plugin_event_accumulator.EventAccumulator

    class Counting(real):
        def Reload(self):  # noqa: N802 (tensorboard's name)
            out = super().Reload()
            kept.extend(len(self.Tensors(t)) for t in self.Tags()["tensors"])
            return out

    monkeypatch.setattr(plugin_event_accumulator, "EventAccumulator", Counting)
    _runs(tmp_path, {"initializer=a": [i / 100 for i in range(60)], "initializer=b": [0.25] * 60})
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0.5900" in out and "0.2500" in out
    assert kept and max(kept) <= 5


def test_a_worker_under_the_dashboard_writes_nothing_into_the_terminal(tmp_path):
    # A user's model in a worker process wrote (os.write, C code) raw into the dashboard's terminal: 258 writes,
    # an OSC 52 clipboard write among them, in 25 s of a sweep. Where the parent captures Python's streams (as
    # Textual does), a worker's terminal descriptors go to the log file.
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    code = ("import io, os, sys\nsys.stdout = io.StringIO()\n"
            "from initdash.executors.processes import _output_off_the_dashboard\n"
            "_output_off_the_dashboard()\nos.write(1, b'FD1\\x1b]52;c;aGk=\\x07'); os.write(2, b'FD2'); print('PY')\n"
            "sys.stdout.flush()\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code], stdout=slave, stderr=slave, env=env, timeout=60)
    os.close(slave)
    seen = b""
    try:
        while chunk := os.read(master, 4096):
            seen += chunk
    except OSError:  # the pty's other end is closed: all read
        pass
    os.close(master)
    assert done.returncode == 0 and seen == b""
    log = (tmp_path / "initdash" / "initdash.log").read_bytes()
    assert b"FD1" in log and b"FD2" in log and b"PY" in log


@pytest.mark.parametrize("with_digest", [False, True], ids=["no-digest", "its-own-digest"])
def test_open_of_an_import_runs_no_initializer_file_it_names(capsys, tmp_path, with_digest):
    # An export naming FILE.py:NAME as an initializer: --open of the imported session ran that file (the model
    # path was refused, the initializer path was not). The digest is the sender's own: it proves nothing.
    import hashlib
    import json

    from test_untrusted import export_doc

    marker = tmp_path / "ran"
    init = tmp_path / "evil_init.py"
    init.write_text(f"open({str(marker)!r}, 'w').close()\ndef z(model, generator):\n    pass\n")
    spec = f"{init}:z"
    doc = export_doc()
    doc["config"]["initializers"] = ["zeros", spec]
    if with_digest:
        doc["config"]["initializer_digests"] = {spec: hashlib.sha256(init.read_bytes()).hexdigest()}
    doc["runs"][1]["initializer"] = spec
    src, db = tmp_path / "x.json", tmp_path / "h.db"
    src.write_text(json.dumps(doc))
    assert main(["import", str(src), "--db", str(db)]) == 0
    assert main(["report", "1", "--db", str(db)]) == 0  # data: reported as any session
    capsys.readouterr()
    assert main(["--headless", "--open", "1", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evil_init.py:z" in err and "never runs what an export names" in err
    assert not marker.exists()


@pytest.mark.parametrize("command", ["import", "report"])
def test_an_export_or_config_that_is_a_fifo_is_refused_not_waited_on(capsys, tmp_path, command):
    # `initdash import x.json` (and report, --config) on a FIFO waited forever in open() for a writer.
    import signal

    def hung(*_):
        raise AssertionError("waited on the FIFO")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    assert main([command, str(fifo), "--db", str(tmp_path / "h.db")]) == 2
    err = capsys.readouterr().err
    assert "a pipe or socket, not a file" in err and err.count("\n") == 1
    toml = tmp_path / "c.toml"
    os.mkfifo(toml)
    assert main(["--headless", "--config", str(toml), "--no-save"]) == 2
    signal.alarm(0)
    assert "a pipe or socket, not a file" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--model", "--init"])
def test_a_model_or_initializer_file_that_is_a_fifo_is_refused(capsys, tmp_path, flag):
    # --model f.py:b / --init f.py:b on a FIFO waited forever in read_bytes() for a writer.
    import signal

    def hung(*_):
        raise AssertionError("waited on the FIFO")

    fifo = tmp_path / "f.py"
    os.mkfifo(fifo)
    signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    assert main(["--headless", "--no-save", "--epochs", "1", flag, f"{fifo}:b"]) == 2
    signal.alarm(0)
    err = capsys.readouterr().err
    assert "not a regular file" in err and err.count("\n") == 1


@pytest.mark.parametrize("value", ["nan,0.1", "inf,0.1", "0,0.1", "1e39,0.1"])
def test_a_bad_learning_rate_in_a_list_is_said_as_such(capsys, value):
    # `--lr nan,0.1` said "--lr must be up to 1000 learning rates": the rule of the list, not of its value.
    assert main(["--headless", "--no-save", "--model", "mlp", "--lr", value]) == 2
    err = capsys.readouterr().err
    assert "each > 0 and at most 3.403e+38" in err and err.count("\n") == 1


def test_a_run_whose_learning_rate_is_not_its_configs_is_refused(capsys, tmp_path):
    # Outside a grid, a run's lr other than the config's was imported, then re-exported as the config's: the
    # file's value silently lost. Runs are consistent with their config, lr included.
    import json

    from test_untrusted import export_doc

    doc = export_doc()
    doc["runs"][0]["lr"] = 0.5
    src = tmp_path / "x.json"
    src.write_text(json.dumps(doc))
    assert main(["import", str(src), "--db", str(tmp_path / "h.db")]) == 2
    err = capsys.readouterr().err
    assert "lr 0.5 is not the config's learning rate 0.01" in err and not (tmp_path / "h.db").exists()
    doc["runs"][0]["lr"] = 0.01  # as written by an export: accepted
    src.write_text(json.dumps(doc))
    assert main(["import", str(src), "--db", str(tmp_path / "h.db")]) == 0


MODEL_EXITS = """import os
from torch import nn


class M(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.l = nn.Linear(n, 1)

    def forward(self, x):
        os._exit(7)


def build(in_shape, n_outputs):
    return M(in_shape[0])
"""
INIT_EXITS = "import os\n\n\ndef init(model, generator):\n    os._exit(9)\n"
LOAD_EXITS = "import os\n\nos._exit(6)\n"


@pytest.mark.parametrize(("file", "text", "flags", "code"), [
    ("m.py", MODEL_EXITS, ["--model", "{path}:build"], 7),
    ("i.py", INIT_EXITS, ["--hidden", "4", "--init", "{path}:init"], 9),
    ("w.py", LOAD_EXITS, ["--model", "{path}:build", "--width", "8,16"], 6),  # a grid checks each width
    ("a.py", INIT_EXITS, ["audit", "--hidden", "4", "--init", "{path}:init"], 9),  # initdash audit
])
def test_a_users_code_that_ends_its_process_before_training_is_one_line(tmp_path, capsys, file, text, flags, code):
    """The checks before training run a user's model and initializer once, in a forked child: os._exit there
    ends the child, and initdash says so (before, it ended initdash with the model's exit code and no word)."""
    path = tmp_path / file
    path.write_text(text)
    given = [f.replace("{path}", str(path)) for f in flags]
    argv = given if given[0] == "audit" else ["--headless", "--no-save", "--epochs", "1", *given]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert f"it ended the process that checked it (exit code {code}) before answering" in err
