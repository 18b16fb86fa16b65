"""The signal view's drawing (key g): per-layer activation std and gradient norm against depth, or with `w` the
width mode (mup's coordinate check), and the note under the charts (layer names, initializers off the log axes).

Apart from the main screen so that it stays small: it draws into the screen's two charts and returns the note,
which the screen shows.
"""

from __future__ import annotations

from textual.screen import Screen

from initdash.labels import short_labels
from initdash.session import Session
from initdash.ui.chart import MetricChart
from initdash.ui.views import layer_note, layer_ticks, signal_data


def draw_signal(screen: Screen, session: Session, shown: Session, *, width_mode: bool,
                point: tuple[float, int | None] | None, epoch: int | None, muted: frozenset[str]) -> str:
    """Draw the signal view of `shown` (the session, or a grid's shown cell) at `epoch` (None: the latest) into
    the screen's charts; returns the note for under them ("" when there is nothing to say)."""
    if width_mode:
        from initdash.ui.grid_view import width_spec

        chart = screen.query_one("#act-chart", MetricChart)
        lr = point[0] if point is not None else None  # an lr axis: the shown cell's rate
        chart.show_spec(width_spec(session, epoch, chart.no_color, lr))
        return ""  # the depth charts' note (layer names, zeros) is not about this chart
    current = shown.current
    names = max((g.layer_names for g in current.initializers.values()), key=len, default=()) if current else ()
    waiting = current is None or not current.recorded_anything
    ticks = layer_ticks(names, screen.size.width // 2)  # two charts side by side
    notes = [layer_note(names, ticks, screen.size.width - 2)]
    short = short_labels(session.config.initializers)
    zeros: dict[str, list[str]] = {}
    for metric, chart_id, what, note in (
            ("activation_std", "#act-chart", "activation std", "one layer: no depth to compare"),
            ("grad_norm", "#grad-chart", "grad norm", "try --preset deep-relu")):
        chart = screen.query_one(chart_id, MetricChart)
        if not names:
            chart.show([], f"{what} by layer", what, 1, xlabel="", empty="no data yet" if waiting else note)
            continue
        shown_epoch, series, zeros[what] = signal_data(shown, metric, muted, epoch)
        title = f"{what} by layer · epoch {shown_epoch}" if shown_epoch >= 0 else f"{what} by layer"
        chart.show(series, title, what, len(names), log=True, xlabel="layer", xmin=1, xlabels=tuple(ticks))
    # log 0 has no place on the axis: say so instead of leaving the curve out silently
    if zeros and len({tuple(z) for z in zeros.values()}) == 1:
        said = next(iter(zeros.values()))
        notes.append(f"0 (off the log axes): {', '.join(short.get(z, z) for z in said)}" if said else "")
    else:
        notes += [f"{what} 0 (off the log axis): {', '.join(short.get(z, z) for z in said)}"
                  for what, said in zeros.items() if said]
    return "\n".join(n for n in notes if n)
