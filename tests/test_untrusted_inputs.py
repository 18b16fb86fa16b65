"""Inputs are bounded and typed (config files, data files, the history path); a user's model cannot hang or crash
initdash, nor mix its output into the results; readers of the history create nothing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from initdash.cli import main

FAST = ["--headless", "--no-save", "--epochs", "1", "--init", "zeros"]
ROOT = Path(__file__).resolve().parent.parent


def one_line(capsys, rc: int, words: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("initdash: error: ") and words in err, err
    return err


# --- settings: one model ----------------------------------------------------------------------------------

def test_the_settings_model_covers_every_setting():
    from initdash.config import OUTPUT_SETTINGS, SETTINGS, ExperimentConfig
    from initdash.settings import ConfigSettings, FileSettings

    # a user's initializer file's digest is stored beside the settings; in the config it rides on its InitSpec
    assert {f.name for f in dataclasses.fields(ExperimentConfig)} == \
        set(ConfigSettings.model_fields) - {"initializer_digests"}
    assert set(FileSettings.model_fields) == {*SETTINGS, "preset", *OUTPUT_SETTINGS}


@pytest.mark.parametrize("toml, words", [
    ("epochs = 2.5", "epochs must be a whole number, got 2.5"),
    ("batch-size = 16.5", "batch_size must be a whole number, got 16.5"),
    ("split_seed = 42.7", "split_seed must be a whole number, got 42.7"),
    ("lr = true", "lr must be a number, got True"),
    ("batch-size = 16\nbatch_size = 8", "both 'batch-size' and 'batch_size' are given"),
    ("batch_size = 0", "--batch-size must be a whole number from 1 to"),
    ("hidden = [64, 6.5]", "hidden[1] must be a whole number"),
    ("nope = 1", "unknown setting 'nope'"),
    ("[table]\nx = 1", "table must be a value, not a table"),
])
def test_a_bad_config_file_is_one_line(capsys, tmp_path, toml, words):
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    one_line(capsys, main([*FAST, "--config", str(path)]), words)


def test_flags_toml_and_stored_configs_share_the_ranges(capsys, tmp_path):
    from initdash.config import ExperimentConfig
    from initdash.errors import UserError

    path = tmp_path / "c.toml"
    path.write_text("repeats = 0\n")
    one_line(capsys, main([*FAST, "--config", str(path)]), "--repeats must be a whole number from 1 to")
    one_line(capsys, main([*FAST, "--repeats", "0"]), "--repeats must be a whole number from 1 to")
    with pytest.raises(UserError, match="repeats must be a whole number from 1 to"):
        ExperimentConfig.from_dict({**ExperimentConfig().to_dict(), "repeats": 0})
    with pytest.raises(UserError, match="epochs must be a whole number"):
        ExperimentConfig.from_dict({**ExperimentConfig().to_dict(), "epochs": 2.5})


def test_an_endless_or_huge_config_file_is_one_line(capsys, tmp_path):
    zero = tmp_path / "z.toml"
    zero.symlink_to("/dev/zero")
    one_line(capsys, main([*FAST, "--config", str(zero)]), "larger than the 1 MiB")
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    one_line(capsys, main([*FAST, "--config", str(big)]), "larger than the 1 MiB such a file may have")


# --- data files -------------------------------------------------------------------------------------------

def test_a_data_path_that_is_not_a_regular_file_is_one_line(capsys, tmp_path):
    zero = tmp_path / "x.csv"
    zero.symlink_to("/dev/zero")
    one_line(capsys, main([*FAST, "--data", str(zero)]), "not a regular file")
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    one_line(capsys, main([*FAST, "--data", str(fifo)]), "not a regular file")


def test_a_csv_line_without_end_is_bounded(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("initdash.data.files.MAX_CSV_LINE", 1000)
    path = tmp_path / "long.csv"
    path.write_text("a," * 600 + "y\n")
    one_line(capsys, main([*FAST, "--data", str(path)]), "a line longer than 1,000 characters")


def test_npz_without_features_rows_or_npy_members_is_one_line(capsys, tmp_path):
    import zipfile

    cases = {"features.npz": "x has no features (shape (10, 0))", "rows.npz": "hold no examples (0 rows)",
             "member.npz": "x is not a .npy array", "garbage.npz": "not a valid .npy array inside"}
    np.savez(tmp_path / "features.npz", x=np.zeros((10, 0)), y=np.arange(10) % 2)
    np.savez(tmp_path / "rows.npz", x=np.zeros((0, 3)), y=np.zeros(0, dtype=int))
    with zipfile.ZipFile(tmp_path / "member.npz", "w") as z:
        z.writestr("x", b"not numpy")
        z.writestr("y.npy", b"")
    with zipfile.ZipFile(tmp_path / "garbage.npz", "w") as z:
        z.writestr("x.npy", b"\x93NUMPY garbage")
        z.writestr("y.npy", b"\x93NUMPY garbage")
    for name, words in cases.items():
        one_line(capsys, main([*FAST, "--data", str(tmp_path / name)]), words)


# --- a user's model ---------------------------------------------------------------------------------------

EXITING = """
import sys, threading, torch
class Net(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.l = torch.nn.Linear(n_in, n_out)
        self.norm = torch.nn.BatchNorm1d(n_out)  # running statistics: trained one model at a time, no vmap
    def forward(self, x):
        if not bool(self.l.weight.detach().any()):  # the zeros initializer: only its unit fails
            {raise_}
        return self.norm(self.l(x))
def build(in_shape, n_outputs):
    {build}
    return Net(in_shape[0], n_outputs)
"""


@pytest.mark.parametrize("raise_, words", [("sys.exit(7)", "called sys.exit(7)"),
                                           ("raise KeyboardInterrupt", "KeyboardInterrupt")])
def test_a_model_that_exits_in_training_fails_its_unit_and_the_others_go_on(capsys, tmp_path, raise_, words):
    path = tmp_path / "m.py"
    path.write_text(EXITING.format(raise_=raise_, build="pass"))
    rc = main(["--headless", "--no-save", "--model", f"{path}:build", "--epochs", "1", "--init", "zeros,he_normal"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"zeros: failed ({words})" in err and "he_normal: done" in err
    assert out.splitlines()[2].split()[0] == "zeros" and out.splitlines()[3].split()[-3:] == ["1", "0", "0"]


def test_a_model_that_exits_while_built_or_checked_is_one_line(capsys, tmp_path):
    path = tmp_path / "m.py"
    path.write_text(EXITING.format(raise_="pass", build="sys.exit(3)"))
    one_line(capsys, main([*FAST, "--model", f"{path}:build"]), "called sys.exit(3)")
    path.write_text("import sys\nsys.exit(4)\n")
    one_line(capsys, main([*FAST, "--model", f"{path}:build"]), "called sys.exit(4) while loading")
    path.write_text("import torch, sys\nclass N(torch.nn.Linear):\n    def forward(self, x):\n        sys.exit(5)\n"
                    "def build(in_shape, n_outputs):\n    return N(in_shape[0], n_outputs)\n")
    one_line(capsys, main([*FAST, "--model", f"{path}:build"]), "the model fails on banknote-like examples of "
             "shape (4,): called sys.exit(5)")


def test_a_model_that_prints_and_changes_directory_leaves_results_and_paths_alone(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (work / "noisy.py").write_text(
        "import os, torch\nprint('LOADED')\n"
        "class Net(torch.nn.Linear):\n"
        "    def forward(self, x):\n"
        f"        print('PRINTED'); os.write(1, b'WRITTEN\\n'); os.chdir({str(elsewhere)!r})\n"
        "        return super().forward(x)\n"
        "def build(in_shape, n_outputs):\n    return Net(in_shape[0], n_outputs)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "initdash", "--headless", "--model", "noisy.py:build", "--epochs", "1",
                           "--init", "zeros", "--out", "res.json", "--db", "h.db"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("initializer ") and "PRINTED" not in done.stdout and "WRITTEN" not in done.stdout
    assert "LOADED" in done.stderr and "PRINTED" in done.stderr and "WRITTEN" in done.stderr
    assert (work / "res.json").is_file() and (work / "h.db").is_file() and sorted(os.listdir(elsewhere)) == []


# --- the history file -------------------------------------------------------------------------------------

def _recorded(db: Path):
    from fakes import config, sweep_events

    from initdash.store import HistoryWriter

    writer = HistoryWriter.open(db)
    cfg = config(inits="zeros", repeats=1)
    writer.start_session(cfg, "fake")
    sid = writer.begin_sweep(cfg)
    for e in sweep_events(sid, {"zeros": [0.5]}):
        writer.append(sid, e)
    writer.end_sweep(sid, "complete")
    return writer


@pytest.mark.parametrize("writer_open", [False, True], ids=["closed", "writer-open"])
def test_history_and_export_create_no_file_beside_the_database(capsys, tmp_path, writer_open):
    d, out = tmp_path / "d", tmp_path / "out"
    d.mkdir()
    out.mkdir()
    d.chmod(0o1777)  # a shared, sticky directory, as /tmp
    writer = _recorded(d / "h.db")
    if not writer_open:
        writer.close()
    before = sorted(os.listdir(d))
    assert before == (["h.db", "h.db-shm", "h.db-wal"] if writer_open else ["h.db"])
    assert main(["history", "--db", str(d / "h.db")]) == 0
    assert main(["export", "1", "--db", str(d / "h.db"), "--out", str(out / "x.json")]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(d)) == before and (out / "x.json").is_file()
    if writer_open:
        writer.close()
        assert sorted(os.listdir(d)) == ["h.db"]


def test_a_reader_reads_again_when_a_writer_starts_under_it(tmp_path):
    from initdash.store import open_reader

    db = tmp_path / "h.db"
    _recorded(db).close()
    with open_reader(db) as reader:
        assert len(reader.sessions()) == 1  # immutable: no writer had the file open
        writer = _recorded(db)  # a second session, written while the reader is open
        try:
            assert [s.id for s in reader.sessions()] == [1, 2]
        finally:
            writer.close()


@pytest.mark.parametrize("argv", [["--headless", "--epochs", "1", "--db", "/dev/null"],
                                  ["history", "--db", "/dev/null"],
                                  ["export", "1", "--db", "/dev/null", "--out", "{tmp}/new.json"],
                                  ["import", "{tmp}/x.json", "--db", "/dev/null"]])
def test_a_database_path_that_is_not_a_regular_file_is_refused(capsys, tmp_path, argv):
    import json

    from test_untrusted import export_doc

    (tmp_path / "x.json").write_text(json.dumps(export_doc()))
    one_line(capsys, main([a.replace("{tmp}", str(tmp_path)) for a in argv]), "/dev/null is not a regular file")
    assert not Path("/dev/null-journal").exists() and not Path("/dev/null-wal").exists()
