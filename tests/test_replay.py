"""session.unit_events and session.replay_sweep: a unit's recorded runs as events, and a sweep's events replayed."""

from __future__ import annotations

from fakes import config, run_events

from initdash.events import DIVERGED, METRICS, OK, EpochDone, UnitFinished, UnitStarted
from initdash.session import SWEEP_INTERRUPTED, SWEEP_RUNNING, Session, replay_sweep, unit_events


class CountingRow(dict):
    """A history row that counts how often its epoch is read."""

    reads = 0

    def __getitem__(self, key):
        if key == "epoch":
            CountingRow.reads += 1
        return super().__getitem__(key)


def test_unit_events_read_each_row_once_however_many_epochs():
    epochs, repeats = 200, 3
    histories = [[CountingRow(epoch=e, **{m: 0.5 for m in METRICS}) for e in range(epochs)] for _ in range(repeats)]
    histories[1] = histories[1][:50]  # a run that diverged after epoch 49
    CountingRow.reads = 0
    events = unit_events(1, "zeros", (1, 2, 3), [OK, DIVERGED, OK], histories)
    assert CountingRow.reads <= 2 * sum(len(h) for h in histories)  # looked up epoch by epoch: ~ epochs^2 / 2
    assert isinstance(events[0], UnitStarted) and isinstance(events[-1], UnitFinished)
    reports = [e.report for e in events if isinstance(e, EpochDone)]
    assert [r.epoch for r in reports] == list(range(epochs))
    assert reports[49].statuses == (OK, OK, OK) and reports[50].statuses == (OK, DIVERGED, OK)


def test_replay_sweep_leaves_a_sweep_that_is_still_recorded_running():
    cfg = config("zeros,he_normal")
    events = run_events(1, "zeros", [0.7, 0.8])  # he_normal never started
    record = replay_sweep(Session(cfg, "d"), 1, events, None, cfg)
    assert record is not None and record.state == SWEEP_RUNNING
    assert [u.state for u in record.initializers.values()] == ["done", "queued"]
    record = replay_sweep(Session(cfg, "d"), 1, events, SWEEP_INTERRUPTED)
    assert record is not None and record.state == SWEEP_INTERRUPTED
    assert [u.state for u in record.initializers.values()] == ["done", "interrupted"]
    assert replay_sweep(Session(cfg, "d"), 2, [], None).state == SWEEP_RUNNING  # begun, nothing recorded yet
    assert replay_sweep(Session(cfg, "d"), 2, [], SWEEP_INTERRUPTED) is None
