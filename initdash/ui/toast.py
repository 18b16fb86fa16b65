"""One toast at a time: a new one replaces the one on screen (four presses of m leave one, not four)."""

from __future__ import annotations

from textual.app import App
from textual.notifications import SeverityLevel


def toast(app: App, text: str, *, title: str = "", severity: SeverityLevel = "information",
          timeout: float = 3.0) -> None:
    """Show `text` in a toast, replacing any toast still on screen."""
    app.clear_notifications()
    app.notify(text, title=title, severity=severity, timeout=timeout, markup=False)
