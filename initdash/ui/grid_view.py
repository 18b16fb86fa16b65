"""The grid view (key h) and the signal view's width mode: what they draw, as plain data and plotext specs.

One axis: the final metric against the axis (lr on a log scale, widths too), one line per initializer with the
95% CI of each cell's mean as a bar and the initializer's best cell marked. Two axes: a heat map per initializer
(widths down, learning rates across; shaded by the metric, values always printed, the best cell marked `*`), as
text so that it fits 80x24 and reads with NO_COLOR.

The width mode of the signal view is microsoft/mup's coordinate check: every layer's activation std at one
epoch against width, log-log, per initializer (a fixed-std init grows with width, a variance-scaling one stays
flat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from initdash import grid
from initdash.grid_table import CellResult, activation_std_by_width, axis_names, best_cells, results
from initdash.labels import LABEL_WIDTH, short_labels
from initdash.session import Session
from initdash.tables import fmt, mean
from initdash.ui.chart import _frame, log_label
from initdash.ui.palette import color, marker, rich_color


@dataclass(frozen=True)
class AxisLine:
    """One initializer's cells along the grid's one axis: log10 of the axis value, mean, CI, best position."""

    label: str
    index: int
    x: tuple[float, ...]
    y: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    best: int | None  # position in x of its best cell


def axis_lines(session: Session, metric: str) -> tuple[str, list[AxisLine]]:
    """The one-axis grid: (axis name, one line per initializer with values)."""
    from initdash.stats import confidence_interval, metric_range

    axes = axis_names(session)
    name = axes[0] if axes else "lr"
    cells = results(session, metric)
    best = best_cells(cells, metric)
    out = []
    for index, spec in enumerate(session.config.initializers):
        mine = [r for r in cells if r.cell.initializer == spec.label and r.values]
        if not mine:
            continue
        xs = tuple(math.log10(r.cell.lr if name == "lr" else r.cell.width or 1) for r in mine)
        cis = [confidence_interval(list(r.values), metric_range(metric)) for r in mine]
        pick = best.get(spec.label)
        out.append(AxisLine(spec.label, index, xs, tuple(r.mean for r in mine), tuple(c[0] for c in cis),
                            tuple(c[1] for c in cis), mine.index(pick) if pick in mine else None))
    return name, out


@dataclass(frozen=True)
class AxisSpec:
    """The one-axis grid as a plotext chart."""

    lines: tuple[AxisLine, ...]
    ticks: tuple[float, ...]  # log10 of the axis values
    title: str
    ylabel: str
    xlabel: str
    no_color: bool = False
    empty: str = "no finished run yet"
    tick_labels: tuple[str, ...] = ()  # the axis values as given (1024, not 10**3.01 rounded to 1020)

    @property
    def points(self) -> int:
        """How many points in all: what a build costs."""
        return sum(len(s.x) for s in self.lines)

    def draw(self, plt, width: int) -> None:
        """Lines of means, CI bars, the best cell of each initializer as a star."""
        _frame(plt, self.title, self.xlabel, self.ylabel)
        pad = 0.1 * max(1e-9, (max(self.ticks) - min(self.ticks)) if self.ticks else 1)
        if self.ticks:
            plt.xlim(min(self.ticks) - pad, max(self.ticks) + pad)
            plt.xticks(list(self.ticks), list(self.tick_labels) or [log_label(t) for t in self.ticks])
        for s in self.lines:
            hue = "default" if self.no_color else color(s.index)
            plt.plot(list(s.x), list(s.y), color=hue, marker=marker(s.index) if self.no_color
                     else "hd")
            for x, lo, hi in zip(s.x, s.low, s.high):
                if not math.isnan(lo):
                    plt.plot([x, x], [lo, hi], marker="│", color=hue)
            if s.best is not None:
                plt.scatter([s.x[s.best]], [s.y[s.best]], marker="★", color=hue)


def axis_spec(session: Session, metric: str, no_color: bool) -> AxisSpec:
    """The chart of a one-axis grid."""
    name, lines = axis_lines(session, metric)
    values = grid.lr_axis(session.config) if name == "lr" else grid.width_axis(session.config)
    ticks = tuple(math.log10(v) for v in values if v)
    title = f"final {metric} by {'learning rate' if name == 'lr' else 'width'} (bars: 95% CI; ★ best)"
    return AxisSpec(tuple(lines), ticks, title, metric, f"{name} (log)", no_color,
                    tick_labels=tuple(f"{v:g}" for v in values if v))


def heat_map(session: Session, metric: str, no_color: bool, width: int = 80, point: tuple | None = None) -> Text:
    """The two-axis grid as text: per initializer a block of widths x learning rates, each cell's mean printed
    (shaded when colour is on), its best cell marked `*`, the selected point in brackets."""
    from initdash.stats import LOWER_IS_BETTER

    cells = results(session, metric)
    best = best_cells(cells, metric)
    by_key = {r.cell.key: r for r in cells}
    config = session.config
    lrs, widths = grid.lr_axis(config), grid.width_axis(config)
    values = [r.mean for r in cells if r.values]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    cell_w = 7
    block_w = 6 + cell_w * len(lrs) + 2
    # short unique labels, as the rest of the dashboard shows them: a long spec would run into its neighbour
    short = short_labels(config.initializers, min(LABEL_WIDTH, block_w - 2))
    out = Text()
    blocks = []
    for index, spec in enumerate(config.initializers):
        block = [Text(short[spec.label], style=Style(bold=True, color=None if no_color else rich_color(index)))]
        block.append(Text("w\\lr".rjust(6) + "".join(f"{lr:g}"[:cell_w - 1].rjust(cell_w) for lr in lrs)))
        for w in widths:
            row = Text(str(w).rjust(6))
            for lr in lrs:
                r: CellResult = by_key[grid.cell_key(config, spec.label, lr, w)]
                mark = "*" if best.get(spec.label) is r else " "
                text = (">" if point == (lr, w) else " ") + (fmt(r.mean, 3)[:5] if r.values else "-") + mark
                style = Style()
                if r.values and not no_color and hi > lo:
                    share = (r.mean - lo) / (hi - lo)
                    share = 1 - share if metric in LOWER_IS_BETTER else share
                    level = int(40 + 150 * share)
                    style = Style(bgcolor=f"rgb({level // 3},{level // 2},{level})", color="white")
                row.append(text.rjust(cell_w), style=style)
            block.append(row)
        blocks.append(block)
    per_row = max(1, width // block_w)
    for start in range(0, len(blocks), per_row):  # blocks side by side while they fit
        group = blocks[start:start + per_row]
        for line in range(max(len(b) for b in group)):
            for b in group:
                piece = b[line] if line < len(b) else Text("")
                out.append_text(piece)
                out.append(" " * max(0, block_w - piece.cell_len))
            out.append("\n")
    out.append(f"final {metric}, mean over runs; * best cell of each initializer; > the cell the curves show "
               "(arrow keys)")
    return out


def width_series(session: Session, epoch: int | None = None,
                 lr: float | None = None) -> tuple[int, list[tuple[int, int, tuple, tuple]]]:
    """The coordinate check: per initializer and layer, (initializer index, layer, log10 widths, log10 of the
    mean activation std at `epoch` over the runs of the current sweep) (None: the latest epoch all reached);
    with an lr axis, the cells of learning rate `lr` only."""
    current = session.current
    if current is None:
        return -1, []
    reached = [len(h) - 1 for rec in current.initializers.values() for h in rec.histories if h]
    if not reached:
        return -1, []
    epoch = min(reached) if epoch is None else max(0, min(epoch, min(reached)))
    out = []
    for index, spec in enumerate(session.config.initializers):
        for layer, by_width in sorted(activation_std_by_width(current, spec.label, epoch, lr).items()):
            positive = {w: [v for v in vs if v > 0] for w, vs in sorted(by_width.items())}  # a log scale
            ws = [w for w, vs in positive.items() if vs]
            if ws:
                out.append((index, layer, tuple(math.log10(w) for w in ws),
                            tuple(math.log10(mean(positive[w])) for w in ws)))
    return epoch, out


@dataclass(frozen=True)
class WidthSpec:
    """The coordinate check as a plotext chart: log10 activation std against log10 width."""

    lines: tuple[tuple[int, int, tuple, tuple], ...]
    ticks: tuple[float, ...]
    title: str
    no_color: bool = False
    empty: str = "the width mode needs a width axis (--width, e.g. --preset width-check)"
    tick_labels: tuple[str, ...] = ()  # the widths as given (1024, not 1020)

    @property
    def points(self) -> int:
        """How many points in all: what a build costs."""
        return sum(len(s[2]) for s in self.lines)

    def draw(self, plt, width: int) -> None:
        """One line per (initializer, layer), coloured by initializer; both axes log-scaled and labelled."""
        _frame(plt, self.title, "width (log)", "activation std (log)")
        if self.ticks:
            plt.xticks(list(self.ticks), list(self.tick_labels) or [log_label(t) for t in self.ticks])
        ys = [y for s in self.lines for y in s[3]]
        if ys:
            from initdash.ui.chart import log_ticks

            yt = log_ticks(min(ys), max(ys))
            plt.yticks(yt, [log_label(t) for t in yt])
        for index, _layer, x, y in self.lines:
            hue = "default" if self.no_color else color(index)
            plt.plot(list(x), list(y), color=hue, marker=marker(index) if self.no_color else "hd")


def width_spec(session: Session, epoch: int | None, no_color: bool, lr: float | None = None) -> WidthSpec:
    """The signal view's width mode (with an lr axis: at learning rate `lr`)."""
    shown, lines = width_series(session, epoch, lr if session.config.lrs else None)
    ticks = tuple(math.log10(w) for w in session.config.widths)
    where = (f" · lr {lr:g}" if session.config.lrs and lr is not None else "") + \
        (f" · epoch {shown}" if shown >= 0 else "")
    return WidthSpec(tuple(lines), ticks, f"activation std of every layer by width (log-log){where}", no_color,
                     tick_labels=tuple(str(w) for w in session.config.widths))


def grid_point_name(session: Session, point: tuple[float, int | None]) -> str:
    """`lr=0.01 w=64` for the axes the session's grid has."""
    from initdash.grid_table import point_name

    return point_name(point[0], point[1], axis_names(session))


def grid_best_line(session: Session, metric: str, no_color: bool = False) -> Text:
    """Each initializer's best cell, in one line under the one-axis chart; its name in its colour (with NO_COLOR
    after its marker): the chart's legend, as the leaderboard that is its legend elsewhere is hidden here."""
    from initdash.grid_table import cell_text, point_name

    best = best_cells(results(session, metric), metric)
    axes = axis_names(session)
    index = {spec.label: i for i, spec in enumerate(session.config.initializers)}
    short = short_labels(session.config.initializers)  # a long spec would wrap the line
    out = Text("best: ")
    for n, (label, r) in enumerate(best.items()):
        i = index.get(label, 0)
        out.append("; " if n else "")
        name = short.get(label, label)
        out.append(f"{marker(i)} {name}" if no_color else name, style=Style(color=None if no_color else rich_color(i)))
        out.append(f": {point_name(r.cell.lr, r.cell.width, axes)} {cell_text(r, 3)}")
    return out if best else Text("best: no finished run yet")
