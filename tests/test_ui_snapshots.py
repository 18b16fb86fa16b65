"""Snapshots of every view, drawn from a recorded Session (no live training): stable everywhere.

Each view at 80x24 and a wider size, with the lesson's initializers and with long specs, in colour and with
NO_COLOR. Update them with `--snapshot-update` only after looking at them.
"""

from __future__ import annotations

import pytest
from helpers import wait_for
from recorded import LONG_SPECS, recorded_session, tiny_dataset

from initdash.ui.app import InitdashApp


def recorded_app(**kw) -> InitdashApp:
    session = recorded_session(**kw)
    return InitdashApp(session.config, tiny_dataset(), session=session, start_training=False)


async def settled(pilot) -> None:
    """Statistics are computed off the UI thread: wait for them, then for the screen to paint them."""
    await wait_for(pilot, lambda: pilot.app.main.stats_ready)
    await pilot.pause()


@pytest.fixture
def no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")


def test_main_screen_100x30(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(100, 30), run_before=settled)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=settled)


def test_main_screen_long_specs_80x24(snap_compare):
    assert snap_compare(recorded_app(sweeps=2, initializers=LONG_SPECS), terminal_size=(80, 24), run_before=settled)


def test_main_screen_validation_with_muted_and_diverged(snap_compare):
    app = recorded_app(diverge="he_normal")
    assert snap_compare(app, terminal_size=(100, 30), press=["v", "2"], run_before=settled)


def test_validation_log_axis_110x32(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(110, 32), press=["v", "l"], run_before=settled)


def test_help_screen(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(100, 30), press=["question_mark"], run_before=settled)


def test_help_screen_long_specs_80x24(snap_compare):
    app = recorded_app(initializers=LONG_SPECS)
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"], run_before=settled)


def test_too_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(50, 12), run_before=settled)


def test_spread_view_after_sweeps(snap_compare):
    assert snap_compare(recorded_app(sweeps=5, repeats=3), terminal_size=(100, 30), press=["d"], run_before=settled)


def test_spread_view_long_specs_80x24(snap_compare):
    app = recorded_app(sweeps=3, repeats=2, initializers=LONG_SPECS)
    assert snap_compare(app, terminal_size=(80, 24), press=["d"], run_before=settled)


def test_spread_view_long_specs_110x32_no_color(snap_compare, no_color):
    app = recorded_app(sweeps=3, repeats=2, initializers=LONG_SPECS)
    assert snap_compare(app, terminal_size=(110, 32), press=["d"], run_before=settled)


def test_signal_view_110x32(snap_compare):
    assert snap_compare(recorded_app(layers=True), terminal_size=(110, 32), press=["g"], run_before=settled)


def test_signal_view_80x24_no_color(snap_compare, no_color):
    assert snap_compare(recorded_app(layers=True), terminal_size=(80, 24), press=["g"], run_before=settled)


def test_leaderboard_across_sweeps_80x24(snap_compare):
    assert snap_compare(recorded_app(sweeps=4, repeats=2), terminal_size=(80, 24), press=["b"], run_before=settled)


def test_band_no_color_80x24(snap_compare, no_color):
    assert snap_compare(recorded_app(sweeps=4, repeats=2), terminal_size=(80, 24), press=["b"], run_before=settled)


def test_empty_charts_before_the_first_epoch(snap_compare):
    app = InitdashApp(recorded_session(sweeps=0).config, tiny_dataset(), start_training=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled)
