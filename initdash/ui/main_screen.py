"""The main view: live charts, the spread and signal views, the leaderboard, one summary line.

Everything it shows is a view of the Session it is given; its own state (which view, which metric, muted
curves, ...) is Textual reactive attributes whose watchers redraw. Training events only mark the data stale:
a 10 Hz timer redraws then, however fast they come. Statistics across sweeps need scipy, so they are
computed off the UI thread and shown when ready.
"""

from __future__ import annotations

import os
import threading
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Static

from initdash import grid, stats
from initdash.data import Described
from initdash.errors import first_line
from initdash.events import Metric
from initdash.labels import short_labels, shorten_labels
from initdash.session import Session
from initdash.tables import plural
from initdash.text import one_line, safe
from initdash.ui.chart import MetricChart
from initdash.ui.grid_view import grid_best_line, grid_point_name
from initdash.ui.leaderboard import SHORT, Leaderboard
from initdash.ui.messages import StatsReady
from initdash.ui.palette import BAND_MARKER
from initdash.ui.signal_draw import draw_signal
from initdash.ui.views import (
    CurveCache,
    chart_series,
    header_text,
    leaderboard_rows,
    signal_series,
    spread_data,
    spread_lines,
)

View = Literal["curves", "spread", "signal", "grid"]
METRIC_CYCLE: tuple[Metric, ...] = ("val_accuracy", "loss", "accuracy", "val_loss")
REDRAW_INTERVAL = 0.1  # charts and table redraw at most 10 times a second, however fast events come
MIN_WIDTH, MIN_HEIGHT = 64, 20  # below this plotext cannot draw two charts and the table legibly


