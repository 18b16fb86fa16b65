"""Each initializer's colour and marker (the charts' legend is the leaderboard's # column), and the mark of
the earlier sweeps' band.

The colours are Okabe & Ito's colour-blind-safe hues (orange, sky blue, bluish green, yellow, blue,
vermillion, reddish purple) plus white, each moved to the nearest colour of the xterm 256-colour cube: a
terminal without true colour (tmux, most ssh sessions) shows exactly these instead of rounding two of them
to one (Okabe-Ito's own orange and yellow both became yellow there). tests/test_ui_views.py checks the
colour distance of every pair, for normal sight and simulated protanopia and deuteranopia.
With NO_COLOR every curve is the default colour and its marker tells them apart.
"""

from __future__ import annotations

COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 175, 0),    # orange (xterm 214)
    (95, 175, 255),   # sky blue (75)
    (0, 175, 135),    # bluish green (36)
    (255, 255, 95),   # yellow (227)
    (0, 95, 255),     # blue (27)
    (215, 95, 0),     # vermillion (166)
    (175, 95, 175),   # reddish purple (133)
    (255, 255, 255),  # white (231)
)
RICH_COLORS = tuple("#{:02x}{:02x}{:02x}".format(*c) for c in COLORS)
MARKERS = ("•", "+", "x", "o", "*", "#", "@", "%", "=")
BAND_MARKER = "·"  # earlier sweeps' min / mean / max: a mark no initializer uses


def color(index: int) -> tuple[int, int, int]:
    """The colour of the index-th initializer (0-based; the palette repeats past its end)."""
    return COLORS[index % len(COLORS)]


def rich_color(index: int) -> str:
    """The colour of the index-th initializer as `#rrggbb`."""
    return RICH_COLORS[index % len(RICH_COLORS)]


def marker(index: int) -> str:
    """The marker of the index-th initializer (NO_COLOR tells curves apart by it)."""
    return MARKERS[index % len(MARKERS)]
