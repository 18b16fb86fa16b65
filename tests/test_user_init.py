"""A user's initializer (`--init FILE.py:NAME[:key=value]`), `--apply-to`, and `initdash audit`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from initdash.cli import main
from initdash.config import ExperimentConfig
from initdash.errors import UserError
from initdash.initializers import initialize, parse_list, parse_spec
from initdash.initializers.user import attach_sources

ROOT = Path(__file__).resolve().parent.parent
MIXED = f"{ROOT / 'assets' / 'examples' / 'mixed.py'}:build"
GPT2 = ROOT / "assets" / "examples" / "gpt2_init.py"

SCALED = textwrap.dedent("""
    import torch
    from torch import nn

    def scaled(model, generator, gain=1.0, what="weights"):
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    m.weight.normal_(0.0, 0.1 * gain, generator=generator)
""")


def write(tmp_path: Path, text: str, name: str = "myinit.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_user_initializer_is_parsed_with_its_parameters(tmp_path):
    path = write(tmp_path, SCALED)
    spec = parse_spec(f"{path}:scaled:gain=2,what=all")
    assert spec.user and spec.name == f"{path.resolve()}:scaled"
    assert spec.params == (("gain", 2.0), ("what", "all"))
    assert spec.label == "myinit.py:scaled:gain=2,what=all"
    assert spec.setting == f"{path.resolve()}:scaled:gain=2,what=all"
    specs = parse_list(f"zeros,{path}:scaled:gain=2,what=all,normal:std=0.5")  # commas: as in catalog entries
    assert [s.label for s in specs] == ["zeros", "myinit.py:scaled:gain=2,what=all", "normal:std=0.5"]
    assert parse_spec("some.module:fixup").name == "some.module:fixup"
    assert parse_spec("mymodule:fixup").user and not parse_spec("normal:std=1").user
    with pytest.raises(UserError, match="key=value"):
        parse_spec("normal:std")  # a catalog name stays a catalog name


def test_a_user_initializer_sets_what_it_sets_from_the_run_generator(tmp_path):
    (spec,) = attach_sources([parse_spec(f"{write(tmp_path, SCALED)}:scaled:gain=3")])
    model = nn.Sequential(nn.Linear(200, 100), nn.LayerNorm(100), nn.Linear(100, 2))
    norm_before = model[1].weight.detach().clone()
    done = initialize(model, spec, torch.Generator().manual_seed(0))
    assert model[0].weight.std().item() == pytest.approx(0.3, rel=0.03)
    by = {a.slot.name: a.by for a in done}
    assert by["0.weight"] == by["2.weight"] == "myinit.py:scaled:gain=3"
    assert by["1.weight"] == by["0.bias"] == "left to the module"
    assert torch.equal(model[1].weight, norm_before)
    again = nn.Sequential(nn.Linear(200, 100), nn.LayerNorm(100), nn.Linear(100, 2))
    initialize(again, spec, torch.Generator().manual_seed(0))
    assert torch.equal(again[0].weight, model[0].weight)


@pytest.mark.parametrize("text, extra, words", [
    (SCALED, ":scaled:depth=2", "cannot be called as scaled(model, generator, depth=...)"),
    (SCALED, ":nothere", "has no 'nothere' (it defines scaled)"),
    ("def boom(model, generator):\n    raise ValueError('no init here')\n", ":boom", "raised ValueError: no init here"),
    ("x = 1\n", ":x", "'x' is not callable"),
    (None, ":scaled", "no such file"),
])
def test_bad_user_initializers_are_one_line_exit_2(tmp_path, capsys, text, extra, words):
    path = write(tmp_path, text) if text is not None else tmp_path / "missing.py"
    code = main(["--headless", "--no-save", "--seed", "1", "--epochs", "1", "--data", "iris", "--hidden", "4",
                 "--init", f"{path}{extra}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("initdash: error: ") and words in err, err


def test_a_session_records_the_initializer_file_and_refuses_it_changed(tmp_path, capsys):
    path = write(tmp_path, SCALED)
    db, out = tmp_path / "h.db", tmp_path / "o.json"
    args = ["--headless", "--seed", "2", "--epochs", "1", "--data", "iris", "--hidden", "4", "--db", str(db)]
    assert main([*args, "--init", f"zeros,{path}:scaled:gain=2", "--apply-to", "kernel,embedding",
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    setting = f"{path.resolve()}:scaled:gain=2"
    assert doc["config"]["initializers"] == ["zeros", setting]
    assert doc["config"]["apply_to"] == ["kernel", "embedding"]
    assert len(doc["config"]["initializer_digests"][setting]) == 64
    assert {r["initializer"] for r in doc["runs"]} == {"zeros", "myinit.py:scaled:gain=2"}
    # the built-in mlp with this initializer leaves its biases to the module: said once, and recorded
    assert doc["config"]["left_to_module"] == [
        "myinit.py:scaled:gain=2 set 28 of 35 parameters (80%); left to the module: layers.0.bias, layers.1.bias"]
    assert capsys.readouterr().err.count("left to the module") == 1
    config = ExperimentConfig.from_dict(doc["config"])
    assert config.initializers[1].digest == doc["config"]["initializer_digests"][setting]
    path.write_text(SCALED + "\n# changed\n")
    assert main(["--headless", "--open", "1", "--db", str(db)]) == 2
    assert "changed since the session was recorded" in capsys.readouterr().err


def test_apply_to_comes_from_flags_and_config_files(tmp_path, capsys):
    toml = tmp_path / "exp.toml"
    toml.write_text('apply_to = ["kernel", "recurrent"]\ninit = "zeros"\n')
    out = tmp_path / "o.json"
    assert main(["--headless", "--no-save", "--seed", "1", "--epochs", "1", "--data", "iris", "--config", str(toml),
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["apply_to"] == ["kernel", "recurrent"]
    assert main(["--headless", "--no-save", "--data", "iris", "--apply-to", "kernel,bias"]) == 2
    assert "expected roles from kernel, recurrent, embedding" in capsys.readouterr().err


def test_audit_shows_every_parameter_and_what_set_it(capsys):
    assert main(["audit", "--model", MIXED, "--data", "digits", "--init", "he_normal"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["parameter", "module", "role", "shape"]
    rows = {line.split()[0]: line.split() for line in out[2:-1]}
    assert rows["gru.weight_hh_l0"][1:6] == ["GRU", "recurrent", "48x16", "16", "48"]
    assert rows["gru.weight_hh_l0"][6:9] == ["orthogonal", "(Keras", "default)"]
    assert rows["pos.weight"][2:6] == ["embedding", "8x16", "8", "16"]
    assert rows["lstm.bias_ih_l0"][6:] == ["zeros,", "forget", "gate", "ones", "0.433", "0.433"]
    kernel = rows["lstm.weight_ih_l0"]
    assert kernel[6] == "he_normal" and float(kernel[7]) == pytest.approx((2 / 16) ** 0.5, rel=1e-3)
    assert float(kernel[8]) == pytest.approx(float(kernel[7]), rel=0.1)
    assert rows["attn.out_proj.weight"][1] == "Linear"
    assert rows["temperature"][2:] == ["-", "1", "-", "-", "left", "to", "the", "module", "-", "0"]
    assert out[-1] == "he_normal set 4,640 of 6,939 parameters (66%); left to the module: temperature"
    assert main(["audit", "--model", MIXED, "--data", "digits", "--init", "he_normal", "--apply-to",
                 "kernel,recurrent,embedding"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("he_normal set 6,560 of 6,939 parameters (94%)")


def test_audit_of_a_user_initializer_and_its_refusals(capsys):
    assert main(["audit", "--model", MIXED, "--data", "digits", "--init", f"{GPT2}:gpt2:layers=2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("gpt2_init.py:gpt2:layers=2 set 714 of 6,939 parameters (10%); left to the "
                              "module: temperature, conv.weight")
    assert main(["audit", "--epochs", "3"]) == 2
    assert "initdash audit does not take --epochs" in capsys.readouterr().err


def test_the_dashboard_header_notes_what_is_left_to_the_module():
    from initdash.data import BUILTIN_INFO
    from initdash.session import Session
    from initdash.ui.views import header_text

    config = ExperimentConfig(left_to_module=("he_normal set 1 of 2 parameters (50%); left to the module: pos",))
    info = BUILTIN_INFO["iris"]
    assert "some parameters left to the module" in header_text(Session(config, info.describe()), info)
    assert "left to the module" not in header_text(Session(ExperimentConfig(), info.describe()), info)


def test_the_engines_fill_runs_a_user_initializer_as_initialize_does(tmp_path):
    from initdash.initializers import fill

    (spec,) = attach_sources([parse_spec(f"{write(tmp_path, SCALED)}:scaled:gain=3")])
    a, b = (nn.Sequential(nn.Linear(20, 10), nn.LayerNorm(10), nn.Linear(10, 2)) for _ in range(2))
    b.load_state_dict(a.state_dict())
    initialize(a, spec, torch.Generator().manual_seed(4))
    fill(b, spec, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
