"""The grid (initdash.grid): cells equal single runs, learning rates batch per copy, the Session keeps cells."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from fakes import experiment  # noqa: E402
from helpers import recorded_sweep  # noqa: E402

from initdash import engine, grid  # noqa: E402
from initdash.data import load  # noqa: E402
from initdash.errors import UserError  # noqa: E402
from initdash.events import METRICS  # noqa: E402
from initdash.initializers import parse_list, parse_spec  # noqa: E402
from initdash.models.spec import ModelSpec  # noqa: E402
from initdash.session import Session  # noqa: E402


@pytest.fixture(scope="module")
def data():
    """The default banknote-like data, cut to 120 training rows for speed."""
    ds = load()
    return replace(ds, x_train=ds.x_train[:120], y_train=ds.y_train[:120])


def run_sweep(config, data) -> Session:
    """One sweep of `config` on the local executor: the Session it recorded."""
    return recorded_sweep(config, data)[0]


@pytest.mark.parametrize(("optimizer", "repeats"), [("rmsprop", 2), ("adam", 1), ("sgd", 3)])
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_a_cells_runs_equal_the_single_run_of_its_setting(data, optimizer, model, repeats):
    """Learning rates batched per copy (fast engine: mlp; torch.func: cnn) and widths as units give each cell the
    numbers the single run of that lr and width gives with the same seed: bit for bit on the fast engine, and
    on torch.func with one repeat (every copy a plain module); with more, torch.func's batched kernels (the
    bias gradient of a grouped convolution, summed across the copies' channels) round by the number of
    copies, so to float32 rounding there."""
    spec = ModelSpec(name=model, hidden=(8, 8), channels=(2, 4))
    config = experiment(model=spec, optimizer=optimizer, lrs=(0.05, 0.01, 0.002), widths=(4, 6), repeats=repeats,
                        epochs=2, batch_size=32, initializers=parse_list("he_normal,normal"), seed=5)
    session = run_sweep(config, data)
    cells = grid.cells(config)
    assert len(cells) == 2 * 2 * 3 and set(session.current.initializers) == {c.key for c in cells}
    for cell in cells[::5]:  # a sample of cells across initializers, widths and rates (each single run costs)
        single = run_sweep(grid.cell_config(config, cell.lr, cell.width), data)
        alone = single.current.initializers[cell.initializer]
        got = session.current.initializers[cell.key]
        assert (got.initializer, got.lr, got.width) == (cell.initializer, cell.lr, cell.width)
        assert got.seeds == alone.seeds and got.statuses == alone.statuses
        if model == "mlp" or repeats == 1:
            assert got.histories == alone.histories  # every metric of every epoch, every float
            continue
        for mine, theirs in zip(got.histories, alone.histories):
            assert [h["epoch"] for h in mine] == [h["epoch"] for h in theirs]
            for a, b in zip(mine, theirs):
                assert all(abs(a[m] - b[m]) <= 1e-6 for m in METRICS), (cell.key, a, b)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_a_learning_rate_per_copy_is_exactly_each_copys_own(data, optimizer, model):
    """Bit for bit: copies trained with learning rates (a, a, b, b) are the copies trained with a alone and b alone
    (two seeds a rate: one copy a rate trains as plain modules, test_batched.py)."""
    spec = ModelSpec(name=model, hidden=(8, 8), channels=(2, 4))
    config = experiment(model=spec, optimizer=optimizer, epochs=2, batch_size=32)
    he = parse_spec("he_normal")
    both = engine.train_many(data, config, [(he, 3), (he, 4)] * 2, lrs=[0.05, 0.05, 0.002, 0.002])
    for i, lr in enumerate((0.05, 0.002)):
        alone = engine.train_many(data, config.with_changes(lr=lr), [(he, 3), (he, 4)])
        assert both[2 * i:2 * i + 2] == alone  # seed, status, every float of every epoch


def test_axes_are_validated_and_widths_set_the_models_sizes():
    assert ModelSpec(name="mlp", hidden=(8, 8, 8)).at_width(64).hidden == (64, 64, 64)
    assert ModelSpec(name="cnn", channels=(16, 32)).at_width(8).channels == (8, 16)  # --channels' proportions
    assert ModelSpec(name="resnet", channels=(16, 32)).at_width(8).channels == (8,)
    assert ModelSpec(name="net.py:build").at_width(8).width == 8  # passed as width= to the builder
    with pytest.raises(UserError, match="linear model has no hidden layer"):
        experiment(widths=(8, 16))
    with pytest.raises(UserError, match="--lr lists a value twice"):
        experiment(lrs=(0.1, 0.1))
    with pytest.raises(UserError, match="--width must be"):
        experiment(hidden=(4,), widths=(0,))
    config = experiment(hidden=(4,), lrs=(0.1, 0.01), widths=(8,))
    assert grid.cell_config(config, 0.01, 8) == experiment(hidden=(8,), lr=0.01)
    again = type(config).from_dict(config.to_dict())
    assert (again.lrs, again.widths) == ((0.1, 0.01), (8,))


def test_flags_and_toml_make_the_axes(tmp_path):
    from initdash.arguments import apply_layers, build_parser, config_from_args

    def config(argv):
        args = build_parser().parse_args(argv)
        apply_layers(args, argv)
        return config_from_args(args)

    one = config(["--hidden", "8,8", "--lr", "0.1"])
    assert (one.lr, one.lrs, one.widths) == (0.1, (), ())  # a single value stays a learning rate
    many = config(["--hidden", "8,8", "--lr", "0.1,0.01", "--width", "16,32"])
    assert (many.lr, many.lrs, many.widths) == (None, (0.1, 0.01), (16, 32))
    toml = tmp_path / "grid.toml"
    toml.write_text("hidden = [8, 8]\nlr = [0.3, 0.03]\nwidth = [4, 8]\n")
    assert config(["--config", str(toml)]).lrs == (0.3, 0.03)
    assert config(["--config", str(toml)]).widths == (4, 8)
    assert config(["--preset", "width-check"]).widths == (32, 64, 128, 256, 512, 1024)
    assert len(config(["--preset", "lr-grid"]).lrs) == 6


def test_a_grid_is_exported_with_each_runs_cell_and_imported_back(tmp_path):
    import json

    from recorded_grid import recorded_grid_session

    from initdash.export import json_csv
    from initdash.grid_table import grid_table

    session = recorded_grid_session(widths=(16, 64), lrs=(0.01, 0.1))
    (path,) = json_csv.write(session, tmp_path / "grid.json")
    doc = json.loads(path.read_text())
    cells = {(r["initializer"], r["lr"], r["width"]) for r in doc["runs"]}
    assert len(cells) == 3 * 2 * 2 and len(doc["runs"]) == 3 * 2 * 2 * 3
    assert doc["config"]["lrs"] == [0.01, 0.1] and doc["config"]["lr"] is None
    back = json_csv.read(path)
    assert back.labels() == session.labels() and grid_table(back) == grid_table(session)
    csv_text = json_csv.to_csv(session).splitlines()
    assert csv_text[0].endswith(",lr,width") and csv_text[1].endswith(",0.01,16")
    json_csv.write(session, tmp_path / "grid.csv")
    with pytest.raises(UserError, match="a CSV export of a grid .* cannot be imported: import its JSON export"):
        json_csv.read(tmp_path / "grid.csv")


def test_your_builder_gets_width_and_one_without_it_is_refused(tmp_path, capsys, monkeypatch):
    import json
    import math

    from initdash.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    net = tmp_path / "net.py"
    net.write_text("import math\nfrom torch import nn\n\n"
                   "def build(in_shape, n_outputs, width=2):\n"
                   "    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), nn.ReLU(),\n"
                   "                         nn.Linear(width, n_outputs))\n\n"
                   "def fixed(in_shape, n_outputs):\n"
                   "    return build(in_shape, n_outputs)\n")
    out = tmp_path / "out.json"
    common = ["--headless", "--no-save", "--epochs", "1", "--init", "he_normal", "--seed", "3"]
    assert main([*common, "--model", f"{net}:build", "--width", "3,5", "--out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert sorted(r["width"] for r in runs) == [3, 5]
    assert main([*common, "--model", f"{net}:fixed", "--width", "3"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == "initdash: error: net.py:fixed: --width needs a builder that accepts width= (add a width parameter)"
    assert math.isfinite(runs[0]["history"][-1]["loss"])


def test_a_grid_session_is_stored_and_open_continues_it(tmp_path, capsys, monkeypatch):
    from initdash.cli import main
    from initdash.store import open_reader

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    db = tmp_path / "h.db"
    grid_flags = ["--hidden", "4,4", "--lr", "0.01,0.1", "--width", "4,8", "--init", "he_normal,normal"]
    assert main(["--headless", "--epochs", "1", "--seed", "2", "--db", str(db), *grid_flags]) == 0
    assert main(["--headless", "--open", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "runs of 2 completed sweeps" in out and "best cell per initializer" in out
    with open_reader(db) as reader:
        session = reader.load_session(1)
    assert (session.config.lrs, session.config.widths) == ((0.01, 0.1), (4, 8))
    assert [len(s.initializers) for s in session.completed()] == [8, 8]


def test_the_points_comparisons_are_one_holm_family_of_points_times_pairs():
    """Holm covers every pair at every point (README "Statistics across sweeps"), not each point's pairs alone."""
    import numpy as np
    from recorded_grid import recorded_grid_session

    from initdash import verdict
    from initdash.grid_table import grid_table, point_session, point_stats
    from initdash.stats import compute

    session = recorded_grid_session(widths=(16, 64), repeats=4)  # 3 rates x 2 widths = 6 points, 3 pairs each
    each = point_stats(session)
    assert len(each) == 6
    pairs = [p for st in each.values() for p in st.pairs]
    assert len(pairs) == 18 and {p.family for p in pairs} == {18}
    alone = [p for point in each for p in compute(point_session(session, *point)).pairs]
    assert [p.p_value for p in pairs] == [p.p_value for p in alone]  # the same tests, corrected together
    np.testing.assert_allclose([p.p_holm for p in pairs], verdict.holm([p.p_value for p in alone]))
    assert all(p.p_holm >= a.p_holm for p, a in zip(pairs, alone))
    table = grid_table(session)
    assert "Holm over every pair at every point: 18 comparisons" in table
    assert table.count("Holm over 18 pairs") == 6 and "Holm over 3 pairs" not in table
