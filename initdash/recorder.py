"""The life of a sweep, written once: begin it, apply each event, save it, log failures, end it.

The dashboard, the headless mode and the tests all record through a Recorder, so the Session they show and
the history they save can never disagree: the store keeps the very events that the Session accepted, and
rebuilds a Session by replaying them through Session.apply. A sink (TensorBoard event files) gets the same
accepted events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from initdash.config import ExperimentConfig
from initdash.errors import UserError
from initdash.events import Event, UnitFailed
from initdash.failures import log_failure
from initdash.session import COMPLETE, SWEEP_CANCELLED, SWEEP_RUNNING, Session, SweepState


class SweepWriter(Protocol):
    """What the recorder needs of a history store (initdash.store.HistoryWriter)."""

    path: Path
    session_id: int | None

    def begin_sweep(self, config: ExperimentConfig, at_least: int = 1) -> int: ...

    def append(self, sweep_id: int, event: Event) -> None: ...

    def end_sweep(self, sweep_id: int, state: SweepState) -> None: ...


class EventSink(Protocol):
    """Another output of the accepted events (initdash.export.tensorboard.TensorBoardSink): it must return at
    once (it is called on the UI thread) and never raise."""

    def accept(self, event: Event, config: ExperimentConfig, data_label: str) -> None: ...

    def end_sweep(self, sweep_id: int, statuses: dict[str, list[str]]) -> None: ...


class Recorder:
    """Turns a worker's events into Session updates and history writes, for every caller alike.

    A store that fails (a full disk, a locked file) is reported once through `on_store_error` and then left
    alone: training goes on, and the Session keeps everything.
    """

    def __init__(self, session: Session, store: SweepWriter | None = None,
                 on_failure: Callable[[UnitFailed], Path | None] = log_failure,
                 on_store_error: Callable[[str], None] | None = None, sink: EventSink | None = None) -> None:
        self.session, self.store, self.sink = session, store, sink
        self.on_failure, self.on_store_error = on_failure, on_store_error
        self.store_error: str | None = None  # set once the store failed
        self.failure_logs: dict[tuple[int, str], Path | None] = {}  # where each failed worker's traceback went
        self.last_id = 0  # sweep ids only grow, even past sweeps that recorded nothing and were forgotten

    def begin_sweep(self, config: ExperimentConfig | None = None, sweep_id: int | None = None) -> int:
        """Start a new sweep (ending the current one as cancelled if it still trains); returns its id.

        `sweep_id`: one that reserve_sweep() handed out (the dashboard reserves off its event loop).
        """
        config = config or self.session.config
        self.end_sweep(SWEEP_CANCELLED)
        if sweep_id is None:
            sweep_id = self.reserve_sweep(config)
        self.session.begin_sweep(sweep_id, config)
        self.last_id = max(self.last_id, sweep_id)
        return sweep_id

    def reserve_sweep(self, config: ExperimentConfig | None = None) -> int:
        """The id of the next sweep. With a store, the store hands it out (another process may be adding sweeps
        to the same session), which may wait on the database: the dashboard calls this from a worker thread."""
        config = config or self.session.config
        sweep_id = max(self.session.next_sweep_id, self.last_id + 1)
        if self.store is not None:
            sweep_id = self._save(lambda s: s.begin_sweep(config, at_least=sweep_id), default=sweep_id)
        self.last_id = max(self.last_id, sweep_id)
        return sweep_id

    def forget_sweep(self, sweep_id: int) -> None:
        """A reserved sweep that never began (a newer one replaced it first): the store drops it."""
        self._save(lambda s: s.end_sweep(sweep_id, SWEEP_CANCELLED))

    def apply(self, event: Event) -> bool:
        """Record one event; False when it belongs to a sweep that was replaced or ended (nothing changes)."""
        if not self.session.apply(event):
            return False
        self._save(lambda s: s.append(event.sweep_id, event))
        if self.sink is not None:
            self.sink.accept(event, self.session.config, self.session.data_label)
        if isinstance(event, UnitFailed):
            self.failure_logs[(event.sweep_id, event.initializer)] = self.on_failure(event)
        current = self.session.current
        if current is not None and current.state == COMPLETE:
            self._save(lambda s: s.end_sweep(current.sweep_id, COMPLETE))
        return True

    def end_sweep(self, state: SweepState) -> None:
        """The current sweep stops early (cancelled by a rerun, interrupted by q or a signal), if it trains.

        The store ends it too; one that recorded no event at all it forgets.
        """
        current = self.session.current
        if current is None or current.state != SWEEP_RUNNING:
            return
        sweep_id = current.sweep_id
        ended = self.session.end_current(state)
        self._save(lambda s: s.end_sweep(sweep_id, state))
        if self.sink is not None and ended is not None:
            self.sink.end_sweep(sweep_id, {label: list(u.statuses) for label, u in ended.initializers.items()})

    def store_failed(self, message: str) -> None:
        """The store failed (said by it, maybe from its writer thread): reported once, then left alone."""
        if self.store_error is not None:
            return
        self.store_error, self.store = message, None
        if self.on_store_error is not None:
            self.on_store_error(message)

    def _save(self, write: Callable[[SweepWriter], object], default: object = None):
        store = self.store  # read once: a writer thread may drop the store meanwhile
        if store is None:
            return default
        try:
            return write(store)
        except (UserError, OSError) as exc:
            self.store_failed(str(exc))
            return default
