"""Nothing lost, nothing wrong: outputs never overwrite inputs, every number is range-checked before work, a run
with no result says so, and nothing ends in a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import wait_until

from initdash import exit_codes
from initdash.cli import main

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--headless", "--seed", "1", "--epochs", "1", "--init", "zeros"]
CSV = "a,b,y\n" + "".join(f"{i},{(i * 7) % 5},{i % 2}\n" for i in range(20))


def one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == exit_codes.USER_ERROR, err
    assert err.count("\n") == 1 and err.startswith("initdash: error: ") and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


# --- no output over an input ------------------------------------------------------------------------------

def test_out_over_the_data_file_is_refused_and_the_data_kept(tmp_path, capsys):
    data = tmp_path / "mydata.csv"
    data.write_text(CSV)
    for out in (data, tmp_path / "sub" / ".." / "mydata.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        one_line_error(capsys, main([*FAST, "--no-save", "--data", str(data), "--out", str(out)]),
                       "is the data file")
    assert data.read_text() == CSV


def test_out_whose_layers_sibling_is_the_data_is_refused(tmp_path, capsys):
    data = tmp_path / "runs.layers.csv"
    data.write_text(CSV)
    one_line_error(capsys, main([*FAST, "--no-save", "--data", str(data), "--out", str(tmp_path / "runs.csv")]),
                   "runs.layers.csv is the data file")
    assert data.read_text() == CSV


def test_out_over_the_database_the_config_or_the_model_file_is_refused(tmp_path, capsys):
    db = tmp_path / "h.json"
    one_line_error(capsys, main([*FAST, "--db", str(db), "--out", str(db)]), "is the history database")
    config = tmp_path / "exp.csv"
    config.write_text("epochs = 1\n")  # a TOML file, oddly named: still an input
    one_line_error(capsys, main([*FAST, "--no-save", "--config", str(config), "--out", str(config)]),
                   "is the config file")
    model = tmp_path / "net.json"
    model.write_text("")
    link = tmp_path / "model.py"
    link.write_text("import torch\ndef build(in_shape, n_outputs):\n    return torch.nn.Linear(in_shape[0], 1)\n")
    os.symlink(link, model.with_suffix(".csv"))
    one_line_error(capsys, main([*FAST, "--no-save", "--model", f"{link}:build",
                                 "--out", str(model.with_suffix(".csv"))]), "is the model file")
    assert "import torch" in link.read_text()


def test_export_over_the_database_is_refused(tmp_path, capsys):
    db = tmp_path / "h.csv"
    one_line_error(capsys, main(["export", "1", "--db", str(db), "--out", str(db)]), "is the history database")


# --- range checks before work -----------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "words"), [
    (["--lr", "1e39"], "--lr must be a number > 0 and at most 3.403e+38"),
    (["--batch-size", "99999999999999999999"], "--batch-size must be a whole number from 1 to 2147483647"),
    (["--repeats", "99999999999999999999"], "--repeats must be a whole number from 1 to 100000"),
    (["--epochs", "10000000"], "--epochs must be a whole number from 1 to 1000000"),
    (["--seed", str(2**63)], "--seed must be a whole number from 0 to 9223372036854775807"),
    (["--split-seed", str(2**32)], "--split-seed must be a whole number from 0 to 4294967295"),
    (["--sweeps", "99999999999999999999"], "--sweeps must be a whole number from 1 to 1000000"),
    (["--open", str(2**63)], "session ids run from 1 to 9223372036854775807"),
    (["--open", "0"], "session ids run from 1 to"),
    (["--depth", "0", "--model", "resnet"], "--depth must be between 1 and 1000"),
    (["--channels", "0", "--model", "cnn"], "--channels sizes must be between 1 and 1048576"),
    (["--hidden", "100000,100000"], "1 initializer x 1 run of 10,000,700,001 parameters each need about 200.1 GB"),
    (["--init", "normal:std=1e31"], "out of range (at most 1e+30 in size)"),
    (["--repeats", "100000", "--hidden", "1000,1000"], "x 100000 runs of 1,007,001 parameters each need about"),
])
def test_numbers_out_of_range_are_refused_before_training(tmp_path, capsys, args, words):
    db = tmp_path / "h.db"
    one_line_error(capsys, main([*FAST, "--db", str(db), *args]), words)
    assert not db.exists()  # refused before anything was written


def test_config_file_values_get_the_same_range_checks(tmp_path, capsys):
    config = tmp_path / "exp.toml"
    config.write_text("lr = 1e39\n")
    one_line_error(capsys, main([*FAST, "--no-save", "--config", str(config)]), "--lr must be a number > 0")
    config.write_text("batch-size = 99999999999999999999\n")
    one_line_error(capsys, main([*FAST, "--no-save", "--config", str(config)]), "--batch-size must be a whole number")


def test_ids_of_stored_sessions_are_checked(tmp_path, capsys):
    one_line_error(capsys, main(["export", str(2**64), "--out", str(tmp_path / "x.json")]), "session ids run")


def test_a_run_whose_models_all_diverged_exits_non_zero(tmp_path, capsys):
    code = main(["--headless", "--no-save", "--seed", "1", "--epochs", "1", "--hidden", "8,8", "--activation", "linear",
                 "--init", "normal:std=1e29"])
    err = capsys.readouterr().err
    assert code == exit_codes.FAILED and "no run trained to the end" in err, err


def test_a_run_whose_workers_all_failed_exits_non_zero(tmp_path, capsys, monkeypatch):
    from initdash import engine

    def broken(*args, **kw):
        raise RuntimeError("simulated")

    monkeypatch.setattr(engine, "train_many", broken)
    assert main(["--headless", "--no-save", "--seed", "1", "--epochs", "1"]) == exit_codes.FAILED
    assert "every run failed or diverged" in capsys.readouterr().err


def test_huge_finite_features_train_without_overflow(tmp_path, capsys):
    data = tmp_path / "huge.csv"
    data.write_text("a,b,y\n" + "".join(f"{(i % 7) * 1e307},{i},{i % 2}\n" for i in range(40)))
    code = main(["--headless", "--no-save", "--seed", "1", "--epochs", "2", "--data", str(data), "--init",
                 "glorot_uniform"])
    out, err = capsys.readouterr()
    assert code == 0 and "overflow" not in err.lower(), err
    assert " 0 " in out.splitlines()[2]  # diverged: 0


def test_a_validation_set_without_a_class_says_so(tmp_path, capsys):
    data = tmp_path / "rare.csv"
    data.write_text("a,y\n" + "".join(f"{i},{'common' if i else 'rare'}\n" for i in range(30)))
    one_line_error(capsys, main([*FAST, "--no-save", "--data", str(data)]), "has no row of class 'rare'")


# --- no tracebacks anywhere -------------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "code", "words"), [
    (MemoryError(), exit_codes.FAILED, "out of memory"),
    (OverflowError("int too large to convert"), exit_codes.USER_ERROR, "a number is too large"),
    (RuntimeError("a bug"), exit_codes.FAILED, "internal error: RuntimeError: a bug (traceback in"),
])
def test_unexpected_errors_are_one_line(capsys, monkeypatch, error, code, words):
    from initdash import experiment

    def boom(*args, **kw):
        raise error

    monkeypatch.setattr(experiment, "prepare", boom)
    assert main(["--headless", "--no-save"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err, err


def test_ctrl_c_during_start_up_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INITDASH_DB": str(tmp_path / "h.db")}
    proc = subprocess.Popen([sys.executable, "-m", "initdash", "--headless", "--seed", "1", "--epochs", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    # Interrupt as soon as initdash's own imports run (the settings model's pydantic_core, or numpy, is mapped),
    # while it is still starting: SIGINT, as Ctrl-C sends it. Earlier than that Python itself is still starting,
    # and a SIGINT there is CPython's to answer ("Fatal Python error: init_import_site"), not initdash's.
    def importing() -> bool:
        try:
            maps = Path(f"/proc/{proc.pid}/maps").read_bytes()
        except OSError:
            return False
        return b"pydantic_core" in maps or b"_multiarray_umath" in maps

    wait_until(importing, 30, "initdash's imports")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode in (exit_codes.INTERRUPTED, -signal.SIGINT), (proc.returncode, err)
    assert len(err.strip().splitlines()) <= 3, err


def test_history_json_of_a_run_that_trained_is_valid(tmp_path, capsys):
    db = tmp_path / "h.db"
    assert main([*FAST, "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == 1


# --- a session is one experiment --------------------------------------------------------------------------

def test_open_refuses_a_changed_or_missing_data_file_and_says_what_differs(tmp_path, capsys):
    data, db = tmp_path / "notes.csv", tmp_path / "h.db"
    data.write_text("a,b,c,d,y\n" + "".join(f"{i},{i % 3},{i % 5},{i % 7},{i % 2}\n" for i in range(40)))
    assert main([*FAST, "--db", str(db), "--data", str(data)]) == 0
    capsys.readouterr()
    data.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))  # 4 features became 2
    one_line_error(capsys, main(["--headless", "--db", str(db), "--open", "1"]),
                   "changed since the session was recorded", "4 features", "2 features")
    data.unlink()
    one_line_error(capsys, main(["--headless", "--db", str(db), "--open", "1"]), "notes.csv is gone")


def test_open_refuses_a_changed_or_missing_model_file(tmp_path, capsys):
    model, db = tmp_path / "net.py", tmp_path / "h.db"
    model.write_text("import torch\ndef build(in_shape, n_outputs):\n    return torch.nn.Linear(in_shape[0], 1)\n")
    assert main([*FAST, "--db", str(db), "--model", f"{model}:build"]) == 0
    capsys.readouterr()
    model.write_text(model.read_text() + "# a change\n")
    one_line_error(capsys, main(["--headless", "--db", str(db), "--open", "1"]), "net.py changed since")
    model.unlink()
    one_line_error(capsys, main(["--headless", "--db", str(db), "--open", "1"]), "net.py: no such file")
