"""The dashboard with --tensorboard: event files while it trains, an interrupted sweep marked so; the running
sweep's elapsed time and ETA in the header, its epochs done in the status line."""

from __future__ import annotations

import re

import pytest
from fakes import experiment
from helpers import wait_for
from test_tensorboard import read_runs

from initdash.data import load
from initdash.experiment import Experiment
from initdash.export.tensorboard import TensorBoardSink
from initdash.initializers import parse_list
from initdash.ui.app import InitdashApp

pytest.importorskip("tensorboard")


async def test_dashboard_writes_tensorboard_live_and_shows_an_eta(tmp_path):
    config = experiment(seed=11, epochs=500, initializers=parse_list("zeros,he_normal"))
    data = load()
    owner = Experiment(config, data, None, None, None, [])
    owner.sink = TensorBoardSink(tmp_path / "tb")
    app = InitdashApp(config, data, export_dir=tmp_path, experiment=owner)
    async with app.run_test(size=(100, 30)) as pilot:
        header = app.main.query_one("#header")
        await wait_for(pilot, lambda: re.search(r"sweep 1( · |\n)\d+:\d\d elapsed · ETA \d+:\d\d", str(header.render()))
                       is not None)
        assert re.match(r"training sweep 1 · \d+/1000 epochs", app.main.status)
        await wait_for(pilot, lambda: app.session.current.initializers["he_normal"].epoch >= 2)
        await pilot.press("q")
    owner.close()
    runs = read_runs(tmp_path / "tb")
    assert sorted(runs) == ["sweep1/he_normal/repeat0", "sweep1/zeros/repeat0"]
    for name, run in runs.items():
        label = name.split("/")[1]
        assert run["status"] == ["running", "interrupted"] and run["hparams"]["initializer"] == label
        history = app.session.current.initializers[label].histories[0]
        assert [s for s, _ in run["scalars"]["loss"]] == [h["epoch"] for h in history]
