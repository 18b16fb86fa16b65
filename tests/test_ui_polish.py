"""The dashboard as a new user meets it, driven through Pilot on a recorded Session (no training): one toast at
a time, whole paths, a help screen that scrolls, failures said instead of "computing…" forever."""

from __future__ import annotations

import io

import pytest
from helpers import wait_for
from recorded import LONG_SPECS, recorded_session, tiny_dataset
from rich.console import Console
from textual.widgets._toast import Toast  # not exported by textual.widgets

from initdash.data import DataInfo
from initdash.ui import main_screen
from initdash.ui.app import InitdashApp
from initdash.ui.leaderboard import Leaderboard


def recorded_app(tmp_path=None, **kw) -> InitdashApp:
    session = recorded_session(**kw)
    return InitdashApp(session.config, tiny_dataset(), session=session, start_training=False, export_dir=tmp_path)


def toasts(app) -> list[str]:
    """The text of every toast on screen."""
    return [str(t.render()) for t in app.screen.query(Toast)]


async def test_one_toast_at_a_time(tmp_path):
    app = recorded_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("m", "m", "m", "m")
        await wait_for(pilot, lambda: len(toasts(app)) == 1)
        await pilot.pause()
        assert len(toasts(app)) == 1 and "val_accuracy" in toasts(app)[0]  # the fourth press: back to val acc


async def test_an_information_toast_never_replaces_an_error(tmp_path):
    app = recorded_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.notify("zeros failed: boom\n(traceback in /tmp/initdash.log)", severity="error", timeout=30)
        app.notify("disk full: history is no longer saved", severity="error", title="History", timeout=30)
        await pilot.press("m", "b", "m")
        await pilot.pause()
        await wait_for(pilot, lambda: len(toasts(app)) == 3)
        await pilot.pause()
        shown = toasts(app)
        assert len(shown) == 3 and sum("traceback in" in t for t in shown) == 1
        assert sum("history is no longer saved" in t for t in shown) == 1
        assert sum("now by final" in t for t in shown) == 1  # one information toast: the last one
        app.notify("normal failed: nan\n(traceback in /tmp/initdash.log)", severity="error", timeout=30)
        await wait_for(pilot, lambda: any("normal failed" in t for t in toasts(app)))
        await pilot.pause()
        shown = toasts(app)  # the newer failure replaced the older one and the information toast
        assert len(shown) == 2 and not any("zeros failed" in t for t in shown)
        app.notify("first")
        app.notify("second")  # asked for before the first is on screen: it still replaces it
        await wait_for(pilot, lambda: any("second" in t for t in toasts(app)))
        await pilot.pause()
        assert len(toasts(app)) == 3 and not any("first" in t for t in toasts(app))  # two errors, one information


async def test_export_toast_shows_each_path_whole(tmp_path):
    deep = tmp_path / "a-rather-long-directory-name" / "and-another-one-below-it"
    deep.mkdir(parents=True)
    app = recorded_app(deep)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: len(toasts(app)) == 1)
        text = toasts(app)[0]
        written = sorted(p.name for p in deep.iterdir())
        lines = text.splitlines()
        for name in written:  # never split inside a file name
            assert any(line.strip().endswith(name) for line in lines), (name, text)
        assert all(len(line) <= 36 for line in lines)  # what a toast at 80 columns holds without wrapping
        assert "".join(line.strip() for line in lines if line.strip()).replace("Exported", "").startswith(str(deep))
        await pilot.press("s")
        await wait_for(pilot, lambda: any("Screenshot" in t for t in toasts(app)))
        assert len(toasts(app)) == 1


