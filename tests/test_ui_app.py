"""The dashboard driven like a user: real training (tiny), keys pressed through Textual's Pilot."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import experiment
from helpers import finished, wait_for

from initdash import engine
from initdash.data import load
from initdash.initializers import parse_list
from initdash.ui.app import InitdashApp
from initdash.ui.views import chart_series

INITS = "zeros,uniform,normal,he_normal,lecun_uniform"


def make_app(tmp_path, epochs: int = 2, inits: str = INITS, **kw) -> InitdashApp:
    config = experiment(seed=11, epochs=epochs, initializers=parse_list(inits), **kw)
    return InitdashApp(config, load(), export_dir=tmp_path)


async def test_sweep_completes_and_leaderboard_lists_every_initializer(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        table = app.query_one("#leaderboard")
        await wait_for(pilot, lambda: table.row_count == 5 and table.get_cell("zeros", "status") == "done")
        labels = [table.get_cell(row.key, "label") for row in table.ordered_rows]
        assert labels == INITS.split(",")
        statuses = {table.get_cell(row.key, "status") for row in table.ordered_rows}
        assert statuses == {"done"}
        ranks = sorted(table.get_cell(row.key, "rank") for row in table.ordered_rows)
        assert ranks[0] == "1"


async def test_rerun_key_starts_new_sweep_with_new_seeds_and_numbers(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        first = app.session.current
        await pilot.press("r")
        await wait_for(pilot, lambda: finished(app) and app.session.current is not first)
        second = app.session.current
        assert second.sweep_id == first.sweep_id + 1
        assert len(app.session.completed()) == 2
        run1, run2 = first.initializers["uniform"], second.initializers["uniform"]
        assert run1.seeds != run2.seeds
        assert run1.final("loss") != run2.final("loss")


async def test_rerun_spam_leaves_one_consistent_sweep_and_no_thread_pileup(tmp_path):
    # 60 epochs: long enough that no sweep ends between two presses, even with both cores training it
    app = make_app(tmp_path, epochs=60, inits="zeros,he_normal")
    before = threading.active_count()
    async with app.run_test(size=(100, 30)) as pilot:
        # Real key events, 20 ms apart (pilot.press would also wait for the screen to settle, which a
        # training dashboard never quite does).
        for _ in range(30):
            app.simulate_key("r")
            await pilot.pause(0.02)  # a fast typist, not a wait for anything
        await wait_for(pilot, lambda: finished(app))
        current = app.session.current
        assert current.sweep_id == 31
        # Sweeps a rerun replaced are kept as cancelled (with what they recorded), never counted.
        kept = [s.sweep_id for s in app.session.sweeps]
        assert kept == sorted(set(kept)) and kept[-1] == 31
        assert all(s.state == "cancelled" for s in app.session.sweeps[:-1])
        assert [s.sweep_id for s in app.session.completed()] == [31]
        assert all(r.state == "done" for r in current.initializers.values())
        assert all(len(h) == 61 for r in current.initializers.values() for h in r.histories)
        await wait_for(pilot, lambda: threading.active_count() <= before + 1, timeout=10)


async def test_digit_key_hides_and_shows_an_initializer(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("1")
        assert app.main.muted == {"zeros"}
        labels = {s.label for s in chart_series(app.session, "loss", frozenset(app.main.muted))}
        assert "zeros" not in labels and "uniform" in labels
        table = app.query_one("#leaderboard")
        await wait_for(pilot, lambda: table.get_cell("zeros", "label") == "(zeros)")
        await pilot.press("1")
        assert app.main.muted == set()
        await pilot.press("9")  # no 9th initializer: nothing changes
        assert app.main.muted == set()


async def test_view_keys_switch_validation_and_log_scale(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("v")
        assert app.main.validation
        await pilot.press("l")
        assert app.main.log_loss
        await pilot.pause()
        assert app.query_one("#acc-chart").shown_title == "validation accuracy"
        assert app.query_one("#loss-chart").shown_title == "validation loss (log)"
        await pilot.press("v", "l")
        assert not app.main.validation and not app.main.log_loss


async def test_export_and_screenshot_write_files(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("e")
        await pilot.press("s")
        await wait_for(pilot, lambda: len(list(tmp_path.iterdir())) == 3)
    names = sorted(p.suffix for p in tmp_path.iterdir())
    assert names == [".csv", ".json", ".svg"]
    text = next(tmp_path.glob("*.csv")).read_text()
    assert text.startswith("sweep,initializer,repeat,seed,status,epoch,loss")
    assert len(text.splitlines()) == 1 + 5 * 3


async def test_help_screen_opens_and_closes(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ != "HelpScreen"


async def test_quit_during_training_exits_promptly(tmp_path):
    app = make_app(tmp_path, epochs=500)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.session.current is not None
                       and app.session.current.initializers["zeros"].epoch >= 1)
        start = time.monotonic()
        await pilot.press("q")
    assert time.monotonic() - start < 1.0
    assert app.return_code in (0, None)
    sweep = app.sweep
    assert sweep is not None and sweep.cancel_event.is_set()


async def test_failing_worker_shows_failed_and_the_others_finish(tmp_path, monkeypatch):
    real = engine.train_many

    def flaky(data, config, runs, *args, **kw):
        if runs[0][0].name == "random_normal":
            raise RuntimeError("boom in the normal worker")
        return real(data, config, runs, *args, **kw)

    monkeypatch.setattr(engine, "train_many", flaky)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        table = app.query_one("#leaderboard")
        await wait_for(pilot, lambda: table.get_cell("he_normal", "status") == "done")
        assert table.get_cell("normal", "status") == "failed"  # the message: in the toast and the log
        assert "failed: normal" in str(app.query_one("#status").render())
        assert app.session.current.initializers["normal"].error == "RuntimeError: boom in the normal worker"
        assert table.get_cell("he_normal", "status") == "done"
    log = (tmp_path / "state" / "initdash" / "initdash.log").read_text()
    assert "boom in the normal worker" in log and "Traceback" in log


@pytest.mark.parametrize("size", [(40, 10), (20, 5), (63, 24), (80, 19), (80, 24)])
async def test_small_terminals_do_not_crash(tmp_path, size):
    app = make_app(tmp_path, epochs=1)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        too_small = app.screen.has_class("too-small")
        assert too_small == (size[0] < 64 or size[1] < 20)
        await pilot.press("q")


async def test_q_quits_from_the_help_screen_too(tmp_path):
    app = make_app(tmp_path, epochs=1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


async def test_a_grid_trains_live_and_h_shows_it(tmp_path):
    from initdash.models.spec import ModelSpec

    app = make_app(tmp_path, inits="he_normal,normal", model=ModelSpec(name="mlp", hidden=(4, 4)), lrs=(0.01, 0.1),
                   widths=(4, 8))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        assert len(app.session.current.initializers) == 8  # every cell
        assert all(r.state == "done" for r in app.session.current.initializers.values())
        await pilot.press("h")
        await wait_for(pilot, lambda: app.main.view == "grid")
        text = str(app.query_one("#grid-table").render())
        assert "he_normal" in text and ">" in text  # the heat map, and the cell the curves show
        table = app.query_one("#leaderboard")
        assert [table.get_cell(row.key, "label") for row in table.ordered_rows] == ["he_normal", "normal"]
