"""Presets, TOML config files and their precedence; lsuv as a catalog entry."""

from __future__ import annotations

import json

import pytest
import torch

from initdash.cli import main
from initdash.data import load
from initdash.initializers import CATALOG, initialize, parse_spec
from initdash.models import build
from initdash.models.spec import ModelSpec
from initdash.presets import PRESETS

FAST = ["--headless", "--no-save", "--seed", "1", "--epochs", "1"]


def run_json(tmp_path, capsys, *argv):
    out = tmp_path / "o.json"
    rc = main([*FAST, *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    return json.loads(out.read_text())["config"]


def test_list_presets_names_every_preset_with_one_line(capsys):
    assert main(["--list-presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS)


def test_preset_sets_the_experiment_and_flags_override_it(tmp_path, capsys):
    cfg = run_json(tmp_path, capsys, "--preset", "deep-tanh", "--hidden", "4,4", "--init", "zeros,lsuv")
    assert cfg["data"] == "moons" and cfg["model"]["activation"] == "tanh" and cfg["optimizer"] == "sgd"
    assert cfg["model"]["hidden"] == [4, 4] and cfg["initializers"] == ["zeros", "lsuv"]
    assert cfg["epochs"] == 1  # from FAST: a flag beats the preset's 20


def test_config_file_sits_between_preset_and_flags(tmp_path, capsys):
    toml = tmp_path / "exp.toml"
    toml.write_text('preset = "deep-relu"\nhidden = [3, 3]\nbatch-size = 32\ninit = ["he_normal", "zeros"]\n'
                    'lr = 0.2\n')
    cfg = run_json(tmp_path, capsys, "--config", str(toml), "--lr", "0.3")
    assert cfg["model"]["activation"] == "relu" and cfg["data"] == "digits"  # preset
    assert cfg["model"]["hidden"] == [3, 3] and cfg["batch_size"] == 32
    assert cfg["initializers"] == ["he_normal", "zeros"]
    assert cfg["lr"] == 0.3  # the flag wins over the file


@pytest.mark.parametrize("text, message", [
    ("epochz = 3\n", "unknown setting 'epochz'"),
    ("lr = 'x'\n", "lr must be a number, got 'x'"),
    ("repeats = 'many'\n", "repeats must be a whole number, got 'many'"),
    ("epochs = [\n", "not valid TOML"),
    ("hidden = { size = 3 }\n", "must be a value, not a table"),
    ("preset = 'nope'\n", "unknown preset 'nope'"),
    ("device = 'tpu'\n", "choose from"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, capsys, text, message):
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    assert main([*FAST, "--config", str(toml)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("initdash: error:") and message in err, err


def test_missing_config_file_and_unknown_preset(capsys):
    assert main([*FAST, "--config", "/no/such.toml"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([*FAST, "--preset", "deep"]) == 2
    assert "unknown preset 'deep'" in capsys.readouterr().err


def test_lsuv_is_a_data_dependent_catalog_entry_that_reaches_unit_variance():
    assert CATALOG["lsuv"].data_dependent
    data = load("moons")
    x = torch.as_tensor(data.x_train)
    spec = parse_spec("lsuv:tol=0.02,batch=600")

    def lsuv_model():
        model = build(ModelSpec("mlp", hidden=(32,) * 6, activation="tanh"), (2,), 1)
        initialize(model, spec, torch.Generator().manual_seed(3), x)
        return model

    model = lsuv_model()
    h = x
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            z = layer(h)
            # LSUV scales on a 600-row batch; over all 700 rows the variance is still close to 1.
            assert abs(z.var().item() - 1) < 0.1, (i, z.var().item())
            h = torch.tanh(z)
    again = lsuv_model()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    with pytest.raises(ValueError):
        initialize(model, spec, torch.Generator().manual_seed(3))


def test_deep_tanh_preset_separates_the_initializers(tmp_path, capsys):
    out = tmp_path / "deep.json"
    rc = main(["--headless", "--no-save", "--seed", "2", "--preset", "deep-tanh", "--epochs", "6",
               "--init", "normal,glorot_uniform", "--out", str(out)])
    capsys.readouterr()
    assert rc == 0
    final = {r["initializer"]: r["history"][-1]["val_accuracy"] for r in json.loads(out.read_text())["runs"]}
    assert final["normal"] < 0.6 < 0.85 < final["glorot_uniform"]
