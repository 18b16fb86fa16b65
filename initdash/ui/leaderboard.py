"""The leaderboard: one row per initializer with its status, latest metrics and rank."""

from __future__ import annotations

from textual.widgets import DataTable

from initdash.ui.views import Row

COLUMNS = (("key", "#"), ("label", "initializer"), ("status", "status"), ("loss", "loss"),
           ("accuracy", "accuracy"), ("val_accuracy", "val acc"), ("rank", "rank"))


class Leaderboard(DataTable):
    """A DataTable kept in place: cells change, rows are only rebuilt when the initializers change."""

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.zebra_stripes = True
        for key, title in COLUMNS:
            self.add_column(title, key=key)

    def show(self, rows: list[Row]) -> None:
        """Bring the table up to date with `rows`."""
        labels = [r.label for r in rows]
        if labels != [str(k.value) for k in self.rows]:
            self.clear()
            for r in rows:
                self.add_row(*self._cells(r), key=r.label)
            return
        for r in rows:
            for (col, _), value in zip(COLUMNS, self._cells(r)):
                if self.get_cell(r.label, col) != value:
                    self.update_cell(r.label, col, value, update_width=True)

    @staticmethod
    def _cells(r: Row) -> tuple[str, ...]:
        key = f"{r.key}" if r.key <= 9 else ""
        label = f"({r.label})" if r.hidden else r.label
        return (key, label, r.status, r.loss, r.accuracy, r.val_accuracy, r.rank)
