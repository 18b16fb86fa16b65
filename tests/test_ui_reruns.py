"""Issue 4 in the dashboard: rerun history, band, spread view, metric cycling, repeats, saved history."""

from __future__ import annotations

from fakes import experiment
from helpers import finished, wait_for
from recorded import recorded_session, tiny_dataset

from initdash import stats
from initdash.data import load
from initdash.initializers import parse_list
from initdash.store import HistoryWriter
from initdash.ui.app import InitdashApp
from initdash.ui.views import chart_series, leaderboard_rows, spread_data


def recorded_app(**kw) -> InitdashApp:
    session = recorded_session(**kw)
    return InitdashApp(session.config, tiny_dataset(), session=session, start_training=False)


async def test_band_key_draws_earlier_sweeps_behind_the_current_one():
    app = recorded_app(sweeps=3)
    async with app.run_test(size=(100, 30)) as pilot:
        assert not app.main.band
        await pilot.press("b")
        assert app.main.band
        faint = [s for s in chart_series(app.session, "loss", band=True) if s.faint]
        assert len(faint) == 3 * 5  # min, max and mean of the two earlier sweeps, per initializer
        assert app.query_one("#loss-chart").shown_title == "train loss + earlier sweeps (·)"
        assert app.query_one("#acc-chart").shown_title == "train accuracy + earlier sweeps (·)"
        await pilot.press("b")
        assert not app.main.band


async def test_d_and_tab_switch_to_the_spread_view_and_back():
    app = recorded_app(sweeps=4, repeats=2)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        assert app.main.view == "spread"
        assert app.query_one("#views").current == "spread"
        chart = app.query_one("#spread-chart")
        assert chart.shown_title.startswith("final val_accuracy: 40 runs in 4 sweeps")
        table = str(app.query_one("#spread-table").render())
        assert "95% CI" in table and "zeros" in table and "   8 " in table
        await pilot.press("tab")
        assert app.main.view == "curves" and app.query_one("#views").current == "curves"


async def test_m_cycles_the_metric_of_spread_rank_and_wins():
    app = recorded_app(sweeps=2)
    async with app.run_test(size=(100, 30)) as pilot:
        seen = [app.main.metric]
        for _ in range(4):
            await pilot.press("m")
            seen.append(app.main.metric)
        assert seen == ["val_accuracy", "loss", "accuracy", "val_loss", "val_accuracy"]
        await pilot.press("m")
        assert app.query_one("#leaderboard").metric == "loss"
        await wait_for(pilot, lambda: app.main.stats_ready)
        assert str(app.query_one("#summary").render()).startswith("loss:")


async def test_plus_and_minus_change_repeats_for_the_next_rerun(tmp_path):
    config = experiment(seed=3, epochs=1, initializers=parse_list("zeros,he_normal"))
    app = InitdashApp(config, load(), export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("plus", "plus", "plus", "minus")
        assert app.next_repeats == 3
        assert app.session.current.initializers["zeros"].seeds.__len__() == 1  # the sweep on screen is unchanged
        await pilot.press("r")
        await wait_for(pilot, lambda: finished(app) and app.session.current.sweep_id == 2)
        assert len(app.session.current.initializers["he_normal"].seeds) == 3
        await pilot.press("minus", "minus", "minus")
        assert app.next_repeats == 1  # never below one


async def test_reruns_accumulate_and_feed_spread_and_leaderboard(tmp_path):
    config = experiment(seed=5, epochs=1, repeats=2, initializers=parse_list("zeros,he_normal,normal"))
    app = InitdashApp(config, load(), export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for sweep in (1, 2, 3):
            await wait_for(pilot, lambda sweep=sweep: finished(app) and app.session.current.sweep_id == sweep)
            if sweep < 3:
                await pilot.press("r")
        st = stats.compute(app.session, "val_accuracy")
        assert st.sweeps == 3
        assert [s.n for s in st.inits] == [6, 6, 6]
        spreads = spread_data(app.session, st)
        assert [len(s.values) for s in spreads] == [6, 6, 6]
        rows = leaderboard_rows(app.session, st)
        assert sum(int(r.wins) for r in rows) >= 3  # every sweep has a winner (ties count for each)


async def test_dashboard_writes_history_and_reopens_it(tmp_path):
    db = tmp_path / "h.db"
    config = experiment(seed=9, epochs=1, initializers=parse_list("zeros,normal"))
    dataset = load()
    store = HistoryWriter.open(db)
    store.start_session(config, dataset.describe())
    app = InitdashApp(config, dataset, store=store, export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: finished(app) and app.session.current.sweep_id == 2)
        original = [r.final("val_loss") for s in app.session.sweeps for r in s.initializers.values()]
    session_id = store.session_id
    store.close()

    store = HistoryWriter.open(db)
    reopened = store.load_session(session_id)
    assert [r.final("val_loss") for s in reopened.sweeps for r in s.initializers.values()] == original
    store.continue_session(session_id)
    app = InitdashApp(reopened.config, dataset, session=reopened, store=store, start_training=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.session.current.sweep_id == 2 and app.sweep is None  # shows what it has, trains nothing
        assert "2 sweeps so far" in str(app.query_one("#status").render())
        await pilot.press("r")
        await wait_for(pilot, lambda: finished(app) and app.session.current.sweep_id == 3)
    store.close()
    store = HistoryWriter.open(db)
    assert len(store.load_session(session_id).completed()) == 3
    store.close()


async def test_a_history_held_by_another_process_never_freezes_the_keys(tmp_path):
    import sqlite3
    import time

    db = tmp_path / "h.db"
    config = experiment(seed=4, epochs=1, initializers=parse_list("zeros,normal"))
    dataset = load()
    store = HistoryWriter.open(db)
    store.start_session(config, dataset.describe())
    app = InitdashApp(config, dataset, store=store, export_dir=tmp_path, start_training=False)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock (for up to the busy timeout)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            started = time.monotonic()
            await pilot.press("r")  # the sweep's id comes from the history: asked for off the event loop
            await pilot.press("v")
            await pilot.pause()
            assert app.main.validation and time.monotonic() - started < 5  # the keys answered at once
            assert app.sweep is None  # ... while the sweep waits for its id
            other.execute("ROLLBACK")
            await wait_for(pilot, lambda: finished(app) and app.session.current.sweep_id == 1)
    finally:
        other.close()
    store.close()
    with HistoryWriter.open(db) as again:
        assert len(again.load_session(store.session_id).completed()) == 1