async def test_help_scrolls_to_everything_with_a_visible_scrollbar():
    app = recorded_app(initializers=LONG_SPECS)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        body = app.screen.query_one("#help-body")
        assert body.max_scroll_y > 0 and body.show_vertical_scrollbar and body.scrollbar_size_vertical >= 1
        assert app.screen.focused is body  # arrow keys scroll at once
        await pilot.press("end")
        await wait_for(pilot, lambda: body.scroll_y == body.max_scroll_y)
        console = Console(width=90, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-text").content)
        text = console.export_text()
        for key in ("+", "-", "ctrl+p", "variance_scaling:scale=2,mode=fan_out,distribution=uniform"):
            assert key in text
        assert "escape" in body.border_subtitle


async def test_statistics_that_fail_are_said(monkeypatch):
    def boom(*_):
        raise RuntimeError("boom")

    monkeypatch.setattr(main_screen.stats, "compute", boom)
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        summary = app.main.query_one("#summary")
        await wait_for(pilot, lambda: "statistics failed: RuntimeError: boom" in str(summary.render()))


async def test_data_that_fails_to_load_is_said(monkeypatch):
    import initdash.data

    def broken(*_):
        raise MemoryError("no room")

    monkeypatch.setattr(initdash.data, "load", broken)
    session = recorded_session(sweeps=0)
    described = DataInfo("banknote-like", 6, 2, (4,), ("0", "1"), True)  # a built-in set: it loads later
    app = InitdashApp(session.config, described, executor=object())
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.main.query_one("#status")
        await wait_for(pilot, lambda: "cannot load the data: MemoryError: no room" in str(status.render()))


@pytest.mark.parametrize("size", [(80, 24), (110, 32)])
async def test_leaderboard_fits_without_scrolling_and_ranks_have_their_columns(size):
    app = recorded_app(sweeps=2, repeats=2, initializers=LONG_SPECS)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.main.stats_ready)
        await pilot.pause()
        table = app.main.query_one(Leaderboard)
        assert table.virtual_size.width <= size[0] and table.max_scroll_x == 0
        keys = [str(k.value) for k in table.columns]
        assert {"label", "status", "val_accuracy", "rank", "spread"} <= set(keys)
        labels = [table.get_cell(row.key, "label") for row in table.ordered_rows]
        assert "varian…:2,out,unif" in labels and "orthogonal:1.5" in labels


async def test_a_long_status_line_ends_in_an_ellipsis_not_a_silent_cut(tmp_path):
    from textual.geometry import Region

    app = recorded_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.main.status = ("exported initdash-20261130-181709.json, initdash-20261130-181709.csv · "
                           "synthetic data (real file: --data FILE.csv)")
        await pilot.pause()
        status = app.main.query_one("#status")
        line = status.render_lines(Region(0, 0, status.outer_size.width, 1))[0].text.rstrip()
        assert line.startswith(" exported initdash-20261130-181709.json, initdash-20261130-181709.csv ·")
        assert line.endswith("…")  # what did not fit is said to be missing (word wrap dropped it silently)


async def test_an_executor_that_fails_to_connect_with_a_bug_is_said_and_logged(monkeypatch):
    import initdash.executors
    from initdash import locations

    def broken(*_):
        raise RuntimeError("socket gone")

    monkeypatch.setattr(initdash.executors, "connect", broken)
    session = recorded_session(sweeps=0)
    described = DataInfo("banknote-like", 6, 2, (4,), ("0", "1"), True)
    app = InitdashApp(session.config, described)  # no executor: the app connects one
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: bool(app.fatal))  # the command line says it; never "connecting…" forever
    assert app.fatal == "RuntimeError: socket gone" and app.return_code == 2
    log = locations.log_file().read_text()
    assert "connecting the executor" in log and "Traceback" in log and "socket gone" in log


async def test_a_history_that_fails_to_hand_out_an_id_with_a_bug_still_trains(tmp_path, monkeypatch):
    from fakes import experiment

    from initdash.data import load
    from initdash.initializers import parse_list
    from initdash.store import HistoryWriter

    def broken(*_, **__):
        raise RuntimeError("bad row")

    store = HistoryWriter.open(tmp_path / "h.db")
    config = experiment(seed=4, epochs=1, initializers=parse_list("zeros,normal"))
    dataset = load()
    store.start_session(config, dataset.describe())
    monkeypatch.setattr(store, "begin_sweep", broken)
    app = InitdashApp(config, dataset, store=store, export_dir=tmp_path, start_training=False)
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.press("r")
            await wait_for(pilot, lambda: app.sweep is not None)  # never "starting a sweep…" forever
            assert app.sweep.sweep_id == 1
            await wait_for(pilot, lambda: any("history is no longer saved" in t for t in toasts(app)))
            assert any("RuntimeError: bad row" in t for t in toasts(app))
    finally:
        store.close()
