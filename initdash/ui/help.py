"""The help screen: what initdash shows, and every key (generated from the app's bindings)."""

from __future__ import annotations

import textwrap

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

WIDTH = 90  # the help box is at most 100 columns wide, with padding
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
        lines = [*textwrap.wrap(ABOUT, WIDTH), "", "Keys:"]
        keys = [(b.key_display or b.key.replace("question_mark", "?"), b.tooltip or b.description)
                for b in self.app_bindings]
        for key, what in [*keys, ("ctrl+p", "command palette: every action by name")]:
            wrapped = textwrap.wrap(what, WIDTH - 13) or [""]
            lines.append(f"  {key:<10} {wrapped[0]}")
            lines += [" " * 13 + more for more in wrapped[1:]]
        lines += ["", "Press escape (or ?) to close."]
        with VerticalScroll(id="help-body"):
            yield Static("\n".join(lines), id="help-text", markup=False)
