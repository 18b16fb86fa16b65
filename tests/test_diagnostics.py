"""Per-layer statistics: the Glorot & Bengio picture on a seeded deep-tanh run, in the engine and the export."""

from __future__ import annotations

import csv
import json

import pytest
from fakes import experiment
from helpers import finished, wait_for

from initdash import engine
from initdash.cli import main
from initdash.data import load
from initdash.initializers import parse_list, parse_spec
from initdash.ui.app import InitdashApp
from initdash.ui.views import signal_series

DEEP_TANH = ["--preset", "deep-tanh", "--init", "normal,glorot_uniform,lsuv", "--seed", "4", "--epochs", "1"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """One headless deep-tanh sweep (1 epoch), exported as JSON and as CSV."""
    d = tmp_path_factory.mktemp("deep")
    for name in ("run.json", "run.csv"):
        assert main(["--headless", "--no-save", *DEEP_TANH, "--out", str(d / name)]) == 0
    return d


def epoch0(export, init):
    runs = json.loads((export / "run.json").read_text())["runs"]
    return next(r for r in runs if r["initializer"] == init)["history"][0]


def test_normal_vanishes_with_depth_while_glorot_and_lsuv_hold(export):
    normal = epoch0(export, "normal")["activation_std"][:8]  # the 8 hidden layers (the 9th: the logits)
    assert len(epoch0(export, "normal")["activation_std"]) == 9
    assert normal[-1] < normal[0] / 100
    for init in ("glorot_uniform", "lsuv"):
        stds = epoch0(export, init)["activation_std"][:8]
        assert max(stds) / min(stds) < 3, (init, stds)


def test_every_history_entry_has_one_value_per_layer(export):
    runs = json.loads((export / "run.json").read_text())["runs"]
    for run in runs:
        assert run["layer_names"] == [f"layers.{i}" for i in range(9)]  # module paths, forward order
        assert [h["epoch"] for h in run["history"]] == [0, 1]
        for h in run["history"]:
            assert len(h["activation_std"]) == len(h["grad_norm"]) == 9
            assert all(v > 0 for v in h["grad_norm"])


def test_csv_export_puts_layers_in_a_second_file(export):
    main_rows = list(csv.DictReader((export / "run.csv").open()))
    layer_rows = list(csv.DictReader((export / "run.layers.csv").open()))
    assert "activation_std" not in main_rows[0]
    assert len(layer_rows) == 3 * 2 * 9  # initializers x epochs x layers
    first = [r for r in layer_rows if r["initializer"] == "normal" and r["epoch"] == "0"]
    assert [int(r["layer"]) for r in first] == list(range(1, 10))
    assert [r["name"] for r in first] == [f"layers.{i}" for i in range(9)]
    assert [float(r["activation_std"]) for r in first] == pytest.approx(epoch0(export, "normal")["activation_std"])


def test_the_lesson_model_has_no_layer_statistics(tmp_path):
    out = tmp_path / "lesson.csv"
    assert main(["--headless", "--no-save", "--seed", "1", "--epochs", "1", "--init", "zeros", "--out", str(out)]) == 0
    assert not (tmp_path / "lesson.layers.csv").exists()


def test_batched_and_reference_engines_agree_on_layer_statistics():
    config = experiment(seed=1, hidden=(16, 16, 16), activation="tanh", epochs=2, optimizer="sgd", lr=0.05,
                              initializers=parse_list("glorot_uniform"), layer_stats=True)
    data = load("moons")
    spec = parse_spec("lsuv")
    ref = engine.train_reference(data, config, spec, 5)
    batched = engine.train_batched(data, config, spec, [9, 5])[1]
    for a, b in zip(ref.history, batched.history):
        for key in ("activation_std", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6)


async def test_signal_view_key_shows_depth_profiles(tmp_path):
    config = experiment(seed=2, hidden=(8, 8, 8), activation="tanh", epochs=2,
                              initializers=parse_list("normal,glorot_uniform"))
    app = InitdashApp(config, load("moons"), export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("g")
        assert app.main.view == "signal" and app.query_one("#views").current == "signal"
        assert app.query_one("#act-chart").shown_title == "activation std by layer · epoch 2"
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        assert app.main.signal_epoch == 0
        assert app.query_one("#grad-chart").shown_title == "grad norm by layer · epoch 0"
        epoch, series = signal_series(app.session, "activation_std", epoch=0)
        assert epoch == 0 and [s.x for s in series] == [(1.0, 2.0, 3.0, 4.0)] * 2
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert app.main.signal_epoch is None  # back to following the latest epoch
        await pilot.press("g")
        assert app.main.view == "curves"


def test_headless_records_layer_statistics_only_when_asked(tmp_path, capsys):
    """They cost a forward and a backward pass every epoch: --layer-stats or `layer-stats = true` asks."""
    common = ["--headless", "--no-save", "--data", "moons", "--hidden", "8,8", "--init", "glorot_uniform",
              "--epochs", "1", "--seed", "3"]
    toml = tmp_path / "stats.toml"
    toml.write_text("layer-stats = true\n")
    histories = {}
    for name, extra in (("plain", []), ("flag", ["--layer-stats"]), ("toml", ["--config", str(toml)])):
        out = tmp_path / f"{name}.json"
        assert main([*common, *extra, "--out", str(out)]) == 0
        (run,) = json.loads(out.read_text())["runs"]
        histories[name] = run["history"]
        assert ("layer_names" in run) == (name != "plain")
    assert all("activation_std" not in h for h in histories["plain"])
    assert histories["flag"] == histories["toml"] and len(histories["flag"][0]["grad_norm"]) == 3
    strip = [{k: v for k, v in h.items() if k not in ("activation_std", "grad_norm")} for h in histories["flag"]]
    assert strip == histories["plain"]  # the same training either way
    toml.write_text('layer-stats = "yes"\n')
    capsys.readouterr()
    assert main([*common, "--config", str(toml)]) == 2
    assert "layer_stats must be true or false, got 'yes'" in capsys.readouterr().err
