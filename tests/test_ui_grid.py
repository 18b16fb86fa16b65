"""The grid view (h), the cell the arrow keys pick, and the signal view's width mode, from recorded grid sessions."""

from __future__ import annotations

import math

from helpers import wait_for
from recorded import tiny_dataset
from recorded_grid import recorded_grid_session

from initdash.grid_table import coordinate_table, grid_table
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


LONG_GRID_INITS = "normal,variance_scaling:scale=2,mode=fan_out,distribution=uniform,lecun_normal"


def test_grid_view_heat_maps_long_spec_80x24(snap_compare):
    app = grid_app(widths=(16, 64), inits=LONG_GRID_INITS)  # its short label heads its block, as elsewhere
    assert snap_compare(app, terminal_size=(80, 24), press=["h"], run_before=settled)


def test_grid_view_one_axis_long_spec_80x24(snap_compare):
    app = grid_app(inits=LONG_GRID_INITS)  # the best line stays one line
    assert snap_compare(app, terminal_size=(80, 24), press=["h"], run_before=settled)


def test_grid_texts_use_the_short_labels():
    from initdash.ui.grid_view import grid_best_line

    session = recorded_grid_session(widths=(16, 64), inits=LONG_GRID_INITS)
    heat = heat_map(session, "val_accuracy", no_color=True, width=78).plain
    assert "varian…:2,out,unif" in heat and "variance_scaling:" not in heat
    best = grid_best_line(recorded_grid_session(inits=LONG_GRID_INITS), "val_accuracy").plain
    assert "varian…:2,out,unif: lr=" in best and "variance_scaling:" not in best


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


def test_the_coordinate_table_and_the_width_mode_show_the_same_numbers():
    session = recorded_grid_session(widths=(16, 64, 256), lrs=(), epochs=1)
    unit = next(r for r in session.current.initializers.values() if r.initializer == "normal" and r.width == 16)
    unit.histories[0][0]["activation_std"][0] = math.inf  # one run blown up: left out of both
    table = coordinate_table(session, epoch=0).splitlines()[3:]
    _, lines = width_series(session, epoch=0)
    labels = [s.label for s in session.config.initializers]
    assert len(lines) == len(table) == 12
    for (index, layer, x, y), row in zip(lines, table):
        assert row.split()[:2] == [labels[index], str(layer)]
        assert [round(10 ** v) for v in x] == [16, 64, 256]
        assert row.split()[2:5] == [f"{10 ** v:.3f}" for v in y]
    assert table[0].split()[2] == "0.200"  # normal's first layer at width 16: 0.05 * sqrt(16), the inf left out


