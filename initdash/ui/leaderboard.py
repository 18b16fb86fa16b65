"""The leaderboard: per initializer its colour and marker (the charts' legend), status, latest metrics, rank
(and change), spread and wins."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from initdash.labels import LABEL_WIDTH
from initdash.text import markup_safe
from initdash.ui.palette import marker, rich_color
from initdash.ui.views import Row

SHORT = {"val_accuracy": "val acc", "accuracy": "acc", "val_loss": "val loss", "loss": "loss"}


DROP_ORDER = ("loss", "wins", "spread")  # left out first to last when the table would not fit
KEY_WIDTH = 4  # the # column: "1 ━━"


def columns(metric: str, width: int = 200, rows: list[Row] = ()) -> tuple[tuple[str, str], ...]:
    """(key, title) of every column that fits `width` with these rows; the rank, spread and wins are about
    `metric`. Training accuracy is on the charts, not here; columns that do not fit go in DROP_ORDER."""
    cols = [("key", "#"), ("label", "initializer"), ("status", "status"), ("loss", "train loss"),
            ("val_accuracy", "val acc"), ("rank", "rank"), ("spread", f"{SHORT[metric]} μ±σ"), ("wins", "wins")]

    def need(key: str, title: str) -> int:  # a DataTable cell has one space of padding either side
        if key == "key":
            cells = [KEY_WIDTH]
        else:  # a muted label is shown in brackets
            cells = [len(str(getattr(r, key))) + (2 if key == "label" and r.muted else 0) for r in rows]
        return max([len(title), *cells]) + 2

    for key in DROP_ORDER:
        if sum(need(*c) for c in cols) <= width - 1:  # one column spare: no horizontal scrollbar
            break
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
        cols = columns(metric, width, rows)
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
            key: str | Text = f"{digit} {marker(index)}"
        else:
            key = Text.assemble(f"{digit} ", ("━━", "dim" if r.muted else rich_color(index)))
        label = r.label if len(r.label) <= LABEL_WIDTH else r.label[:LABEL_WIDTH - 1] + "…"  # short already
        label = markup_safe(f"({label})" if r.muted else label)  # a DataTable reads a str cell as markup
        cells = {"key": key, "label": label, "status": r.status, "loss": r.loss, "val_accuracy": r.val_accuracy,
                 "rank": r.rank, "spread": r.spread, "wins": r.wins}
        return tuple(cells[k] for k, _ in cols)
