"""A live plotext chart of one metric against epoch, one line per initializer.

plotext's build() runs in the widget's render, on the UI thread, and costs ~10 ms for the lesson's
5 short lines but tens to hundreds of ms for many long ones.  So a chart is described by plain data
(a ChartSpec); small charts are built in render as usual, large ones in a background thread from a fresh
plotext figure (no state shared with the UI thread), and the widget shows the last finished build
meanwhile.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from initdash.ui.views import COLORS, MARKERS, Series

# Above this many points in all, build off the UI thread (plotext: ~10 ms + ~0.04 ms a point here).
SYNC_POINT_LIMIT = 400


@dataclass(frozen=True)
class ChartSpec:
    """Everything a chart shows, as plain data: two equal specs draw the same picture."""

    series: tuple[Series, ...]
    title: str
    ylabel: str
    epochs: int
    ylim: tuple[float, float] | None = None
    log: bool = False
    no_color: bool = False

    @property
    def points(self) -> int:
        """How many points in all: what a build costs."""
        return sum(len(s.x) for s in self.series)


def draw(plt: Plot, spec: ChartSpec) -> None:
    """Put `spec` on a plotext figure."""
    plt.clear_data()
    plt.clear_figure()
    plt.title(spec.title)
    plt.xlabel("epoch")
    plt.ylabel(spec.ylabel)
    plt.xlim(0, max(spec.epochs, 1))
    if spec.epochs <= 12:
        plt.xticks(list(range(spec.epochs + 1)))
    if spec.ylim is not None:
        plt.ylim(*spec.ylim)
    if spec.log:
        plt.yscale("log")
    for s in spec.series:
        color = COLORS[s.index % len(COLORS)]
        if s.faint:
            plt.plot(s.x, s.y, color=color, marker="dot")
        else:
            marker = MARKERS[s.index % len(MARKERS)] if spec.no_color else "hd"
            plt.plot(s.x, s.y, color=color, marker=marker, label=s.label)
    if not spec.series:
        plt.text("waiting for the first epoch…", x=0, y=0.5)


class ChartBuilt(Message):
    """A background build finished."""

    def __init__(self, key: tuple, text: Text) -> None:
        super().__init__()
        self.key, self.text = key, text


class MetricChart(PlotextPlot):
    """Shows a ChartSpec; rebuilds only when the spec, the size or the theme changed."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = ChartSpec((), title, "", 1)
        self.no_color = bool(os.environ.get("NO_COLOR"))
        self._built: tuple[tuple, Text] | None = None  # (key, text) of the newest finished build
        self._building: tuple | None = None
        self.builds = 0  # how many builds ran (benchmarks and tests read it)

    @property
    def shown_title(self) -> str:
        """The title of what the chart shows now."""
        return self.spec.title

    def show(self, series: list[Series], title: str, ylabel: str, epochs: int,
             ylim: tuple[float, float] | None = None, log: bool = False) -> bool:
        """Replace what the chart shows; returns False (and does nothing) if nothing changed."""
        spec = ChartSpec(tuple(series), title, ylabel, epochs, ylim, log, self.no_color)
        if spec == self.spec:
            return False
        self.spec = spec
        self.refresh()
        return True

    def _key(self) -> tuple:
        return (self.spec, self.size.width, self.size.height, self._get_plotext_theme_name(self.app.theme))

    def render(self) -> Text:
        key = self._key()
        if self._built is not None and self._built[0] == key:
            return self._built[1]
        if self.spec.points <= SYNC_POINT_LIMIT:
            self._built = (key, self._build(key))
            return self._built[1]
        if self._building is None:  # one build at a time; the newest spec is built when it is done
            self._building = key
            threading.Thread(target=self._build_in_background, args=(key,), daemon=True,
                             name="chart-build").start()
        return self._built[1] if self._built is not None else Text("drawing…")

    def _build(self, key: tuple) -> Text:
        spec, width, height, theme = key
        plt = Plot()  # a fresh figure: nothing shared with another build
        draw(plt, spec)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as textual-plotext's own render does (its issue #5)
        plt.theme(theme)
        self.builds += 1
        return Text.from_ansi(plt.build())

    def _build_in_background(self, key: tuple) -> None:
        self.post_message(ChartBuilt(key, self._build(key)))

    def on_chart_built(self, message: ChartBuilt) -> None:
        self._building = None
        self._built = (message.key, message.text)
        self.refresh()
