"""Schemas 1 and 2 (before the event log): their tables read back as sweeps, for the migration to schema 3.

They kept one row per worker (`workers`, its sweep id in a column named `rerun`), per run (`runs`), per
run and epoch (`epochs`) and, from schema 2, per run, epoch and layer (`layers`).
"""

from __future__ import annotations

import sqlite3

from initdash.config import ExperimentConfig
from initdash.events import CANCELLED, FAILED, LAYER_METRICS, METRICS, Event
from initdash.initializers import parse_spec
from initdash.session import (
    DONE,
    QUEUED,
    SWEEP_CANCELLED,
    SWEEP_INTERRUPTED,
    Session,
    SweepRecord,
    SweepState,
    replay_sweep,
    unit_events,
)


def read_sessions(conn: sqlite3.Connection, version: int) \
        -> list[tuple[int, str, str, list[tuple[SweepRecord, SweepState]]]]:
    """Per stored session: (id, created, config JSON, [(sweep, how it ended)]) with every sweep that recorded
    anything; one the old store never finished (its process stopped) ends as interrupted."""
    out = []
    for session_id, created, config_text in conn.execute("SELECT id, created, config FROM sessions ORDER BY id"):
        out.append((session_id, created, config_text, _sweeps(conn, session_id, version)))
    return out


def _sweeps(conn: sqlite3.Connection, session_id: int, version: int) -> list[tuple[SweepRecord, SweepState]]:
    workers = conn.execute("SELECT rerun, initializer, state, epoch, error FROM workers WHERE session = ? "
                           "ORDER BY rerun, position", (session_id,)).fetchall()
    runs = conn.execute("SELECT id, rerun, initializer, seed, status FROM runs WHERE session = ? "
                        "ORDER BY rerun, initializer, repeat", (session_id,)).fetchall()
    epochs = conn.execute("SELECT e.run, e.epoch, e.loss, e.accuracy, e.val_loss, e.val_accuracy FROM epochs e "
                          "JOIN runs r ON r.id = e.run WHERE r.session = ? ORDER BY e.run, e.epoch",
                          (session_id,)).fetchall()
    per_layer: dict[tuple[int, int], dict[str, list]] = {}
    if version >= 2:
        for run_id, epoch, *values in conn.execute(
                "SELECT l.run, l.epoch, l.activation_std, l.grad_norm FROM layers l JOIN runs r ON r.id = l.run "
                "WHERE r.session = ? ORDER BY l.run, l.epoch, l.layer", (session_id,)):
            entry = per_layer.setdefault((run_id, epoch), {k: [] for k in LAYER_METRICS})
            for k, v in zip(LAYER_METRICS, values):
                entry[k].append(v)
    history: dict[int, list[dict]] = {}
    for run_id, epoch, *values in epochs:
        history.setdefault(run_id, []).append({"epoch": epoch, **dict(zip(METRICS, values)),
                                               **per_layer.get((run_id, epoch), {})})
    by_worker: dict[tuple[int, str], list[tuple]] = {}
    for row in runs:
        by_worker.setdefault((row[1], row[2]), []).append(row)
    per_sweep: dict[int, list[tuple[str, list[Event], str]]] = {}
    for rerun, label, state, _epoch, error in workers:
        rows = by_worker.get((rerun, label), [])
        if state == QUEUED:
            continue
        events = unit_events(rerun, label, [r[3] for r in rows], [r[4] for r in rows],
                             [history.get(r[0], []) for r in rows], error=error or "" if state == FAILED else "",
                             ended=state in (DONE, CANCELLED))
        per_sweep.setdefault(rerun, []).append((label, events, state))
    out: list[tuple[SweepRecord, SweepState]] = []
    for sweep_id, units in sorted(per_sweep.items()):
        # Replayed through Session.apply, the one state machine; an old sweep whose process stopped (workers
        # still running) ends as interrupted, one a rerun replaced as cancelled.
        labels = [label for label, _, _ in units]
        session = Session(ExperimentConfig(initializers=tuple(parse_spec(label) for label in labels)), "")
        stopped = SWEEP_CANCELLED if any(state == CANCELLED for *_, state in units) else SWEEP_INTERRUPTED
        record = replay_sweep(session, sweep_id, [e for _, events, _ in units for e in events], stopped)
        if record is not None:
            out.append((record, record.state))
    return out
