"""The dashboard: composes the widgets, runs sweeps in worker threads, turns events into redraws."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Static

from initdash import locations, stats
from initdash.config import ExperimentConfig
from initdash.data import DEFAULT_DATA, Dataset
from initdash.errors import UserError
from initdash.events import EpochDone, Event, RunFailed
from initdash.recorder import Recorder
from initdash.session import Session
from initdash.sweep import Executor, Sweep
from initdash.ui.chart import MetricChart
from initdash.ui.help import HelpScreen
from initdash.ui.leaderboard import Leaderboard
from initdash.ui.messages import TrainingEvent

if TYPE_CHECKING:
    from initdash.store import HistoryWriter

from initdash.ui.views import (
    CurveCache,
    chart_series,
    header_text,
    leaderboard_rows,
    signal_series,
    spread_data,
    spread_lines,
)

REDRAW_INTERVAL = 0.1  # charts and table redraw at most 10 times a second, however fast events come
SWITCH_INTERVAL = 0.001  # seconds; see on_mount
MIN_WIDTH, MIN_HEIGHT = 64, 20  # below this plotext cannot draw two charts and the table legibly


class InitdashApp(App[None]):
    """initdash: live charts of every initializer's training, and a rerun key."""

    TITLE = "initdash"
    CSS_PATH = str(locations.stylesheet())
    BINDINGS = [
        Binding("r", "rerun", "Rerun", tooltip="train everything again with fresh seeds"),
        Binding("v", "toggle_val", "Val", tooltip="switch between training and validation curves"),
        Binding("l", "toggle_log", "Log", tooltip="log-scale loss axis"),
        Binding("1", "toggle_series(1)", "Curves", key_display="1-9",
                tooltip="show/hide the curves of initializer 1..9 (the # column)"),
        *[Binding(str(i), f"toggle_series({i})", f"Show/hide initializer {i}", show=False) for i in range(2, 10)],
        Binding("e", "export", "Export", tooltip="write the session as JSON and CSV (path shown)"),
        Binding("s", "screenshot", "SVG", tooltip="save a screenshot of the screen as SVG"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("q", "quit", "Quit", tooltip="stop training and quit"),
        Binding("d", "toggle_spread", "Spread", tooltip="curves / spread of final values over every run"),
        Binding("tab", "toggle_spread", "Spread", show=False, priority=True),
        Binding("m", "cycle_metric", "Metric",
                tooltip="cycle the metric of spread, rank and wins: val acc, loss, accuracy, val loss"),
        Binding("b", "toggle_band", "Band", tooltip="draw earlier sweeps' min / mean / max behind the curves"),
        Binding("g", "toggle_signal", "Signal",
                tooltip="signal view (MLPs): activation std and gradient norm against layer depth, log scale"),
        Binding("left_square_bracket", "signal_epoch(-1)", "Earlier epoch", key_display="[",
                show=False, tooltip="signal view: one epoch earlier"),
        Binding("right_square_bracket", "signal_epoch(1)", "Later epoch", key_display="]",
                show=False, tooltip="signal view: one epoch later (the latest: follow training)"),
        Binding("plus", "repeats(1)", "Seeds", key_display="+/-",
                tooltip="one more / one fewer seed per initializer from the next rerun"),
        Binding("minus", "repeats(-1)", "Fewer seeds", show=False),
    ]
    METRIC_CYCLE = ("val_accuracy", "loss", "accuracy", "val_loss")
    MAX_REPEATS = 200

    def __init__(self, config: ExperimentConfig, dataset: Dataset, session: Session | None = None,
                 start_training: bool = True, export_dir: Path | None = None, store: HistoryWriter | None = None,
                 executor: Executor | None = None) -> None:
        super().__init__()
        self.config, self.dataset = config, dataset
        self.session = session or Session(config, dataset.describe())
        # Every sweep is written to the history as it happens (store None: --no-save).
        self.recorder = Recorder(self.session, store, on_store_error=self._store_failed)
        self.executor = executor
        self.start_training = start_training
        self.export_dir = export_dir or Path.cwd()
        self.sweep: Sweep | None = None
        self.validation = False
        self.log_loss = False
        self.muted: set[str] = set()
        self.curves = CurveCache()
        self.view = "charts"  # charts, spread or signal
        self.signal_epoch: int | None = None  # None: follow the latest epoch
        self.metric = "val_accuracy"
        self.band = False
        self._dirty = True
        self._heap_frozen = False
        self._texts: dict[str, str] = {}
        self._sweep_started = 0.0
        done = len(self.session.completed())
        self._status = f"{done} sweep{'' if done == 1 else 's'} so far · r adds one" if done else ""

    # --- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="header")
        with Vertical(id="main"):
            with ContentSwitcher(initial="charts", id="views"):
                with Horizontal(id="charts"):
                    yield MetricChart("loss", id="loss-chart")
                    yield MetricChart("accuracy", id="acc-chart")
                with Vertical(id="spread"):
                    yield MetricChart("spread", id="spread-chart")
                    yield Static(id="spread-table", markup=False)
                with Horizontal(id="signal"):
                    yield MetricChart("activation std", id="act-chart")
                    yield MetricChart("gradient norm", id="grad-chart")
            yield Leaderboard(id="leaderboard")
            yield Static(id="summary", markup=False)
            yield Static(id="status", markup=False)
        yield Static(f"Terminal too small: make it at least {MIN_WIDTH}x{MIN_HEIGHT}.", id="too-small")
        yield Footer(show_command_palette=False, compact=True)

    @property
    def is_training(self) -> bool:
        """True while the current sweep's workers run."""
        current = self.session.current
        return self.sweep is not None and current is not None and not current.finished

    def on_mount(self) -> None:
        # Workers and the UI share the GIL: a shorter switch interval (5 ms by default) lets the event loop
        # get it back sooner while five workers train, at a small cost in training throughput.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.set_interval(REDRAW_INTERVAL, self.flush)
        self._fit(self.size.width, self.size.height)
        if self.start_training:
            # Start after the first frame is painted: the workers import torch, which takes seconds.
            self.call_after_refresh(self.start_sweep)
        self.flush()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)  # a process-wide setting: give it back

    def on_resize(self, event) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        self.screen.set_class(width < MIN_WIDTH or height < MIN_HEIGHT, "too-small")

    # --- training ---------------------------------------------------------------------------------
    def start_sweep(self) -> None:
        """Cancel whatever trains now and start a fresh sweep with new seeds."""
        if self.sweep is not None:
            self.sweep.cancel()
        sweep_id = self.recorder.begin_sweep(self.config)
        sweep = Sweep(self.config, self.dataset, sweep_id, self._emit, self.executor)
        self.sweep = sweep
        self._sweep_started = time.monotonic()
        self._status = f"training sweep {sweep.sweep_id}…"
        self._dirty = True
        sweep.start()
        self.flush()

    def _store_failed(self, message: str) -> None:
        """The history database failed: say so once; training goes on without saving."""
        self.notify(f"{message}: history is no longer saved", severity="error", title="History")

    def _emit(self, event: Event) -> None:
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
        self._dirty = True
        if isinstance(event, RunFailed):
            where = self.recorder.failure_logs.get((event.sweep_id, event.initializer))
            self.notify(f"{event.initializer} failed: {event.message}" + (f"\n(traceback in {where})" if where else ""),
                        severity="error")
        current = self.session.current
        if current is not None and current.finished:
            took = time.monotonic() - self._sweep_started
            self._status = f"sweep {current.sweep_id} done in {took:.1f} s"
            self.flush()  # the final picture now, not at the next tick of the 10 Hz timer

    # --- drawing ----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Redraw what changed since the last flush (called by a 10 Hz timer and after key presses)."""
        if not self._dirty:
            return
        self._dirty = False
        try:
            self._redraw()
        except (NoMatches, ScreenStackError):
            pass  # the app is shutting down: its widgets are already gone

    def _redraw(self) -> None:
        hidden = frozenset(self.muted)
        st = stats.compute(self.session, self.metric)
        if self.view == "signal":
            self._draw_signal(hidden)
        elif self.view == "spread":
            chart = self.query_one("#spread-chart", MetricChart)
            runs = sum(s.n for s in st.inits)
            chart.show_spread(spread_data(self.session, st, hidden),
                              f"final {self.metric} over {runs} runs in {st.sweeps} sweeps "
                              f"(points: runs; bars: 95% CI of the mean)", self.metric)
            self._set_text("#spread-table", "\n".join(spread_lines(st)))
        else:
            self._draw_curves(hidden)
        self.query_one(Leaderboard).show(leaderboard_rows(self.session, st, hidden), self.metric)
        self._set_text("#header", header_text(self.session, self.dataset.describe()))
        self._set_text("#summary", f"{self.metric}: {st.summary}")
        status = self._status
        if self.config.repeats != self.session.config.repeats:
            status += f" · {self.config.repeats} seeds per initializer from the next rerun (r)"
        if self.dataset.synthetic and self.config.data == DEFAULT_DATA:
            status += " · synthetic data (real file: --data FILE.csv)"
        self._set_text("#status", status)

    def _set_text(self, selector: str, text: str) -> None:
        """Update a Static only when its text changes: every update costs the screen a layout pass."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(text)

    def _draw_signal(self, hidden: frozenset[str]) -> None:
        current = self.session.current
        depth = max((len(g.layer_names) for g in current.initializers.values()), default=0) if current else 0
        for metric, chart_id, what in (("activation_std", "#act-chart", "activation std"),
                                       ("grad_norm", "#grad-chart", "grad norm")):
            chart = self.query_one(chart_id, MetricChart)
            if not depth:  # the lesson's model has no hidden layer to look into
                chart.show([], "one layer: nothing to compare across depth (try --preset deep-relu)", what, 1,
                           xlabel="")
                continue
            epoch, series = signal_series(self.session, metric, hidden, self.signal_epoch)
            title = f"{what} by layer · epoch {epoch}" if epoch >= 0 else f"{what} by layer"
            chart.show(series, title, what, depth, log=True, xlabel="layer", xmin=1)

    def _draw_curves(self, hidden: frozenset[str]) -> None:
        prefix = "val_" if self.validation else ""
        which = "validation" if self.validation else "training"
        epochs = self.session.config.epochs
        loss_chart = self.query_one("#loss-chart", MetricChart)
        acc_chart = self.query_one("#acc-chart", MetricChart)
        limit = max(loss_chart.size.width, 20)
        band = " + earlier sweeps" if self.band and len(self.session.completed()) > 1 else ""
        loss_chart.show(chart_series(self.session, prefix + "loss", hidden, self.band, limit, self.curves),
                        f"{which} loss" + (" (log)" if self.log_loss else "") + band, "loss", epochs,
                        log=self.log_loss)
        acc_chart.show(chart_series(self.session, prefix + "accuracy", hidden, self.band, limit, self.curves),
                       f"{which} accuracy", "accuracy", epochs, ylim=(0.0, 1.0))

    def _changed(self) -> None:
        self._dirty = True
        self.flush()

    # --- actions ----------------------------------------------------------------------------------
    def action_rerun(self) -> None:
        """Train everything again with fresh seeds."""
        self.start_sweep()

    def action_toggle_val(self) -> None:
        """Switch the charts between training and validation curves."""
        self.validation = not self.validation
        self._changed()

    def action_toggle_log(self) -> None:
        """Switch the loss chart between a linear and a log scale."""
        self.log_loss = not self.log_loss
        self._changed()

    def action_toggle_series(self, index: int) -> None:
        """Show or hide the curves of the index-th initializer."""
        labels = self.session.labels()
        if not 1 <= index <= len(labels):
            self.bell()
            return
        self.muted ^= {labels[index - 1]}
        self._changed()

    def _switch(self, view: str) -> None:
        self.view = "charts" if self.view == view else view
        self.query_one("#views", ContentSwitcher).current = self.view
        self.screen.set_class(self.view == "spread", "spread-view")
        self._changed()

    def action_toggle_spread(self) -> None:
        """Switch between the curves and the spread of final values over every run."""
        self._switch("spread")

    def action_toggle_signal(self) -> None:
        """Switch between the curves and the signal view (activation std and gradient norm by layer)."""
        self._switch("signal")

    def action_cycle_metric(self) -> None:
        """Cycle the metric that the spread, the ranks and the wins are about."""
        cycle = self.METRIC_CYCLE
        self.metric = cycle[(cycle.index(self.metric) + 1) % len(cycle)]
        self.notify(f"spread, rank and wins now by final {self.metric}", timeout=2)
        self._changed()

    def action_toggle_band(self) -> None:
        """Draw (or stop drawing) the spread of earlier sweeps behind the current curves."""
        self.band = not self.band
        if self.band and len(self.session.completed()) < 2:
            self.notify("the band shows earlier sweeps: press r to make some", timeout=3)
        self._changed()

    def action_signal_epoch(self, step: int) -> None:
        """Show the signal view at an earlier or later epoch (past the latest: follow training again)."""
        latest, _ = signal_series(self.session, "activation_std", frozenset(self.muted))
        if latest < 0:
            self.bell()
            return
        shown = latest if self.signal_epoch is None else min(self.signal_epoch, latest)
        wanted = shown + step
        self.signal_epoch = None if wanted >= latest else max(wanted, 0)
        self._changed()

    def action_repeats(self, step: int) -> None:
        """One more (or fewer) seed per initializer, from the next rerun on."""
        repeats = min(max(self.config.repeats + step, 1), self.MAX_REPEATS)
        if repeats == self.config.repeats:
            self.bell()
            return
        self.config = self.config.with_changes(repeats=repeats)
        self._changed()

    def action_export(self) -> None:
        """Write the whole session as JSON and CSV; show where."""
        from initdash import report

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        paths = []
        try:
            for ext in ("json", "csv"):
                paths += report.write(self.session, self.export_dir / f"initdash-{stamp}.{ext}")
        except UserError as exc:
            self.notify(str(exc), severity="error", title="Export failed")
            return
        self._status = f"exported {paths[0]} and {', '.join(p.name for p in paths[1:])}"
        self.notify("\n".join(map(str, paths)), title="Exported")
        self._changed()

    def action_screenshot(self) -> None:
        """Save what the screen shows as an SVG file."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            path = self.save_screenshot(f"initdash-{stamp}.svg", path=str(self.export_dir))
        except OSError as exc:
            self.notify(f"cannot save screenshot: {exc.strerror or exc}", severity="error")
            return
        self._status = f"screenshot {path}"
        self.notify(path, title="Screenshot saved")
        self._changed()

    def action_help(self) -> None:
        """Show the keys and what initdash does."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen([b for b in self.BINDINGS if b.show or b.tooltip]))

    async def action_quit(self) -> None:
        """Stop training and leave."""
        if self.sweep is not None:
            self.sweep.cancel()
        self.recorder.end_sweep("interrupted")  # what finished is kept; the sweep is marked as cut short
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if b.show or b.tooltip:
                yield SystemCommand(b.tooltip or b.description, f"key {b.key_display or b.key}",
                                    lambda action=b.action: self.run_action(action))

