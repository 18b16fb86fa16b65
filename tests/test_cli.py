"""The command line, in-process: headless runs, their JSON/CSV output, and every user error."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from initdash import __version__
from initdash.cli import main
from initdash.initializers import ALIASES, CATALOG, DEFAULT_INITIALIZERS

FAST = ["--headless", "--seed", "3", "--epochs", "2"]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_same_command_twice_gives_identical_json(capsys, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli(capsys, *FAST, "--out", str(a))[0] == 0
    assert cli(capsys, *FAST, "--out", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()
    other = tmp_path / "c.json"
    assert cli(capsys, "--headless", "--seed", "4", "--epochs", "2", "--out", str(other))[0] == 0
    assert json.loads(other.read_text())["runs"] != json.loads(a.read_text())["runs"]


def test_json_schema_and_values(capsys, tmp_path):
    path = tmp_path / "x.json"
    code, out, err = cli(capsys, *FAST, "--out", str(path))
    assert code == 0
    doc = json.loads(path.read_text())
    assert set(doc) == {"initdash", "config", "runs"} and doc["initdash"] == __version__
    config = doc["config"]
    assert config["seed"] == 3 and config["epochs"] == 2 and config["optimizer"] == "rmsprop"
    assert config["lr"] == 0.001 and config["batch_size"] == 16 and config["repeats"] == 1
    assert config["design"] == "paired"
    assert config["data"] == "banknote-like" and config["split_seed"] == 42 and config["model"] == {"name": "linear"}
    assert config["initializers"] == list(DEFAULT_INITIALIZERS)
    runs = doc["runs"]
    assert [r["initializer"] for r in runs] == list(DEFAULT_INITIALIZERS)
    seeds = set()
    for r in runs:
        assert set(r) == {"sweep", "initializer", "repeat", "seed", "init_seed", "data_seed", "lr", "width", "status",
                          "history"}
        assert r["init_seed"] == r["seed"] and r["data_seed"] == runs[0]["data_seed"]  # paired: one data order
        assert r["sweep"] == 1 and r["repeat"] == 0 and r["status"] == "ok"
        assert isinstance(r["seed"], int) and 0 <= r["seed"] < 2**63
        seeds.add(r["seed"])
        assert [h["epoch"] for h in r["history"]] == [0, 1, 2]
        for h in r["history"]:
            assert set(h) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(seeds) == 5
    zeros = runs[0]["history"][0]
    assert abs(zeros["loss"] - math.log(2)) < 1e-6 and abs(zeros["val_loss"] - math.log(2)) < 1e-6
    assert f"wrote {path}" in err


def test_csv_output_matches_the_json(capsys, tmp_path):
    j, c = tmp_path / "x.json", tmp_path / "x.csv"
    assert cli(capsys, *FAST, "--out", str(j))[0] == 0
    assert cli(capsys, *FAST, "--out", str(c))[0] == 0
    text = c.read_text()
    assert text.splitlines()[0] == \
        "sweep,initializer,repeat,seed,status,epoch,loss,accuracy,val_loss,val_accuracy,lr,width"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 * 3
    runs = json.loads(j.read_text())["runs"]
    expected = [(str(r["sweep"]), r["initializer"], str(r["repeat"]), str(r["seed"]), str(h["epoch"]), h)
                for r in runs for h in r["history"]]
    for got, (sweep, init, repeat, seed, epoch, h) in zip(rows, expected):
        assert (got["sweep"], got["initializer"], got["repeat"], got["seed"], got["epoch"]) == (
            sweep, init, repeat, seed, epoch)
        for m in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(got[m]) == h[m]


def test_repeats_and_reruns(capsys, tmp_path):
    path = tmp_path / "r.json"
    code, out, err = cli(capsys, "--headless", "--seed", "5", "--epochs", "1", "--repeats", "2", "--reruns", "2",
                         "--out", str(path))
    assert code == 0
    runs = json.loads(path.read_text())["runs"]
    assert len(runs) == 2 * 2 * 5
    keys = {(r["sweep"], r["initializer"], r["repeat"]) for r in runs}
    assert keys == {(k, i, p) for k in (1, 2) for i in DEFAULT_INITIALIZERS for p in (0, 1)}
    assert len({r["seed"] for r in runs}) == 20  # fresh seeds for every repeat and every rerun
    table = out.splitlines()
    for label in DEFAULT_INITIALIZERS:
        line = next(x for x in table if x.split()[0] == label)
        assert "±" in line and line.split()[-3] == "4"  # 2 repeats x 2 reruns
    assert "sweep 2" in err


def test_results_table_names_every_initializer(capsys):
    code, out, err = cli(capsys, *FAST)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["initializer", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [x.split()[0] for x in lines[2:]] == list(DEFAULT_INITIALIZERS)
    assert "±" not in out  # one run each: no spread to show
    assert "seed 3" in err and "synthetic" in err
    for label in DEFAULT_INITIALIZERS:
        assert f"sweep 1  {label}:" in err  # progress on stderr


def test_headless_is_automatic_when_stdout_is_not_a_terminal(capsys):
    code, out, err = cli(capsys, "--seed", "1", "--epochs", "1", "--init", "zeros")
    assert code == 0 and out.splitlines()[2].split()[0] == "zeros"


def test_seeds_are_keyed_by_initializer_not_position(capsys, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli(capsys, *FAST, "--init", "zeros,he_normal", "--out", str(a))[0] == 0
    assert cli(capsys, *FAST, "--init", "he_normal", "--out", str(b))[0] == 0
    ra = json.loads(a.read_text())["runs"][1]
    rb = json.loads(b.read_text())["runs"][0]
    assert ra["initializer"] == rb["initializer"] == "he_normal"
    assert ra["seed"] == rb["seed"] and ra["history"] == rb["history"]


def test_params_aliases_and_mlp_from_the_command_line(capsys, tmp_path):
    path = tmp_path / "m.json"
    code, out, err = cli(capsys, "--headless", "--seed", "2", "--epochs", "1", "--data", "moons", "--hidden", "8,4",
                         "--activation", "TANH", "--optimizer", "Adam", "--lr", "0.01", "--batch-size", "64",
                         "--init", "uniform:low=-1,high=1,variance_scaling:scale=2,mode=fan_out,distribution=uniform",
                         "--out", str(path))
    assert code == 0, err
    doc = json.loads(path.read_text())
    assert doc["config"]["model"] == {"name": "mlp", "hidden": [8, 4], "activation": "tanh"}
    assert doc["config"]["optimizer"] == "adam" and doc["config"]["lr"] == 0.01
    labels = ["uniform:low=-1,high=1", "variance_scaling:scale=2,mode=fan_out,distribution=uniform"]
    assert [r["initializer"] for r in doc["runs"]] == labels
    assert [x.split()[0] for x in out.splitlines()[2:]] == labels


def test_csv_data_shows_the_label_mapping(capsys, tmp_path):
    data = tmp_path / "notes.csv"
    data.write_text("a,b,kind\n" + "".join(f"{i},{(i * 3) % 5},{'real' if i % 3 else 'fake'}\n" for i in range(30)))
    code, out, err = cli(capsys, "--headless", "--seed", "1", "--epochs", "1", "--init", "zeros", "--data", str(data))
    assert code == 0, err
    assert "labels: 'fake' -> 0, 'real' -> 1" in err
    assert "notes.csv" in err


def test_a_failing_worker_is_reported_and_the_others_go_on(capsys, tmp_path, monkeypatch):
    from initdash import engine

    real = engine.fill

    def flaky(model, spec, *args):
        if spec.label == "he_normal":
            raise RuntimeError("simulated worker crash")
        return real(model, spec, *args)

    monkeypatch.setattr(engine, "fill", flaky)  # fails inside the engine, for one initializer only
    path = tmp_path / "f.json"
    code, out, err = cli(capsys, *FAST, "--init", "zeros,he_normal", "--out", str(path))
    assert code == 0
    runs = json.loads(path.read_text())["runs"]
    assert [(r["initializer"], r["status"], len(r["history"])) for r in runs] == [("zeros", "ok", 3),
                                                                                  ("he_normal", "failed", 0)]
    he = next(line for line in out.splitlines() if line.startswith("he_normal"))
    assert he.split()[1:] == ["-", "-", "-", "-", "1", "0", "1"]
    assert "he_normal: failed (RuntimeError: simulated worker crash)" in err


def test_list_initializers_in_process(capsys):
    code, out, err = cli(capsys, "--list-initializers")
    assert code == 0 and err == ""
    names = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert names == list(CATALOG)
    for alias in ALIASES:
        assert alias in out


def test_python_dash_m_runs_headless():
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "initdash", "--headless", "--seed", "1", "--epochs", "1",
                           "--init", "zeros"], capture_output=True, text=True, timeout=120, cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split()[0] == "zeros"
    assert "Traceback" not in done.stderr
    listed = subprocess.run([sys.executable, "-m", "initdash", "--list-initializers"], capture_output=True,
                            text=True, timeout=60, cwd=root, env=env)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines() if not line.startswith(" ")] == list(CATALOG)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"initdash {__version__}"


# ---------------------------------------------------------------- user errors

ONE_CLASS = "a,b,y\n1,2,0\n3,4,0\n5,6,0\n7,8,0\n"
NON_NUMERIC = "a,b,y\n1,2,0\n3,4,1\n5,six,0\n7,8,1\n"


@pytest.mark.parametrize("args, words", [
    (["--init", "he_norml"], ["unknown initializer 'he_norml'", "did you mean", "he_normal"]),
    (["--init", "zeros,nope"], ["unknown initializer 'nope'"]),
    (["--init", "normal:sigma=1"], ["no parameter 'sigma'"]),
    (["--init", "normal:std=abc"], ["not a number"]),
    (["--init", "uniform:low=1,high=0"], ["low must be <= high"]),
    (["--init", "variance_scaling:mode=fan_up"], ["mode must be one of"]),
    (["--init", "constant:value=1e39"], ["out of range"]),
    (["--init", "zeros,zeros"], ["listed twice"]),
    (["--init", ""], ["at least one initializer"]),
    (["--epochs", "0"], ["--epochs must be a whole number from 1 to 1000000, got 0"]),
    (["--epochs", "-1"], ["--epochs must be a whole number from 1 to 1000000, got -1"]),
    (["--epochs", "abc"], ["argument --epochs", "invalid int value: 'abc'"]),
    (["--epochs"], ["argument --epochs", "expected one argument"]),
    (["--batch-size", "0"], ["--batch-size must be a whole number from 1 to"]),
    (["--repeats", "0"], ["--repeats must be a whole number from 1 to"]),
    (["--reruns", "0"], ["--sweeps must be a whole number from 1 to"]),
    (["--sweeps", "0"], ["--sweeps must be a whole number from 1 to"]),
    (["--hidden", "abc"], ["argument --hidden", "expected sizes like 16,16"]),
    (["--hidden", "8,0"], ["--hidden sizes must be between 1 and"]),
    (["--hidden", "8,,8"], ["argument --hidden"]),
    (["--activation", "swish"], ["unknown activation 'swish'"]),
    (["--optimizer", "adagrad"], ["unknown optimizer 'adagrad'", "rmsprop, sgd, adam"]),
    (["--lr", "0"], ["--lr must be"]),
    (["--lr", "-0.1"], ["--lr must be"]),
    (["--lr", "inf"], ["--lr must be a number > 0 and at most"]),
    (["--lr", "nan"], ["--lr must be"]),
    (["--seed", "-1"], ["--seed must be a whole number from 0 to"]),
    (["--split-seed", "-1"], ["--split-seed must be a whole number from 0 to"]),
    (["--device", "gpu"], ["argument --device", "invalid choice"]),
    (["--frobnicate"], ["unrecognized arguments: --frobnicate"]),
    (["--data", "no-such-data"], ["unknown data 'no-such-data'"]),
    (["--data", "{tmp}/missing.csv"], ["missing.csv: no such file"]),
    (["--data", "{tmp}/empty.csv"], ["empty.csv: file is empty"]),
    (["--data", "{tmp}/header.csv"], ["header but no data rows"]),
    (["--data", "{tmp}/words.csv"], ["row 4, column 'b': 'six' is not a number"]),
    (["--data", "{tmp}/one.csv"], ["at least 2 distinct values, found 1"]),
    (["--data", "{tmp}/three.csv"], ["training set (split seed 42) has no row of class '1'"]),
    (["--data", "{tmp}/ok.csv", "--target", "nope"], ["no column named 'nope'"]),
    (["--target", "y"], ["--target only applies to CSV files"]),
    (["--out", "{tmp}/no/such/dir/out.json"], ["does not exist"]),
    (["--out", "{tmp}/out.txt"], ["must end in .json or .csv"]),
    (["--out", "{tmp}"], ["must end in .json or .csv"]),
    (["--out", "{tmp}/adir.json"], ["is a directory"]),
])
def test_user_errors_are_one_line_exit_2_and_leave_no_file(capsys, tmp_path, args, words):
    inputs = {"empty.csv": "", "header.csv": "a,b,y\n", "words.csv": NON_NUMERIC, "one.csv": ONE_CLASS,
              "three.csv": "a,y\n1,0\n2,1\n3,2\n4,0\n", "ok.csv": "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"}
    for name, text in inputs.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "adir.json").mkdir()
    before = sorted(os.listdir(tmp_path))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "result.json")]
    code, out, err = cli(capsys, "--headless", "--seed", "1", "--epochs", "1", *args)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("initdash: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    # No --out file (nor a temporary one) is left behind. The history database (conftest points INITDASH_DB
    # into tmp_path) is not an output file: it may be created before a data error is found.
    after = sorted(f for f in os.listdir(tmp_path) if not f.startswith("default-history.db"))
    assert after == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: --device cuda trains")
def test_device_cuda_without_a_gpu_is_a_user_error(capsys):
    assert main(["--headless", "--no-save", "--device", "cuda", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("initdash: error: --device cuda: no CUDA GPU") and err.count("\n") == 1


def test_standard_output_closed_at_start_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "INITDASH_DB": str(tmp_path / "h.db"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(["bash", "-c", f"'{sys.executable}' -m initdash --headless --no-save --epochs 1 >&-"],
                          env=env, capture_output=False, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "initdash: error: standard output is closed: the results have nowhere to go " \
                          "(redirect it, e.g. > out.txt)\n"
