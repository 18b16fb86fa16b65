"""The help screen: what initdash shows, and every key (generated from the app's bindings)."""

from __future__ import annotations

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
    """Keys and a short explanation; any of escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.app_bindings = bindings

    def compose(self) -> ComposeResult:
        lines = [ABOUT, "", "Keys:"]
        for b in self.app_bindings:
            keys = b.key_display or b.key.replace("question_mark", "?")
            lines.append(f"  {keys:<10} {b.tooltip or b.description}")
        lines += ["  ctrl+p     command palette (every action by name)", "", "Press escape to close."]
        with VerticalScroll(id="help-body"):
            yield Static("\n".join(lines), id="help-text", markup=False)
