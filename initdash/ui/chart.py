"""Live plotext charts: curves of one metric against epoch, and the spread of final values.

plotext's build() costs ~10 ms for the lesson's 5 short lines but tens to hundreds of ms for many long
ones -- and while workers train, the UI thread shares the GIL with them, so those milliseconds stretch
several times over. So a chart is described by plain data (a spec with a `draw` method); while its owner
says training is live (`live`), or for large charts, it is built in a background thread from a fresh plotext
figure (no state shared with the UI thread) and the widget shows the last finished build meanwhile;
otherwise (small, idle: snapshots, a reopened session) in render.

There is no plotext legend (it covered the curves' top-left corner): the leaderboard's # column shows each
initializer's colour and marker. A chart with nothing to show yet says so in the theme's colours, centred.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from dataclasses import dataclass
from typing import Protocol

from plotext import _utility as plotext_utility
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from initdash.ui.messages import ChartBuilt
from initdash.ui.palette import BAND_MARKER, color, marker
from initdash.ui.views import Series, Spread

# plotext 5 removes duplicate ticks and points through a set, so tick labels are placed in an order that changes
# with Python's hash seed: two long labels side by side landed a column apart from one run to the next (a flaky
# snapshot). The same duplicates removed in their given order (plotext's own commented-out alternative) draw
# the same picture every time.
plotext_utility.no_duplicates = lambda data: list(dict.fromkeys(data))

# Above this many points in all, build off the UI thread (plotext: ~10 ms + ~0.04 ms a point here).
SYNC_POINT_LIMIT = 400


class Spec(Protocol):
    """What a chart shows, as plain hashable data."""

    title: str

    @property
    def points(self) -> int: ...

    def draw(self, plt: Plot, width: int) -> None: ...


def _frame(plt: Plot, title: str, xlabel: str, ylabel: str) -> None:
    plt.clear_data()
    plt.clear_figure()
    plt.title(title)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)


@dataclass(frozen=True)
class CurvesSpec:
    """Lines of one metric against epoch."""

    series: tuple[Series, ...]
    title: str
    ylabel: str
    epochs: int
    ylim: tuple[float, float] | None = None
    log: bool = False
    no_color: bool = False
    xlabel: str = "epoch"
    xmin: int = 0  # x runs from xmin to `epochs` (layers: 1 to their count)
    empty: str = "no data yet"  # what the chart says while it has no curve
    xlabels: tuple[str, ...] = ()  # names of the x positions xmin, xmin + 1, ... (layers), instead of numbers

    @property
    def points(self) -> int:
        """How many points in all: what a build costs."""
        return sum(len(s.x) for s in self.series)

    def draw(self, plt: Plot, width: int) -> None:
        """Put the curves on a plotext figure `width` columns wide."""
        _frame(plt, self.title, self.xlabel, self.ylabel)
        plt.xlim(self.xmin, max(self.epochs, self.xmin + 1))
        if self.xlabels:  # layers by name
            plt.xticks(list(range(self.xmin, self.xmin + len(self.xlabels))), list(self.xlabels))
        else:
            plt.xticks(int_ticks(self.xmin, self.epochs))
        if self.ylim is not None:
            plt.ylim(*self.ylim)
        ys = [[math.log10(v) for v in s.y] for s in self.series] if self.log else [list(s.y) for s in self.series]
        if self.log and any(ys):  # plotext's own log axis labels ticks 0.0000006: label them ourselves
            lo, hi = min(min(y) for y in ys if y), max(max(y) for y in ys if y)
            if hi - lo < 0.02:  # one value: a few percent either side, so that the axis has a range to tick
                lo, hi = lo - 0.02, hi + 0.02
            plt.ylim(lo, hi)  # every tick inside the frame (a decade above the data was printed on the title)
            ticks = log_ticks(lo, hi)
            plt.yticks(ticks, log_labels(ticks))
        # Earlier sweeps' bands first: behind every curve, not over the ones listed before them.
        for s, y in sorted(zip(self.series, ys), key=lambda sy: not sy[0].faint):
            c = "default" if self.no_color else color(s.index)
            mark = BAND_MARKER if s.faint else marker(s.index) if self.no_color else "hd"
            plt.plot(s.x, y, color=c, marker=mark)
        if self.no_color:  # the last line drawn covers the others: put each one's marker on top somewhere
            lines = [(s, y) for s, y in zip(self.series, ys) if not s.faint]
            for pos, (s, y) in enumerate(lines):
                picks = [j for j in range(len(y)) if j % len(lines) == pos] or [pos * (len(y) - 1) // len(lines)]
                plt.scatter([s.x[j] for j in picks], [y[j] for j in picks], color="default", marker=marker(s.index))


def int_ticks(low: int, high: int, most: int = 12) -> list[int]:
    """Whole-number ticks from low to high, at most `most` of them (epochs, layers: never 5.2)."""
    step = max(1, math.ceil((high - low) / (most - 1)))
    return list(range(low, high + 1, step))


def log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """At least three ticks (log10 values) from lo to hi, all inside: whole decades when the range spans three
    or more, else 1-2-5 or 1..9 steps within the decades, else evenly spaced round values (0.42, 0.44, ...)."""
    def thin(ticks: list[float]) -> list[float]:
        """Evenly apart on the axis (0.08, 0.2, 0.3, not 0.08, 0.09, 0.1), round values first: 1, then 5, 2."""
        gap = (hi - lo) / (most + 1)
        rank = {1: 0, 5: 1, 2: 2}
        kept: list[float] = []
        for t in sorted(ticks, key=lambda t: rank.get(round(10 ** (t - math.floor(t + 1e-9)), 6), 3)):
            if all(abs(t - k) >= gap for k in kept):
                kept.append(t)
        return sorted(kept) if len(kept) >= 3 else ticks[::math.ceil(len(ticks) / most)]

    inside = [float(d) for d in range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1)]
    if len(inside) >= 3:
        return thin(inside)
    for mantissas in ((1, 2, 5), range(1, 10)):
        fine = [d + math.log10(m) for d in range(math.floor(lo), math.ceil(hi) + 1) for m in mantissas]
        inside = [t for t in fine if lo - 1e-9 <= t <= hi + 1e-9]
        if len(inside) >= 3:
            return thin(inside)
    vlo, vhi = 10 ** lo, 10 ** hi
    rough = (vhi - vlo) / 8  # a round step of at most 2.5 times this leaves three or more values in the range
    base = 10 ** math.floor(math.log10(rough))
    step = next(base * m for m in (1, 2, 5, 10) if base * m >= rough)
    values = [k * step for k in range(math.ceil(vlo / step - 1e-9), math.floor(vhi / step + 1e-9) + 1)]
    return thin([math.log10(v) for v in values if v > 0])


def log_labels(ticks: list[float]) -> list[str]:
    """10**tick for each tick, with as few significant digits as keep every label distinct."""
    for digits in range(1, 7):
        labels = [log_label(t, digits) for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def log_label(tick: float, digits: int = 3) -> str:
    """10**tick for an axis: 0.01, 0.5, 20, 1e-6, 1e+06."""
    value = 10 ** tick
    if not 1e-3 <= value < 1e4:
        return f"{value:.{max(digits - 1, 0)}e}".replace("e-0", "e-").replace("e+0", "e+")
    return f"{round(value, digits - 1 - math.floor(math.log10(value))):g}"  # 10, not 1e+01


@dataclass(frozen=True)
class SpreadSpec:
    """Final values per initializer as a strip of points, with the mean and its 95% CI as an error bar."""

    spreads: tuple[Spread, ...]
    title: str
    ylabel: str
    no_color: bool = False
    empty: str = "no finished run yet"

    @property
    def points(self) -> int:
        """How many points in all: what a build costs."""
        return sum(len(s.values) for s in self.spreads)

    def draw(self, plt: Plot, width: int) -> None:
        """Put the strips and error bars on a plotext figure `width` columns wide."""
        _frame(plt, self.title, "", self.ylabel)
        shown = [s for s in self.spreads if s.values]
        for pos, s in enumerate(shown, start=1):
            c = "default" if self.no_color else color(s.index)
            n = len(s.values)
            # Spread the points sideways so equal values stay visible: centred on the label, the first point on
            # it, then one right, one left, two right, ... (deterministic).
            xs = [pos + 0.1 * (((j % 7) + 1) // 2) * (1 if j % 2 else -1) for j in range(n)]
            plt.scatter(xs, list(s.values), color=c, marker=marker(s.index) if self.no_color else "•")
            if not math.isnan(s.ci_low):
                # The CI as a bar from its low to its high end (plotext's error() is symmetric about the mean,
                # and a CI clipped to the metric's range is not), the mean as a cross on it.
                plt.plot([pos, pos], [s.ci_low, s.ci_high], marker="│", color=c)
                plt.scatter([pos], [s.mean], marker="┼", color=c)
        labels = [s.label for s in shown]
        slot = (width - 8) / max(len(shown), 1)  # the y axis takes ~8 columns
        # plotext would drop a label wider than its slot: that one is its number (the table's # column)
        labels = [label if len(label) + 1 <= slot else str(s.index + 1) for label, s in zip(labels, shown)]
        plt.xticks(list(range(1, len(shown) + 1)), labels)
        plt.xlim(0.4, len(shown) + 0.6)


class MetricChart(PlotextPlot):
    """Shows a spec; rebuilds only when the spec, the size or the theme changed.

    It draws line by line from Strips made when the chart was built, so a repaint of the screen costs the
    UI thread next to nothing for the charts.
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec: Spec = CurvesSpec((), title, "", 1)
        self.no_color = bool(os.environ.get("NO_COLOR"))
        self._built: tuple[tuple, list[Strip]] | None = None  # (key, lines) of the newest finished build
        self._building = False
        self.live = False  # set by the owner while training runs: then builds happen off the UI thread

    @property
    def shown_title(self) -> str:
        """The title of what the chart shows now."""
        return self.spec.title

    def show(self, series: list[Series], title: str, ylabel: str, epochs: int,
             ylim: tuple[float, float] | None = None, log: bool = False, xlabel: str = "epoch",
             xmin: int = 0, empty: str = "no data yet", xlabels: tuple[str, ...] = ()) -> bool:
        """Show curves; returns False (and does nothing) if nothing changed."""
        return self.show_spec(CurvesSpec(tuple(series), title, ylabel, epochs, ylim, log, self.no_color,
                                         xlabel, xmin, empty, xlabels))

    def show_spread(self, spreads: list[Spread], title: str, ylabel: str) -> bool:
        """Show the spread of final values; returns False if nothing changed."""
        return self.show_spec(SpreadSpec(tuple(spreads), title, ylabel, self.no_color))

    def show_spec(self, spec: Spec) -> bool:
        """Replace what the chart shows; returns False (and does nothing) if nothing changed."""
        if spec == self.spec:
            return False
        self.spec = spec
        self.refresh()
        return True

    def _key(self) -> tuple:
        return (self.spec, self.size.width, self.size.height, self._get_plotext_theme_name(self.app.theme))

    def _current(self, key: tuple) -> bool:
        if self._built is None:
            return False
        spec, *rest = self._built[0]
        return spec is key[0] and rest == list(key[1:])

    def render_line(self, y: int) -> Strip:
        lines = self._lines()
        if y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _lines(self) -> list[Strip]:
        if not self.spec.points:
            return self._empty_state()
        key = self._key()
        if self._current(key):
            return self._built[1]
        if self.spec.points <= SYNC_POINT_LIMIT and not self.live:
            self._built = (key, self._build(key))
            return self._built[1]
        if not self._building:  # one build at a time; the newest spec is built when it is done
            self._building = True
            threading.Thread(target=self._build_in_background, args=(key,), daemon=True,
                             name="chart-build").start()
        return self._built[1] if self._built is not None else []

    def _build(self, key: tuple) -> list[Strip]:
        spec, width, height, theme = key
        plt = Plot()  # a fresh figure: nothing shared with another build
        if len(spec.title) > width - 4:  # plotext drops a title longer than this: shorten it instead
            spec = dataclasses.replace(spec, title=spec.title[:max(width - 5, 0)] + "…")
        spec.draw(plt, width)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as textual-plotext's own render does (its issue #5)
        plt.theme(theme)
        console = self.app.console
        return [Strip(list(line.render(console)), line.cell_len).adjust_cell_length(width)
                for line in Text.from_ansi(plt.build()).split("\n")]

    def _empty_state(self) -> list[Strip]:
        """The title and a centred note (e.g. `no data yet`), whole and in the theme's colours."""
        width, height = self.size.width, self.size.height
        base = self.visual_style.rich_style
        muted = base + Style(dim=True)
        lines = [Strip.blank(width, base) for _ in range(height)]
        for row, text, style in ((0, self.spec.title, base + Style(bold=True)),
                                 (height // 2, getattr(self.spec, "empty", ""), muted)):
            if 0 <= row < height and text:
                text = text[:width]
                pad = (width - len(text)) // 2
                lines[row] = Strip([Segment(" " * pad, base), Segment(text, style),
                                    Segment(" " * (width - pad - len(text)), base)], width)
        return lines

    def _build_in_background(self, key: tuple) -> None:
        try:
            strips = self._build(key)
        except Exception as exc:  # never leave the chart waiting for a build that died
            strips = [Strip([Segment(f"cannot draw this chart: {type(exc).__name__}: {exc}"[: key[1]])])]
        self.post_message(ChartBuilt(key, strips))

    def on_chart_built(self, message: ChartBuilt) -> None:
        self._building = False
        self._built = (message.key, message.strips)
        self.refresh()
