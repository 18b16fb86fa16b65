"""A live plotext chart of one metric against epoch, one line per initializer."""

from __future__ import annotations

import os

from textual_plotext import PlotextPlot

from initdash.ui.views import COLORS, MARKERS, Series


class MetricChart(PlotextPlot):
    """Draws a list of Series; rebuilds the plot only when what it shows has changed."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart_title = title
        self._shown: tuple | None = None
        self.shown_title = ""
        self.no_color = bool(os.environ.get("NO_COLOR"))

    def show(self, series: list[Series], title: str, ylabel: str, epochs: int,
             ylim: tuple[float, float] | None = None, log: bool = False) -> bool:
        """Replace what the chart shows; returns False (and does nothing) if nothing changed."""
        key = (tuple(series), title, ylabel, epochs, ylim, log)
        if key == self._shown:
            return False
        self._shown = key
        self.shown_title = title
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("epoch")
        plt.ylabel(ylabel)
        plt.xlim(0, max(epochs, 1))
        if epochs <= 12:
            plt.xticks(list(range(epochs + 1)))
        if ylim is not None:
            plt.ylim(*ylim)
        if log:
            plt.yscale("log")
        for s in series:
            color = COLORS[s.index % len(COLORS)]
            if s.faint:
                plt.plot(s.x, s.y, color=color, marker="dot")
            else:
                marker = MARKERS[s.index % len(MARKERS)] if self.no_color else "hd"
                plt.plot(s.x, s.y, color=color, marker=marker, label=s.label)
        if not series:
            plt.text("waiting for the first epoch…", x=0, y=0.5 if ylim else 0.5)
        self.refresh()
        return True
