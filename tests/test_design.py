"""The paired design: repeat k of every initializer shares its data order and dropout; independent keeps 0.x's."""

from __future__ import annotations

import json

import pytest
from fakes import experiment

from initdash import engine
from initdash.arguments import build_parser, config_from_args
from initdash.config import INDEPENDENT, PAIRED, ExperimentConfig
from initdash.data import load
from initdash.events import METRICS, UnitFinished
from initdash.export import json_csv
from initdash.initializers import parse_list
from initdash.models.spec import ModelSpec
from initdash.recorder import Recorder
from initdash.session import Session
from initdash.sweep import Sweep, data_seeds, run_seeds, train_unit

DROPOUT_MODEL = '''
from torch import nn

def net(in_shape, n_outputs):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0], 16), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(16, n_outputs))
'''


@pytest.fixture(scope="module")
def lesson_data():
    return load()


def outcomes(config: ExperimentConfig, data, sweep_id: int = 1) -> dict[str, tuple]:
    """Every unit of one sweep trained in turn: label -> its runs' outcomes."""
    sweep = Sweep(config, data, sweep_id, lambda event: None, executor=None)  # type: ignore[arg-type]
    got: dict[str, tuple] = {}
    for unit in sweep.units:
        events: list = []
        train_unit(config, data, unit, events.append)
        finished = events[-1]
        assert isinstance(finished, UnitFinished), finished
        got[unit.label] = finished.outcomes
    return got


def test_new_sessions_are_paired_and_stored_ones_without_a_design_independent():
    assert ExperimentConfig().design == PAIRED
    assert ExperimentConfig.from_dict(ExperimentConfig().to_dict()).design == PAIRED
    old = {k: v for k, v in ExperimentConfig().to_dict().items() if k != "design"}
    assert ExperimentConfig.from_dict(old).design == INDEPENDENT
    args = build_parser().parse_args(["--design", "independent", "--seed", "3"])
    assert config_from_args(args).design == INDEPENDENT
    assert config_from_args(build_parser().parse_args(["--seed", "3"])).design == PAIRED


def test_paired_data_seeds_depend_on_sweep_and_repeat_only():
    init_a, init_b = run_seeds(5, 2, "zeros", 4), run_seeds(5, 2, "he_normal", 4)
    paired = data_seeds(5, 2, PAIRED, init_a)
    assert paired == data_seeds(5, 2, PAIRED, init_b)  # not on the initializer
    assert paired[:3] == data_seeds(5, 2, PAIRED, init_a[:3])  # a repeat's seed does not depend on how many
    assert len(set(paired)) == 4 and not set(paired) & (set(init_a) | set(init_b))
    assert data_seeds(5, 3, PAIRED, init_a) != paired and data_seeds(6, 2, PAIRED, init_a) != paired
    assert data_seeds(5, 2, INDEPENDENT, init_a) == init_a


def test_independent_design_trains_the_numbers_of_before(lesson_data):
    config = experiment(seed=1, repeats=2, epochs=2, initializers=parse_list("zeros,he_normal"), design=INDEPENDENT)
    got = outcomes(config, lesson_data)
    for label, runs in got.items():
        before = engine.train_batched(lesson_data, config, parse_list(label)[0], run_seeds(1, 1, label, 2))
        assert [o.history for o in runs] == [o.history for o in before], label
    assert all(u.data_seeds is None for u in Sweep(config, lesson_data, 1, print, None).units)  # type: ignore


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_paired_zeros_and_constant_zero_train_bit_identically(lesson_data, model):
    spec = ModelSpec(name=model, hidden=(8,) if model == "mlp" else ())
    config = experiment(model=spec, seed=4, repeats=3, epochs=3, initializers=parse_list("zeros,constant:value=0"))
    got = outcomes(config, lesson_data)
    zeros, constant = got["zeros"], got["constant:value=0"]
    assert [o.seed for o in zeros] != [o.seed for o in constant]  # their own initializer seeds
    assert [o.history for o in zeros] == [o.history for o in constant]  # bit for bit, repeat by repeat
    assert len({o.history[-1]["loss"] for o in zeros}) == 3  # the repeats themselves differ (their data order)
    reference = engine.train_reference(lesson_data, config, parse_list("zeros")[0], zeros[2].seed,
                                       data_seed=data_seeds(4, 1, PAIRED, (0, 0, 0))[2])
    assert reference.history[-1]["loss"] == pytest.approx(zeros[2].history[-1]["loss"], rel=1e-5)
    independent = outcomes(config.with_changes(design=INDEPENDENT), lesson_data)
    assert [o.history for o in independent["zeros"]] != [o.history for o in independent["constant:value=0"]]


