"""The help screen: what initdash shows, and every key (generated from the app's and the main view's bindings)."""

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
    """Keys and a short explanation; escape or ? closes it (q quits, as everywhere)."""

    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close help"), Binding("q", "app.quit", "Quit")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.app_bindings = bindings

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))  # two columns: a description wraps under itself, not under its key
        keys.add_column(no_wrap=True)
        keys.add_column(ratio=1)
        for b in self.app_bindings:
            keys.add_row(b.key_display or b.key.replace("question_mark", "?"), b.tooltip or b.description)
        keys.add_row("ctrl+p", "command palette: every action by name")
        body = Group(Text(ABOUT), Text(""), Text("Keys:"), keys, Text(""), Text("Press escape (or ?) to close."))
        with VerticalScroll(id="help-body"):
            yield Static(body, id="help-text")
