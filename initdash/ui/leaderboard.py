"""The leaderboard: per initializer its colour and marker (the charts' legend), status, latest metrics, rank
(and change), spread and wins."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from initdash.text import markup_safe
from initdash.ui.views import MARKERS, RICH_COLORS, Row

SHORT = {"val_accuracy": "val acc", "accuracy": "acc", "val_loss": "val loss", "loss": "loss"}
LABEL_WIDTH = 18  # a longer initializer label (variance_scaling:scale=2,mode=fan_avg) is cut: the table must fit


def columns(metric: str, width: int = 200) -> tuple[tuple[str, str], ...]:
    """(key, title) of every column; the rank, spread and wins are about `metric`. Training accuracy is on the
    charts, not here; narrower than 80 columns, the loss and then the wins are left out too."""
    cols = [("key", "#"), ("label", "initializer"), ("status", "status"), ("loss", "loss"),
            ("val_accuracy", "val acc"), ("rank", "rank"), ("spread", f"{SHORT[metric]} μ±σ"), ("wins", "wins")]
    for key, below in (("loss", 80), ("wins", 68)):
        if width < below:
            cols = [c for c in cols if c[0] != key]
    return tuple(cols)


class Leaderboard(DataTable):
    """A DataTable kept in place: cells change; rows and columns are rebuilt only when their set changes."""

    def __init__(self, *, id: str | None = None, no_color: bool = False) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self.metric = ""
        self.no_color = no_color

    def show(self, rows: list[Row], metric: str, width: int = 200) -> None:
        """Bring the table up to date with `rows`, with the columns that fit `width`."""
        cols = columns(metric, width)
        if [k for k, _ in cols] != [str(k.value) for k in self.columns]:
            self.clear(columns=True)
            for key, title in cols:
                self.add_column(title, key=key)
            self.metric = metric
        if metric != self.metric:  # only the spread column's title names the metric
            self.metric = metric
            self.columns[ColumnKey("spread")].label = Text(dict(cols)["spread"])
            self.refresh()
        if [r.label for r in rows] != [str(k.value) for k in self.rows]:
            self.clear()
            for r in rows:
                self.add_row(*self._cells(r, cols), key=r.label)
            return
        for r in rows:
            for (col, _), value in zip(cols, self._cells(r, cols)):
                if self.get_cell(r.label, col) != value:
                    self.update_cell(r.label, col, value, update_width=True)

    def _cells(self, r: Row, cols: tuple[tuple[str, str], ...]) -> tuple[str | Text, ...]:
        index = r.key - 1
        digit = f"{r.key}" if r.key <= 9 else " "
        if self.no_color:  # the marker the curves are drawn with
            key: str | Text = f"{digit} {MARKERS[index % len(MARKERS)]}"
        else:
            key = Text.assemble(f"{digit} ", ("━━", "dim" if r.muted else RICH_COLORS[index % len(RICH_COLORS)]))
        label = r.label if len(r.label) <= LABEL_WIDTH else r.label[:LABEL_WIDTH - 1] + "…"
        label = markup_safe(f"({label})" if r.muted else label)  # a DataTable reads a str cell as markup
        cells = {"key": key, "label": label, "status": r.status, "loss": r.loss, "val_accuracy": r.val_accuracy,
                 "rank": r.rank, "spread": r.spread, "wins": r.wins}
        return tuple(cells[k] for k, _ in cols)
