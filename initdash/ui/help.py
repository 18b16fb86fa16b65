"""The help screen: what initdash shows, every key (generated from the app's and the main view's bindings) and
every initializer's full spec; it scrolls, with its scrollbar always shown."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "initdash trains the same network once per weight initializer and plots loss and accuracy per epoch. "
    "Press r to train everything again with fresh seeds: watch the ranking move. One run proves little."
)


class HelpScreen(ModalScreen[None]):
    """Keys, initializers and a short explanation; escape or ? closes it (q quits, as everywhere)."""

    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close help"), Binding("q", "app.quit", "Quit")]
    AUTO_FOCUS = "#help-body"  # the arrow keys and page up/down scroll it at once

    def __init__(self, bindings: list[Binding], initializers: list[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.app_bindings = bindings
        self.initializers = list(initializers)  # (short label, full spec) in key order

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))  # two columns: a description wraps under itself, not under its key
        keys.add_column(no_wrap=True)
        keys.add_column(ratio=1)
        same = {b.tooltip.removeprefix("the same as "): b.key_display or b.key for b in self.app_bindings
                if b.tooltip.startswith("the same as ")}  # `d / tab` on one row
        for b in self.app_bindings:
            key = b.key_display or b.key.replace("question_mark", "?")
            if not b.tooltip.startswith("the same as "):
                keys.add_row(f"{key} / {same[key]}" if key in same else key, b.tooltip or b.description)
        keys.add_row("ctrl+p", "command palette: every action by name")
        parts = [Text(ABOUT), Text(""), Text("Keys:", style="bold"), keys]
        if self.initializers:
            inits = Table.grid(padding=(0, 2))
            inits.add_column(no_wrap=True)
            inits.add_column(ratio=1)
            for k, (short, full) in enumerate(self.initializers, start=1):
                inits.add_row(str(k), Text(full if short == full else f"{short} = {full}"))
            parts += [Text(""), Text("Initializers (# as in the leaderboard):", style="bold"), inits]
        body = VerticalScroll(id="help-body")
        body.border_title = "initdash help"
        body.border_subtitle = "escape or ? closes · ↑ ↓ scroll"
        with body:
            yield Static(Group(*parts), id="help-text")
