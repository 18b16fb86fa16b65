"""The dashboard: runs sweeps in worker threads and turns their events into Session updates; the main view
(MainScreen) shows the Session.

The first frame is painted before anything heavy loads: built-in data, numpy, scikit-learn and torch load in
worker threads afterwards.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import Notify, SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen

from initdash import locations
from initdash.config import ExperimentConfig
from initdash.data import DEFAULT_DATA, Dataset, Described
from initdash.errors import UserError, first_line
from initdash.events import FAILED, EpochDone, UnitFailed
from initdash.experiment import Experiment
from initdash.failures import log_text
from initdash.labels import short_labels
from initdash.limits import MAX_DASHBOARD_REPEATS
from initdash.progress import Eta, epochs_done
from initdash.recorder import Recorder
from initdash.session import SWEEP_CANCELLED, SWEEP_INTERRUPTED, Session
from initdash.store.queued import QueuedWriter
from initdash.sweep import Executor, Sweep
from initdash.tables import plural
from initdash.text import safe
from initdash.ui.help import HelpScreen
from initdash.ui.main_screen import MainScreen
from initdash.ui.messages import DataLoaded, SweepReserved, TrainingEvent
from initdash.ui.views import wrap_path

if TYPE_CHECKING:
    from initdash.store import HistoryWriter

SWITCH_INTERVAL = 0.001  # seconds; see on_mount


class InitdashApp(App[int]):
    """initdash: live charts of every initializer's training, and a rerun key."""

    TITLE = "initdash"
    CSS_PATH = str(locations.stylesheet())
    BINDINGS = [
        Binding("r", "rerun", "Rerun", tooltip="train everything again with fresh seeds"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="every key, and what initdash shows"),
        Binding("q", "quit", "Quit", tooltip="stop training and quit (what finished is kept)"),
        Binding("e", "export", "Export", show=False, tooltip="write the session as JSON and CSV (paths shown)"),
        Binding("s", "screenshot", "Screenshot", show=False, tooltip="save what the screen shows as an SVG file"),
        Binding("plus", "repeats(1)", "More seeds", key_display="+", show=False,
                tooltip="one more seed per initializer from the next rerun"),
        Binding("minus", "repeats(-1)", "Fewer seeds", key_display="-", show=False,
                tooltip="one fewer seed per initializer from the next rerun"),
    ]

    next_repeats = reactive(1, init=False)  # seeds per initializer of the next sweep (+/-)

    def __init__(self, config: ExperimentConfig, data: Described, session: Session | None = None,
                 start_training: bool = True, export_dir: Path | None = None, store: HistoryWriter | None = None,
                 executor: Executor | None = None, notes: Iterable[str] = (),
                 experiment: Experiment | None = None) -> None:
        super().__init__()
        self.session = session or Session(config, data.describe())
        # An executor this app connects itself (no experiment given, as in tests) is this app's to close.
        self._owns_executor = experiment is None and executor is None
        if experiment is None:
            experiment = Experiment(config, data, store, self.session, None, list(notes))
            experiment.executor = executor
        # The one owner of the slow parts: it loads the data and connects the executor (in a worker, here).
        self.experiment = experiment
        self.session.config = config  # the one config: what the next sweep trains (repeats via +/-)
        self.data = data
        # Every sweep is written to the history as it happens (store None: --no-save), from a writer thread: a
        # database that another process holds never freezes the keys.
        self.history = QueuedWriter(store, on_error=self._history_failed) if store is not None else None
        self.recorder = Recorder(self.session, self.history, on_store_error=self._store_failed, sink=experiment.sink)
        self._reservation = 0  # presses of r so far: a sweep id reserved for an older one is given back
        if experiment.sink is not None:
            experiment.sink.on_error = self._tensorboard_failed
        self.start_training = start_training
        self.export_dir = export_dir or Path.cwd()
        self.notes = tuple(notes)
        self.fatal = ""  # why the dashboard had to stop (said in one line by the command line)
        self.sweep: Sweep | None = None
        self._loading = False
        self._heap_frozen = False
        self._sweep_started = 0.0
        self._eta: Eta | None = None  # the running sweep's epochs done, elapsed and time left
        self._activity = ""  # what training does now, for the status line
        self.main = MainScreen(self.session, data, self.notes)
        self.set_reactive(InitdashApp.next_repeats, config.repeats)

    def get_default_screen(self) -> Screen:
        return self.main

    def on_mount(self) -> None:
        # Workers and the UI share the GIL: a shorter switch interval (5 ms by default) lets the event loop
        # get it back sooner while workers train, at a small cost in training throughput.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        done = len(self.session.completed())
        self._show_activity(f"{plural(done, 'sweep')} so far · r adds one" if done else "")
        if self.start_training:
            # Start after the first frame is painted: data and torch load in worker threads, taking seconds.
            self.call_after_refresh(self.start_sweep)

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)  # a process-wide setting: give it back
        if self.history is not None:
            self.history.stop()  # every queued write lands before the owner of the database closes it
        if self._owns_executor and self.experiment.executor is not None:
            self.experiment.executor.close()  # its worker processes end with the app

    # --- training ---------------------------------------------------------------------------------
    def start_sweep(self) -> None:
        """Cancel whatever trains now and start a fresh sweep with new seeds (once the data is loaded)."""
        if not isinstance(self.experiment.data, Dataset) or self.experiment.executor is None:
            self._load_data()
            return
        if self.sweep is not None:
            self.sweep.cancel()
        self.recorder.end_sweep(SWEEP_CANCELLED)
        # The signal view shows per-layer statistics: the dashboard records them whatever the settings say.
        config = self.session.config.with_changes(repeats=self.next_repeats, layer_stats=True)
        self._reservation += 1
        if self.history is None:  # nothing to wait for
            self._begin_sweep(config, self.recorder.reserve_sweep(config))
            return
        token, recorder = self._reservation, self.recorder
        self._show_activity("starting a sweep…")

        def reserve() -> None:  # the history hands out the id; it may wait on another process's lock
            try:
                sweep_id = recorder.reserve_sweep(config)
            except Exception as exc:  # a bug in the history: never "starting a sweep…" forever
                log_text(f"reserving a sweep: {traceback.format_exc()}")
                recorder.store_failed(first_line(exc))  # said once; the sweep trains, unsaved
                sweep_id = recorder.reserve_sweep(config)  # without the store: the next id of the session
            self.post_message(SweepReserved(token, sweep_id, config))

        threading.Thread(target=reserve, name="reserve-sweep", daemon=True).start()

    def on_sweep_reserved(self, message: SweepReserved) -> None:
        if message.token != self._reservation:
            self.recorder.forget_sweep(message.sweep_id)  # r was pressed again meanwhile
            return
        self._begin_sweep(message.config, message.sweep_id)

    def _begin_sweep(self, config: ExperimentConfig, sweep_id: int) -> None:
        self.recorder.begin_sweep(config, sweep_id)
        self.sweep = Sweep(config, self.experiment.data, sweep_id, self._emit, self.experiment.executor)
        self._sweep_started = time.monotonic()
        self._eta = Eta(len(self.session.labels()) * config.epochs)  # a grid: every cell's epochs
        self.main.progress = self._eta.times()
        self._show_activity(f"training sweep {sweep_id}…")
        self.main.live = True
        self.sweep.start()
        self.main.redraw()

    def _load_data(self) -> None:
        """Load the built-in data set (and connect the executor) in a worker thread, after the first frame;
        the first sweep starts when both are there."""
        if self._loading:
            return
        self._loading = True
        experiment = self.experiment
        connected = experiment.executor is not None
        self._show_activity("loading data…" if connected else f"connecting to {experiment.config.executor}…")

        def load() -> None:
            try:
                experiment.connect()
            except UserError as exc:
                self.post_message(DataLoaded(str(exc), fatal=True))
                return
            except Exception as exc:  # a bug: said by the command line and logged, never "connecting…" forever
                log_text(f"connecting the executor: {traceback.format_exc()}")  # before the app exits
                self.post_message(DataLoaded(first_line(exc), fatal=True))
                return
            try:
                experiment.ready()
                self.post_message(DataLoaded())
            except UserError as exc:
                self.post_message(DataLoaded(str(exc)))
            except Exception as exc:  # a bug: said on screen and logged, never "loading data…" forever
                self.post_message(DataLoaded(first_line(exc)))
                log_text(f"loading the data: {traceback.format_exc()}")

        threading.Thread(target=load, name="load-data", daemon=True).start()

    def on_data_loaded(self, message: DataLoaded) -> None:
        self._loading = False
        if message.fatal:
            self.fatal = message.error
            self.exit(return_code=2)
            return
        if message.error:
            self._show_activity(f"cannot load the data: {message.error}")
            self.notify(message.error, severity="error", title="Data", timeout=10)
            return
        self.start_sweep()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """A toast (one at a time, see on_notify); its text (file names, a model's messages) is data: shown as
        written, never as markup."""
        super().notify(safe(message, lines=True), title=safe(title), severity=severity, timeout=timeout,
                       markup=markup)

    def on_notify(self, message: Notify) -> None:
        """A toast arrives (before Textual's own handler shows it): it replaces the information toasts on screen
        (four presses of m leave one, not four), never a warning or an error (a unit's failure with its
        traceback's path, the history no longer saved) but one of its own title. Done here, in the order the
        toasts were asked for, not when asked: a toast asked for earlier may still be on its way."""
        new = message.notification
        for shown in list(self._notifications):
            if shown.identity == new.identity:
                continue
            if shown.severity == "information" or (new.severity != "information" and shown.title == new.title):
                self._unnotify(shown, refresh=False)  # Textual's handler refreshes the toasts next

    def _store_failed(self, message: str) -> None:
        """The history database failed: say so once; training goes on without saving."""
        if threading.current_thread() is not threading.main_thread():  # reserving a sweep's id failed
            self.call_from_thread(self._store_failed, message)
            return
        self.notify(f"{message}: history is no longer saved", severity="error", title="History", timeout=10)

    def _history_failed(self, message: str) -> None:
        """The history's writer thread failed: the recorder lets the store go, and says so once (UI thread)."""
        try:
            self.call_from_thread(self.recorder.store_failed, message)
        except RuntimeError:  # the app is not running (any more): nothing to show it on
            self.recorder.store_error = self.recorder.store_error or message

    def _tensorboard_failed(self, message: str) -> None:
        """The TensorBoard writer failed (on its own thread): say so once; training goes on."""
        try:
            self.call_from_thread(self.notify, f"{message}: TensorBoard files are no longer written",
                                  severity="error", title="TensorBoard")
        except RuntimeError:  # the app is not running (any more)
            pass

    def _emit(self, event) -> None:
        # Called on worker threads: post_message is thread-safe and never blocks the worker.
        self.post_message(TrainingEvent(event))

    def on_training_event(self, message: TrainingEvent) -> None:
        event = message.event
        if not self._heap_frozen and isinstance(event, EpochDone):
            # torch is loaded now: move the ~million objects of the libraries out of the garbage
            # collector's sight, or every full collection stops the UI for ~100 ms (measured).
            gc.freeze()
            self._heap_frozen = True
        if not self.recorder.apply(event):
            return  # from a sweep that a rerun replaced
        self.main.data_changed()
        current = self.session.current
        if isinstance(event, EpochDone) and self._eta is not None and current is not None and not current.finished:
            self._eta.update(epochs_done(current, self.session.config.epochs))
            self._activity = f"training sweep {current.sweep_id} · {self._eta.done}/{self._eta.total} epochs"
            # Quietly: header and status are painted with the data at the next tick, not one redraw per epoch.
            self.main.progress = self._eta.times()
            self.main.set_reactive(MainScreen.status, self._status_text())
        if isinstance(event, UnitFailed):
            where = self.recorder.failure_logs.get((event.sweep_id, event.initializer))
            self.notify(f"{event.initializer} failed: {event.message}" + (f"\n(traceback in {where})" if where else ""),
                        severity="error", timeout=8)
        current = self.session.current
        if current is not None and current.finished:
            took = time.monotonic() - self._sweep_started
            failed = [g.label for g in current.initializers.values() if g.state == FAILED]
            if len(failed) == len(current.initializers):
                text = f"sweep {current.sweep_id}: every initializer failed (see the log)"
            else:
                text = f"sweep {current.sweep_id} done in {took:.1f} s" + (
                    f" · failed: {', '.join(failed)}" if failed else "")
            self.main.progress = ""
            self._show_activity(text)
            self.main.live = False  # and the final picture now, not at the next tick

    def _show_activity(self, text: str) -> None:
        """The status line: what training does, and what the next sweep will change."""
        self._activity = text
        self.main.status = self._status_text()

    def _status_text(self) -> str:
        parts = [self._activity] if self._activity else []
        current = self.session.current
        shown = len(next(iter(current.initializers.values())).seeds) if current is not None else 0
        if self.next_repeats != (shown or self.session.config.repeats):
            parts.append(f"{self.next_repeats} seeds per initializer from the next rerun (r)")
        if self.data.synthetic and self.session.config.data == DEFAULT_DATA:
            parts.append("synthetic data (real file: --data FILE.csv)")
        return " · ".join(parts)

    def watch_next_repeats(self) -> None:
        self._show_activity(self._activity)

    # --- actions ----------------------------------------------------------------------------------
    def action_rerun(self) -> None:
        """Train everything again with fresh seeds."""
        self.start_sweep()

    def action_repeats(self, step: int) -> None:
        """One more (or fewer) seed per initializer, from the next rerun on."""
        repeats = min(max(self.next_repeats + step, 1), MAX_DASHBOARD_REPEATS)
        if repeats == self.next_repeats:
            self.bell()
            return
        self.next_repeats = repeats

    def action_export(self) -> None:
        """Write the whole session as JSON and CSV; show where."""
        from initdash.export import json_csv

        stem = self._fresh_stem(("json", "csv", "layers.csv"))
        paths = []
        try:
            for ext in ("json", "csv"):
                paths += json_csv.write(self.session, self.export_dir / f"{stem}.{ext}")
        except UserError as exc:
            self.notify(str(exc), severity="error", title="Export failed", timeout=8)
            return
        self._show_activity(f"exported {', '.join(p.name for p in paths)}")  # the toast has the whole paths
        self._toast_paths("Exported", [str(p) for p in paths])

    def action_screenshot(self) -> None:
        """Save what the screen shows as an SVG file."""
        try:
            path = self.save_screenshot(f"{self._fresh_stem(('svg',))}.svg", path=str(self.export_dir))
        except OSError as exc:
            self.notify(f"cannot save screenshot: {exc.strerror or exc}", severity="error", timeout=8)
            return
        self._show_activity(f"screenshot {path}")
        self._toast_paths("Screenshot saved", [path])

    def _toast_paths(self, title: str, paths: list[str]) -> None:
        """Files written, whole: each path broken after a `/` to the toast's width (never inside a name)."""
        width = max(min(self.size.width // 2, 60) - 4, 20)  # Textual's toast: 60 wide at most, half the screen
        self.notify("\n".join(wrap_path(p, width) for p in paths), title=title, timeout=5)

    def _fresh_stem(self, suffixes: tuple[str, ...]) -> str:
        """initdash-DATE-TIME, with -2, -3, ... when a file of that name exists (two presses in one second)."""
        stem = f"initdash-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        for n in range(1, 1000):
            name = stem if n == 1 else f"{stem}-{n}"
            if not any((self.export_dir / f"{name}.{s}").exists() for s in suffixes):
                return name
        return f"{stem}-{time.monotonic_ns()}"

    def _bindings_for_help(self) -> list[Binding]:
        return [b for b in (*self.BINDINGS[:1], *MainScreen.BINDINGS, *self.BINDINGS[1:]) if b.tooltip]

    def action_help(self) -> None:
        """Show the keys and what initdash does."""
        if not isinstance(self.screen, HelpScreen):
            short = short_labels(self.session.config.initializers)
            inits = [(short[s.label], s.label) for s in self.session.config.initializers]
            self.push_screen(HelpScreen(self._bindings_for_help(), inits))

    async def action_quit(self) -> None:
        """Stop training and leave; what finished is kept, the sweep in training is marked interrupted."""
        if self.sweep is not None:
            self.sweep.cancel()
        self.recorder.end_sweep(SWEEP_INTERRUPTED)
        self.exit(0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key's action by name (its description, then what it does), and Textual's own (theme, keys)."""
        mine = {"Quit", "Screenshot"}  # Textual's own of these are ours below
        yield from (c for c in super().get_system_commands(screen) if c.title not in mine)
        for b in self._bindings_for_help():
            if b.action.startswith("mute(") or b.key == "tab":
                continue
            target = self.main if b in MainScreen.BINDINGS else self
            yield SystemCommand(b.description, f"{b.tooltip} (key {b.key_display or b.key})",
                                lambda action=b.action, target=target: target.run_action(action))
        short = short_labels(self.session.config.initializers)
        for i, label in enumerate(self.main.shown.labels()[:9], start=1):  # what the digit keys mute (a grid: its
            # initializers at the shown cell, not the cells)
            yield SystemCommand(f"Mute {short.get(label, label)}", f"mute/unmute the curves of {label} (key {i})",
                                lambda i=i: self.main.run_action(f"mute({i})"))