def test_paired_dropout_masks_are_shared_by_repeat_k_of_every_initializer(lesson_data, tmp_path):
    path = tmp_path / "dropnet.py"
    path.write_text(DROPOUT_MODEL)
    config = experiment(model=ModelSpec(name=f"{path}:net"), seed=2, repeats=2, epochs=2,
                        initializers=parse_list("ones,constant:value=1"), optimizer="sgd", lr=0.01)
    got = outcomes(config, lesson_data)
    # Weights of ones (not zeros, whose layers output zero whatever is dropped): the masks shape every step.
    assert [o.history for o in got["ones"]] == [o.history for o in got["constant:value=1"]]
    assert got["ones"][0].history[-1]["loss"] != got["ones"][1].history[-1]["loss"]
    independent = outcomes(config.with_changes(design=INDEPENDENT), lesson_data)
    assert [o.history for o in independent["ones"]] != [o.history for o in independent["constant:value=1"]]


def test_the_json_export_gives_each_run_its_initializer_seed_and_data_seed(tmp_path):
    from fakes import sweep_events

    config = ExperimentConfig(initializers=parse_list("zeros,he_normal"), repeats=2, epochs=2, seed=9)
    session = Session(config, "fake")
    recorder = Recorder(session, None)
    recorder.begin_sweep(config)
    for event in sweep_events(1, {"zeros": [0.8, 0.7], "he_normal": [0.9, 0.85]}):
        recorder.apply(event)
    doc = json.loads(json_csv.to_json(session))
    assert doc["config"]["design"] == PAIRED
    by_label = {label: [r for r in doc["runs"] if r["initializer"] == label] for label in ("zeros", "he_normal")}
    shared = data_seeds(9, 1, PAIRED, (0, 0))
    for runs in by_label.values():
        assert [r["data_seed"] for r in runs] == list(shared)
        assert [r["init_seed"] for r in runs] == [r["seed"] for r in runs]
    path = tmp_path / "old.json"  # an export written before designs: no design, no data seeds
    del doc["config"]["design"]
    for r in doc["runs"]:
        del r["init_seed"], r["data_seed"]
    path.write_text(json.dumps(doc))
    again = json_csv.read(path)
    assert again.config.design == INDEPENDENT
    assert [r["data_seed"] for r in json_csv.runs(again)] == [r["seed"] for r in json_csv.runs(again)]
    assert set(METRICS) <= set(json_csv.runs(again)[0]["history"][-1])


def test_open_keeps_the_design_and_a_config_file_sets_it(capsys, tmp_path):
    from initdash.cli import main

    db, toml = str(tmp_path / "h.db"), tmp_path / "c.toml"
    toml.write_text('design = "independent"\n')
    base = ["--headless", "--epochs", "1", "--init", "zeros,he_normal", "--seed", "5", "--db", db]
    assert main([*base, "--config", str(toml)]) == 0
    assert main(["--headless", "--open", "1", "--db", db, "--out", str(tmp_path / "o.json")]) == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["config"]["design"] == INDEPENDENT and {r["sweep"] for r in doc["runs"]} == {1, 2}
    assert all(r["data_seed"] == r["seed"] for r in doc["runs"])
    capsys.readouterr()
    assert main(["--headless", "--open", "1", "--design", "paired", "--db", db]) == 2
    assert "--design cannot be combined with --open" in capsys.readouterr().err
