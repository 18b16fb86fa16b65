"""The grid view (h), the cell the arrow keys pick, and the signal view's width mode, from recorded grid sessions."""

from __future__ import annotations

from helpers import wait_for
from recorded import tiny_dataset
from recorded_grid import recorded_grid_session

from initdash.grid_table import grid_table
from initdash.ui.app import InitdashApp
from initdash.ui.grid_view import heat_map, width_series
from initdash.ui.views import chart_series, leaderboard_rows


def grid_app(**kw) -> InitdashApp:
    session = recorded_grid_session(**kw)
    return InitdashApp(session.config, tiny_dataset(), session=session, start_training=False)


async def settled(pilot) -> None:
    """Statistics are computed off the UI thread: wait for them, then for the screen to paint them."""
    await wait_for(pilot, lambda: pilot.app.main.stats_ready)
    await pilot.pause()


def test_grid_view_one_axis_80x24(snap_compare):
    assert snap_compare(grid_app(), terminal_size=(80, 24), press=["h"], run_before=settled)


def test_grid_view_heat_maps_80x24_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = grid_app(widths=(16, 64, 256))
    assert snap_compare(app, terminal_size=(80, 24), press=["h", "right", "down"], run_before=settled)


def test_signal_width_mode(snap_compare):
    assert snap_compare(grid_app(widths=(16, 64, 256), lrs=()), terminal_size=(100, 30), press=["g", "w"],
                        run_before=settled)


async def test_arrow_keys_pick_the_cell_the_curves_and_leaderboard_show():
    app = grid_app(widths=(16, 64))
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        main = app.main
        assert main.point == (0.01, 16)
        await pilot.press("right", "right", "right", "down", "down")  # clamped at the grid's edges
        await settled(pilot)
        assert main.point == (1.0, 64)
        shown = main.shown
        rows = leaderboard_rows(shown, None)
        assert [r.label for r in rows] == ["normal", "he_normal", "lecun_normal"]
        for series in chart_series(shown, "loss"):
            record = app.session.current.initializers[f"{series.label} lr=1 w=64"]
            assert shown.current.initializers[series.label] is record  # that cell's runs, nothing else
        await pilot.press("left")
        await settled(pilot)
        assert main.point == (0.1, 64) and "showing lr=0.1 w=64" in main._texts["#header"]


async def test_arrow_keys_stay_the_widgets_without_a_grid():
    from recorded import recorded_session

    session = recorded_session()
    app = InitdashApp(session.config, tiny_dataset(), session=session, start_training=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        assert app.main.point is None
        await pilot.press("right")
        assert app.main.shown is app.session


def test_the_best_cell_and_values_are_printed_as_text():
    session = recorded_grid_session(widths=(16, 64))
    text = heat_map(session, "val_accuracy", no_color=True, width=80, point=(0.1, 16)).plain
    assert ">0.810" in text and "0.950*" in text  # the shown cell; normal's best (lr=1, widest)
    table = grid_table(session)
    assert "best cell per initializer" in table and "normal           lr=1 w=64  0.9500 ± 0.0100  3" in table


def test_coordinate_check_series_grow_with_width_for_a_fixed_std_only():
    _, lines = width_series(recorded_grid_session(widths=(16, 64, 256), lrs=()))
    for index, _layer, x, y in lines:
        assert len(x) == 3
        rise = y[-1] - y[0]
        assert (rise > 0.5) if index == 0 else abs(rise) < 1e-9  # normal: sqrt(16) times; the others: flat
