"""The leaderboard: per initializer its colour and marker (the charts' legend), status, latest metrics, rank
(and change), spread and wins."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from initdash.ui.views import MARKERS, RICH_COLORS, Row

SHORT = {"val_accuracy": "val acc", "accuracy": "acc", "val_loss": "val loss", "loss": "loss"}


def columns(metric: str) -> tuple[tuple[str, str], ...]:
    """(key, title) of every column; the rank, spread and wins are about `metric`."""
    return (("key", "#"), ("label", "initializer"), ("status", "status"), ("loss", "loss"),
            ("accuracy", "acc"), ("val_accuracy", "val acc"), ("rank", "rank"),
            ("spread", f"{SHORT[metric]} μ±σ"), ("wins", "wins"))


class Leaderboard(DataTable):
    """A DataTable kept in place: cells change; rows and columns are rebuilt only when their set changes."""

    def __init__(self, *, id: str | None = None, no_color: bool = False) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self.metric = ""
        self.no_color = no_color

    def show(self, rows: list[Row], metric: str) -> None:
        """Bring the table up to date with `rows`."""
        if not self.columns:
            for key, title in columns(metric):
                self.add_column(title, key=key)
            self.metric = metric
        if metric != self.metric:  # only the spread column's title names the metric
            self.metric = metric
            self.columns[ColumnKey("spread")].label = Text(dict(columns(metric))["spread"])
            self.refresh()
        if [r.label for r in rows] != [str(k.value) for k in self.rows]:
            self.clear()
            for r in rows:
                self.add_row(*self._cells(r), key=r.label)
            return
        for r in rows:
            for (col, _), value in zip(columns(metric), self._cells(r)):
                if self.get_cell(r.label, col) != value:
                    self.update_cell(r.label, col, value, update_width=True)

    def _cells(self, r: Row) -> tuple[str | Text, ...]:
        index = r.key - 1
        digit = f"{r.key}" if r.key <= 9 else " "
        if self.no_color:  # the marker the curves are drawn with
            key: str | Text = f"{digit} {MARKERS[index % len(MARKERS)]}"
        else:
            key = Text.assemble(f"{digit} ", ("━━", "dim" if r.muted else RICH_COLORS[index % len(RICH_COLORS)]))
        label = f"({r.label})" if r.muted else r.label
        status = r.status if len(r.status) <= 24 else r.status[:23] + "…"
        return (key, label, status, r.loss, r.accuracy, r.val_accuracy, r.rank, r.spread, r.wins)