class RecordingPlot:
    """Stands in for plotext: records every plot/scatter call's marker and colour."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def plot(self, x, y, marker=None, color=None) -> None:
        self.calls.append((marker, color))

    def scatter(self, x, y, marker=None, color=None) -> None:
        self.calls.append((marker, color))

    def __getattr__(self, name):  # title, xlim, ticks, ...: not what this test is about
        return lambda *a, **k: None


def test_one_axis_ci_bars_and_best_star_take_their_initializers_colour():
    from initdash.ui.grid_view import axis_spec
    from initdash.ui.palette import color

    spec = axis_spec(recorded_grid_session(), "val_accuracy", no_color=False)
    plt = RecordingPlot()
    spec.draw(plt, 80)
    bars = [c for m, c in plt.calls if m == "│"]
    stars = [c for m, c in plt.calls if m == "★"]
    assert bars and stars
    wanted = {color(line.index) for line in spec.lines}
    assert set(bars) == wanted and set(stars) == wanted  # a colour each, never the palette function itself


def test_one_axis_best_line_is_the_legend_with_markers_under_no_color():
    from initdash.ui.grid_view import grid_best_line
    from initdash.ui.palette import marker

    session = recorded_grid_session()
    plain = grid_best_line(session, "val_accuracy", no_color=True).plain
    for index, spec in enumerate(session.config.initializers):
        assert f"{marker(index)} {spec.label}: lr=" in plain
    coloured = grid_best_line(session, "val_accuracy")
    assert not any(marker(i) in coloured.plain for i in range(3)) and len(coloured.spans) == 3


async def test_width_mode_drops_the_depth_charts_note(monkeypatch):
    import initdash.ui.signal_draw as signal_draw

    # four short layer names fit under the axis, so the depth view has no note of its own: give it one
    monkeypatch.setattr(signal_draw, "layer_note", lambda *a: "layers: 1 layers.0 · 2 layers.1")
    app = grid_app(widths=(16, 64, 256), lrs=())
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("g")
        await pilot.pause()
        note = app.main.query_one("#signal-note")
        assert note.display and "layers" in app.main._texts["#signal-note"]
        await pilot.press("w")
        await pilot.pause()
        assert not note.display  # the layer names are not about the width chart
        await pilot.press("w")
        await pilot.pause()
        assert note.display


async def test_the_shown_cell_stays_on_screen_at_80_columns():
    from textual.geometry import Region

    app = grid_app(widths=(32, 64, 128, 256, 512, 1024), lrs=())  # width-check's axis: a long header
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        header = app.main.query_one("#header")
        shown = "\n".join(s.text for s in header.render_lines(Region(0, 0, header.outer_size.width,
                                                                     header.outer_size.height)))
        assert "showing w=32 (h: grid)" in shown  # on screen, not cut off below the header's last line


def test_width_ticks_read_as_the_widths_given():
    from initdash.ui.grid_view import axis_spec, width_spec

    session = recorded_grid_session(widths=(32, 256, 1024), lrs=())
    for spec in (axis_spec(session, "val_accuracy", no_color=True), width_spec(session, None, no_color=True)):
        plt = RecordingPlot()
        labels = []
        plt.xticks = lambda ticks, names, out=labels: out.extend(names)
        spec.draw(plt, 80)
        assert labels == ["32", "256", "1024"]  # 3 significant digits of 10**3.0103 read "1020"


async def test_the_statistics_at_a_picked_cell_are_corrected_over_every_point_as_headless():
    """The leaderboard at a cell compares as grid_table's line for that point: Holm over points x pairs."""
    from initdash.grid_table import point_stats

    app = grid_app(widths=(16, 64), repeats=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("right")
        await settled(pilot)
        shown = app.main.session_stats()
        want = point_stats(app.session)[(0.1, 16)]
        assert {p.family for p in shown.pairs} == {18}  # 3 rates x 2 widths x 3 pairs
        assert shown.pairs == want.pairs and shown.summary == want.summary


async def test_the_palettes_mute_commands_name_the_initializers_the_digit_keys_mute():
    app = grid_app(widths=(16, 64))
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        mutes = [c for c in app.get_system_commands(app.screen) if c.title.startswith("Mute ")]
        assert [c.title for c in mutes] == ["Mute normal", "Mute he_normal", "Mute lecun_normal"]
        assert "lecun_normal (key 3)" in mutes[2].help
        app.call_next(mutes[1].callback)  # as the palette runs it
        await pilot.pause()
        assert app.main.muted == {"he_normal"}  # the one the command names


async def test_a_new_cell_never_shows_the_previous_cells_statistics(monkeypatch):
    import threading

    from initdash.ui import main_screen

    app = grid_app(widths=(16, 64))
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        assert app.main.session_stats() is not None
        release = threading.Event()
        compute = main_screen.stats.compute

        def held(*args):
            release.wait(30)
            return compute(*args)

        monkeypatch.setattr(main_screen.stats, "compute", held)
        try:
            await pilot.press("right")
            await pilot.pause()
            assert app.main.point == (0.1, 16)
            assert app.main.session_stats() is None  # computing: not lr=0.01's numbers under lr=0.1
            assert "statistics: computing…" in app.main._texts["#summary"]
            rows = leaderboard_rows(app.main.shown, app.main.session_stats())
            assert [r.spread for r in rows] == ["…"] * 3  # said to be computed, not the old cell's μ±σ
        finally:
            release.set()
        await settled(pilot)
        assert "statistics: computing…" not in app.main._texts["#summary"]


async def test_a_redraw_builds_the_cell_once_and_repaints_the_grid_only_when_it_changed(monkeypatch):
    from textual.widgets import Static

    import initdash.grid_table
    import initdash.ui.views as views

    app = grid_app(widths=(16, 64))
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        built, layers, updates = [], [], []
        point_session, signal_layers, update = initdash.grid_table.point_session, views._signal_layers, Static.update
        monkeypatch.setattr(initdash.grid_table, "point_session", lambda *a: built.append(1) or point_session(*a))
        monkeypatch.setattr(views, "_signal_layers", lambda *a: layers.append(1) or signal_layers(*a))
        monkeypatch.setattr(Static, "update", lambda self, *a, **k: updates.append(self.id) or update(self, *a, **k))
        await pilot.press("g")
        await pilot.pause()
        built.clear(), layers.clear()
        app.main.redraw()
        assert len(built) == 1  # the shown cell's session: once per redraw
        assert len(layers) == 2  # one pass per chart (activation std, gradient norm)
        await pilot.press("g", "h")
        await pilot.pause()
        assert "grid-table" in updates
        updates.clear()
        app.main.redraw()
        app.main.redraw()
        assert "grid-table" not in updates  # the same heat map: no repaint, 10 times a second
