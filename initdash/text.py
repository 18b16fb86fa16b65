"""Outside text (file names, CSV headers, model messages, imported strings) made safe for where it is shown.

`safe` is for a terminal, a plain-text file, and Textual widgets that show plain text (Static(markup=False),
notify(markup=False)): every character that is not printable (ESC, the C1 controls, bidirectional overrides,
line and paragraph separators, ...) is shown as its Python escape (`\\x1b`), so no escape sequence reaches a
terminal and a one-line message stays one line. `markup_safe` is for where Rich markup is read (a DataTable's
str cells, Text.from_markup): the text is made safe, then its brackets escaped.
"""

from __future__ import annotations

KEEP_LINES = "\n\t"  # kept by safe(..., lines=True): text that is several lines by design (tracebacks, toasts)


def safe(text: object, lines: bool = False) -> str:
    """`text` with every non-printable character escaped (newlines and tabs kept if `lines`)."""
    text = str(text)
    if text.isprintable():  # the common case, at C speed
        return text
    keep = KEEP_LINES if lines else ""
    return "".join(c if c.isprintable() or c in keep else c.encode("unicode_escape").decode("ascii") for c in text)


def markup_safe(text: object, lines: bool = False) -> str:
    """`safe(text)` with Rich markup escaped: shown as written, `[bold]` and `[link=...]` included."""
    from rich.markup import escape

    return escape(safe(text, lines))


def one_line(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells, ending in "…" when something was cut (never a silent cut)."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)) + "…" if width > 0 else ""
