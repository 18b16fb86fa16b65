"""Snapshots of the key screens, drawn from a recorded Session (no live training): stable everywhere."""

from __future__ import annotations

from recorded import recorded_session, tiny_dataset

from initdash.ui.app import InitdashApp


def recorded_app(**kw) -> InitdashApp:
    session = recorded_session(**kw)
    return InitdashApp(session.config, tiny_dataset(), session=session, start_training=False)


def test_main_screen_100x30(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(100, 30))


def test_main_screen_80x24(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24))


def test_main_screen_validation_with_hidden_and_diverged(snap_compare):
    app = recorded_app(diverge="he_normal")
    assert snap_compare(app, terminal_size=(100, 30), press=["v", "2"])


def test_help_screen(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(100, 30), press=["question_mark"])


def test_too_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(50, 12))


def test_spread_view_after_reruns(snap_compare):
    assert snap_compare(recorded_app(sweeps=5, repeats=3), terminal_size=(100, 30), press=["d"])


def test_leaderboard_across_reruns_80x24(snap_compare):
    assert snap_compare(recorded_app(sweeps=4, repeats=2), terminal_size=(80, 24), press=["b"])