class MainScreen(Screen[None]):
    """Curves / spread / signal of a Session, its leaderboard and a summary line."""

    # The footer shows the keys one needs first (it fits 80 columns); help and the palette list every key.
    BINDINGS = [
        Binding("v", "toggle('validation')", "Val", tooltip="switch between training and validation curves"),
        Binding("d", "switch('spread')", "Spread", tooltip="curves / spread of final values over every run"),
        Binding("tab", "switch('spread')", "Spread", key_display="tab", show=False, priority=True,
                tooltip="the same as d"),
        Binding("g", "switch('signal')", "Signal",
                tooltip="signal view: activation std and gradient norm against layer depth, log scale"),
        Binding("h", "switch('grid')", "Grid", show=False,
                tooltip="grid view: the final metric of every cell of a --lr / --width grid"),
        Binding("w", "toggle('width_mode')", "Width mode", show=False,
                tooltip="signal view: every layer's activation std against width, log-log (mup's coordinate check)"),
        Binding("left", "move_point(-1, 0)", "Lower lr", show=False, priority=True,
                tooltip="grid: the curves, leaderboard and spread show the cell of the learning rate before, in "
                        "--lr's order"),
        Binding("right", "move_point(1, 0)", "Higher lr", show=False, priority=True,
                tooltip="grid: the cell of the learning rate after, in --lr's order"),
        Binding("up", "move_point(0, -1)", "Narrower", show=False, priority=True,
                tooltip="grid: the cell of the width before, in --width's order"),
        Binding("down", "move_point(0, 1)", "Wider", show=False, priority=True,
                tooltip="grid: the cell of the width after, in --width's order"),
        Binding("m", "cycle_metric", "Metric",
                tooltip="cycle the metric of spread, rank and wins: val acc, loss, accuracy, val loss"),
        Binding("l", "toggle('log_loss')", "Log scale", show=False, tooltip="log-scale loss axis"),
        Binding("b", "toggle('band')", "Band", show=False,
                tooltip="draw earlier sweeps' min / mean / max behind the curves"),
        Binding("1", "mute(1)", "Mute", key_display="1-9", show=False,
                tooltip="mute/unmute the curves of initializer 1..9 (the # column shows their colour and marker)"),
        *[Binding(str(i), f"mute({i})", f"Mute initializer {i}", show=False) for i in range(2, 10)],
        Binding("left_square_bracket", "signal_epoch(-1)", "Earlier epoch", key_display="[", show=False,
                tooltip="signal view: one epoch earlier"),
        Binding("right_square_bracket", "signal_epoch(1)", "Later epoch", key_display="]", show=False,
                tooltip="signal view: one epoch later (the latest: follow training)"),
    ]

    validation = reactive(False, init=False)
    log_loss = reactive(False, init=False)
    band = reactive(False, init=False)
    view: reactive[View] = reactive("curves", init=False)
    metric: reactive[Metric] = reactive("val_accuracy", init=False)
    muted: reactive[frozenset[str]] = reactive(frozenset(), init=False)
    signal_epoch: reactive[int | None] = reactive(None, init=False)  # None: follow the latest epoch
    width_mode = reactive(False, init=False)  # the signal view draws activation std against width
    point: reactive[tuple[float, int | None] | None] = reactive(None, init=False)  # a grid's shown (lr, width)
    status = reactive("", init=False)  # fed by the app: what training is doing
    live = reactive(False, init=False)  # fed by the app: a sweep is training

    def __init__(self, session: Session, data: Described, notes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.session, self.data, self.notes = session, data, notes
        self.progress = ""  # the running sweep's elapsed time and ETA (set by the app; painted with the data)
        self.curves = CurveCache()
        self._stale = True  # new training data since the last redraw
        self._texts: dict[str, str | Text] = {}
        self._stats: dict[tuple, stats.SessionStats] = {}
        self._stats_failed: dict[tuple, str] = {}  # key -> why: said, and not tried again for the same sweeps
        self._computing: tuple | None = None
        if grid.is_grid(session.config):
            self.set_reactive(MainScreen.point, (grid.lr_axis(session.config)[0], grid.width_axis(session.config)[0]))

    # --- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="header", markup=False)
        with Vertical(id="main"):
            with ContentSwitcher(initial="curves", id="views"):
                with Horizontal(id="curves"):
                    yield MetricChart("loss", id="loss-chart")
                    yield MetricChart("accuracy", id="acc-chart")
                with Vertical(id="spread"):
                    yield MetricChart("spread", id="spread-chart")
                    yield Static(id="spread-table", markup=False)
                with Vertical(id="signal"):
                    with Horizontal(id="signal-charts"):
                        yield MetricChart("activation std", id="act-chart")
                        yield MetricChart("gradient norm", id="grad-chart")
                    yield Static(id="signal-note", markup=False)
                with Vertical(id="grid"):
                    yield MetricChart("grid", id="grid-chart")
                    yield Static(id="grid-table", markup=False)
            yield Leaderboard(id="leaderboard", no_color=bool(os.environ.get("NO_COLOR")))
            yield Static(id="summary", markup=False)
            yield Static(id="status", markup=False)
        yield Static(f"Terminal too small: make it at least {MIN_WIDTH}x{MIN_HEIGHT}.", id="too-small")
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.set_interval(REDRAW_INTERVAL, self._tick)
        self._fit(self.app.size.width, self.app.size.height)
        self.redraw()

    def on_resize(self, event) -> None:
        self._fit(event.size.width, event.size.height)
        self.redraw()  # the header and the spread table fit themselves to the width

    def _fit(self, width: int, height: int) -> None:
        self.set_class(width < MIN_WIDTH or height < MIN_HEIGHT, "too-small")

    # --- state ------------------------------------------------------------------------------------
    def data_changed(self) -> None:
        """New training events: redraw at the next tick."""
        self._stale = True

    def _tick(self) -> None:
        if self._stale:
            self.redraw()

    def watch_view(self, view: View) -> None:
        self.query_one("#views", ContentSwitcher).current = view
        self.set_class(view in ("spread", "grid"), "spread-view")
        self.redraw()

    def watch_live(self, live: bool) -> None:
        for chart in self.query(MetricChart):
            chart.live = live
        self.redraw()

    def _redraw_on_change(self, *_: object) -> None:
        self.redraw()

    watch_validation = watch_log_loss = watch_muted = watch_signal_epoch = watch_status = _redraw_on_change
    watch_point = _redraw_on_change

    def watch_width_mode(self, on: bool) -> None:
        self.set_class(on, "width-mode")
        self.redraw()

    @property
    def shown(self) -> Session:
        """What the curves, leaderboard, spread and signal views show: the session, or a grid's selected point
        (its cells under their initializers' labels: statistics compare the initializers there)."""
        if self.point is None or not grid.is_grid(self.session.config):
            return self.session
        from initdash.grid_table import point_session

        return point_session(self.session, *self.point)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The arrow keys pick a grid's cell only in a grid session (elsewhere they stay the widgets')."""
        if action == "move_point":
            return self.point is not None
        return True

    def action_move_point(self, d_lr: int, d_width: int) -> None:
        """Show the neighbouring cell of the grid (clamped at its edges)."""
        if self.point is None:
            return
        lrs, widths = grid.lr_axis(self.session.config), grid.width_axis(self.session.config)
        i = min(max(lrs.index(self.point[0]) + d_lr, 0), len(lrs) - 1)
        j = min(max(widths.index(self.point[1]) + d_width, 0), len(widths) - 1)
        if (lrs[i], widths[j]) == self.point:
            self.app.bell()
            return
        self.point = (lrs[i], widths[j])  # the header names it

    def watch_metric(self, metric: Metric) -> None:
        self.app.notify(f"spread, rank and wins now by final {metric}", timeout=2)
        self.redraw()

    # --- actions ----------------------------------------------------------------------------------
    def action_mute(self, index: int) -> None:
        """Mute or unmute the curves of the index-th initializer."""
        labels = self.shown.labels()
        if not 1 <= index <= len(labels):
            self.app.bell()
            return
        self.muted = self.muted ^ {labels[index - 1]}

    def action_switch(self, view: View) -> None:
        """Switch between the curves and another view (pressing its key again goes back)."""
        self.view = "curves" if self.view == view else view

    def action_cycle_metric(self) -> None:
        """Cycle the metric that the spread, the ranks and the wins are about."""
        self.metric = METRIC_CYCLE[(METRIC_CYCLE.index(self.metric) + 1) % len(METRIC_CYCLE)]

    def action_signal_epoch(self, step: int) -> None:
        """Show the signal view at an earlier or later epoch (past the latest: follow training again)."""
        latest, _ = signal_series(self.shown, "activation_std", self.muted)
        if latest < 0:
            self.app.bell()
            return
        shown = latest if self.signal_epoch is None else min(self.signal_epoch, latest)
        wanted = shown + step
        self.signal_epoch = None if wanted >= latest else max(wanted, 0)

    def watch_band(self, band: bool) -> None:
        if band and len(self.session.completed()) < 2:
            self.app.notify("the band shows earlier sweeps: press r to make some", timeout=3)
        self.redraw()

    # --- statistics, off the UI thread --------------------------------------------------------------
    def session_stats(self, shown: Session | None = None) -> stats.SessionStats | None:
        """Statistics of the complete sweeps for the selected metric (of `shown`, what the screen shows: given
        when the caller has it already), or None while they are computed."""
        shown = self.shown if shown is None else shown
        done = shown.completed()
        key = self._stats_key(shown)
        if key in self._stats:
            return self._stats[key]
        if self._computing != key and key not in self._stats_failed:
            self._computing = key
            # A grid's point is compared as the headless table compares it: Holm over every point's pairs
            point = self.point if shown is not self.session else None
            whole = self.session if point is not None else shown
            snapshot = Session(whole.config, whole.data_label)
            snapshot.sweeps = list(whole.completed() if point is not None else done)  # never change again
            threading.Thread(target=self._compute, args=(key, snapshot, self.metric, point), daemon=True,
                             name="stats").start()
        # while they are computed: the last ones of this metric at this point (another cell's would be wrong)
        same_metric = [v for k, v in self._stats.items() if k[0] == self.metric and k[3] == self.point]
        return same_metric[-1] if same_metric else None

    def _compute(self, key: tuple, snapshot: Session, metric: Metric,
                 point: tuple[float, int | None] | None = None) -> None:
        try:
            if point is None:
                result = stats.compute(snapshot, metric)
            else:
                from initdash.grid_table import point_stats

                result = point_stats(snapshot, metric)[point]
            self.post_message(StatsReady(key, result))
        except Exception as exc:  # said on screen, never "computing…" forever
            self.post_message(StatsReady(key, None, first_line(exc)))

    def on_stats_ready(self, message: StatsReady) -> None:
        if message.result is not None:
            self._stats[message.key] = message.result
        else:
            self._stats_failed[message.key] = message.error
        if self._computing == message.key:
            self._computing = None
        self.redraw()

    def _stats_text(self, st: stats.SessionStats | None, shown: Session) -> str:
        """The summary line: the statistics' sentence, or why there is none yet."""
        if st is not None:
            return shorten_labels(st.summary, short_labels(self.session.config.initializers))
        failed = self._stats_failed.get(self._stats_key(shown))
        return f"statistics failed: {failed}" if failed else "statistics: computing…"

    def _stats_key(self, shown: Session) -> tuple:
        """What the statistics on screen are of: the metric, the complete sweeps, the cells, the grid point."""
        return (self.metric, tuple(s.sweep_id for s in shown.completed()), tuple(shown.labels()), self.point)

    @property
    def stats_ready(self) -> bool:
        """True when the statistics on screen are those of the current sweeps (tests wait for it)."""
        return self._stats_key(self.shown) in self._stats

    # --- drawing ----------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Redraw everything from the Session."""
        self._stale = False
        try:
            self._redraw()
        except NoMatches:
            pass  # the screen is going away: its widgets are already gone

    def _redraw(self) -> None:
        shown = self.shown  # a grid builds its point's session: once per redraw
        st = self.session_stats(shown)
        if self.view == "grid":
            self._draw_grid()
        elif self.view == "signal":
            note = draw_signal(self, self.session, shown, width_mode=self.width_mode, point=self.point,
                               epoch=self.signal_epoch, muted=self.muted)
            self._set_text("#signal-note", note)
            self.query_one("#signal-note").display = bool(note)  # no empty row when there is nothing to say
        elif self.view == "spread":
            self._draw_spread(st, shown)
        else:
            self._draw_curves(shown)
        self.query_one(Leaderboard).show(leaderboard_rows(shown, st, self.muted, self.metric), self.metric,
                                         self.size.width)
        showing = f"showing {grid_point_name(self.session, self.point)} (h: grid)" if self.point is not None else ""
        self._set_text("#header", header_text(self.session, self.data, self.notes, max(self.size.width - 2, 20),
                                              self.progress, showing))
        self._set_text("#summary", f"{SHORT[self.metric]}: {self._stats_text(st, shown)}")
        # one line: what does not fit ends in "…" (the status's least important parts come last)
        self._set_text("#status", one_line(self.status, max(self.size.width - 2, 1)))

    def _set_text(self, selector: str, text: str | Text) -> None:
        """Update a Static only when its text changes: every update costs the screen a layout pass. A str is
        plain text (markup=False Statics); a rich Text (the grid's, styled) is shown as it is."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(text if isinstance(text, Text) else safe(text, lines=True))

    def _draw_grid(self) -> None:
        chart = self.query_one("#grid-chart", MetricChart)
        config = self.session.config
        if not grid.is_grid(config):
            chart.show([], "grid", "", 1, xlabel="", empty="no grid: give --lr X,Y,... or --width W,... "
                                                          "(e.g. --preset lr-grid)")
            self._set_text("#grid-table", "")
            return
        from initdash.ui.grid_view import axis_spec, heat_map

        two = bool(config.lrs) and bool(config.widths)
        self.set_class(two, "grid-two-axes")
        if two:
            self._set_text("#grid-table", heat_map(self.session, self.metric, chart.no_color, self.size.width - 2,
                                                   self.point))
        else:
            chart.show_spec(axis_spec(self.session, self.metric, chart.no_color))
            self._set_text("#grid-table", grid_best_line(self.session, self.metric, chart.no_color))

    def _draw_spread(self, st: stats.SessionStats | None, shown: Session) -> None:
        chart = self.query_one("#spread-chart", MetricChart)
        if st is None:
            chart.show_spread([], "final values over every run", self.metric)
            self._set_text("#spread-table", "")
            return
        runs = sum(s.n for s in st.inits)
        chart.show_spread(spread_data(shown, st, self.muted),
                          f"final {self.metric}: {plural(runs, 'run')} in {plural(st.sweeps, 'sweep')} "
                          "(bars: 95% CI of the mean)", self.metric)
        labels = short_labels(self.session.config.initializers)
        self._set_text("#spread-table", "\n".join(spread_lines(st, max(self.size.width - 2, 20), labels)))

    def _draw_curves(self, shown: Session) -> None:
        prefix = "val_" if self.validation else ""
        which = "validation" if self.validation else "training"
        epochs = self.session.config.epochs
        loss_chart = self.query_one("#loss-chart", MetricChart)
        acc_chart = self.query_one("#acc-chart", MetricChart)
        limit = max(loss_chart.size.width, 20)
        band = f" + earlier sweeps ({BAND_MARKER})" if self.band and len(shown.completed()) > 1 else ""
        if band:  # the band's legend must fit the title of a half-width chart at 80 columns
            which = "val" if self.validation else "train"
        empty = "training starts…" if self.live else "no data yet"
        loss_chart.show(chart_series(shown, prefix + "loss", self.muted, self.band, limit, self.curves),
                        f"{which} loss" + (" (log)" if self.log_loss else "") + band, "loss", epochs,
                        log=self.log_loss, empty=empty)
        acc_chart.show(chart_series(shown, prefix + "accuracy", self.muted, self.band, limit, self.curves),
                       f"{which} accuracy" + band, "accuracy", epochs, ylim=(0.0, 1.0), empty=empty)
