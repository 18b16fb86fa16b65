"""Plain-text tables and the number formats every table uses: one mean, one mean ± std, one table writer."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def plural(n: int, word: str) -> str:
    """`1 sweep`, `2 sweeps`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def mean(values: Sequence[float]) -> float:
    """The mean (nan for no values)."""
    return math.fsum(values) / len(values) if values else math.nan


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (std 0 for one value; both nan for none)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = mean(values)
    if n == 1:
        return m, 0.0
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))


def fmt(value: float | None, digits: int = 4) -> str:
    """A number with `digits` decimals; `-` for none or nan."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def mean_pm_std(values: Sequence[float], digits: int = 4, sep: str = " ± ") -> str:
    """`mean ± std` of the values; the mean alone for one value; `-` for none."""
    if not values:
        return "-"
    m, s = mean_std(values)
    return fmt(m, digits) if len(values) == 1 else f"{fmt(m, digits)}{sep}{fmt(s, digits)}"


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]], left: Iterable[int] = (0,)) -> str:
    """Columns aligned (numbers right, columns in `left` left), a rule under the header, no trailing spaces."""
    from initdash.text import safe

    rows = [list(map(safe, r)) for r in rows]
    widths = [max(len(r[k]) for r in [list(header), *rows]) for k in range(len(header))]
    left = set(left)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if k in left else c.rjust(w)
                         for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])
