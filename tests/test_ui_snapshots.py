"""Snapshots of the key screens, drawn from a recorded Session (no live training): stable everywhere."""

from __future__ import annotations

from helpers import wait_for
from recorded import recorded_session, tiny_dataset

from initdash.ui.app import InitdashApp


def recorded_app(**kw) -> InitdashApp:
    session = recorded_session(**kw)
    return InitdashApp(session.config, tiny_dataset(), session=session, start_training=False)


async def settled(pilot) -> None:
    """Statistics are computed off the UI thread: wait for them, then for the screen to paint them."""
    await wait_for(pilot, lambda: pilot.app.main.stats_ready)
    await pilot.pause()


def test_main_screen_100x30(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(100, 30), run_before=settled)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=settled)


def test_main_screen_validation_with_muted_and_diverged(snap_compare):
    app = recorded_app(diverge="he_normal")
    assert snap_compare(app, terminal_size=(100, 30), press=["v", "2"], run_before=settled)


def test_help_screen(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(100, 30), press=["question_mark"], run_before=settled)


def test_too_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(50, 12), run_before=settled)


def test_spread_view_after_sweeps(snap_compare):
    assert snap_compare(recorded_app(sweeps=5, repeats=3), terminal_size=(100, 30), press=["d"], run_before=settled)


def test_leaderboard_across_sweeps_80x24(snap_compare):
    assert snap_compare(recorded_app(sweeps=4, repeats=2), terminal_size=(80, 24), press=["b"], run_before=settled)


def test_empty_charts_before_the_first_epoch(snap_compare):
    app = InitdashApp(recorded_session(sweeps=0).config, tiny_dataset(), start_training=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled)
