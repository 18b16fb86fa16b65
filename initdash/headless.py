"""Run sweeps without the TUI: progress on stderr, the results table on stdout."""

from __future__ import annotations

import queue
import sys
from typing import TYPE_CHECKING, TextIO

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.events import RunFailed, RunFinished
from initdash.failures import log_failure
from initdash.session import Session
from initdash.sweep import Sweep

if TYPE_CHECKING:
    from initdash.store import Store


def run_sweeps(config: ExperimentConfig, dataset: Dataset, reruns: int,
               progress: TextIO | None = sys.stderr, session: Session | None = None,
               store: Store | None = None) -> Session:
    """Run `reruns` sweeps one after another (as `reruns` presses of the rerun key would); return the Session.

    With a `store` (already recording the session), every event is also written to the history.
    """
    session = session or Session(config, dataset.describe())
    for _ in range(reruns):
        events: queue.Queue = queue.Queue()
        sweep = Sweep(config, dataset, session.next_sweep_id, events.put, together=True)
        session.begin_sweep(sweep.sweep_id, config)
        if store is not None:
            store.begin_sweep(sweep.sweep_id, config)
        sweep.start()
        pending = {s.label for s in config.initializers}
        try:
            while pending:
                event = events.get()
                if session.apply(event) and store is not None:
                    store.record(event)
                if isinstance(event, (RunFinished, RunFailed)):
                    pending.discard(event.initializer)
                    if progress is not None:
                        print(_progress_line(session, sweep.sweep_id, event), file=progress, flush=True)
            # A worker may still be unwinding after its last event; exiting under it can abort the process
            # (torch's threads: "terminate called without an active exception", exit code 134).
            sweep.join()
        except KeyboardInterrupt:
            sweep.cancel()
            sweep.join(timeout=2)
            if store is not None:
                store.discard_incomplete()
            raise
    return session


def _progress_line(session: Session, sweep_id: int, event: RunFinished | RunFailed) -> str:
    run = session.current.runs[event.initializer]
    head = f"rerun {sweep_id}  {event.initializer}:"
    if isinstance(event, RunFailed):
        where = log_failure(event)
        return f"{head} failed ({event.message})" + (f"; traceback in {where}" if where else "")
    finals = run.final("val_accuracy")
    tail = f", val_accuracy {sum(finals) / len(finals):.4f}" if finals else ""
    return f"{head} {run.status_text(session.config.epochs)}{tail}"
