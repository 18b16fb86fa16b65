"""Short, unique labels for initializers: the name plus the parameters that set it apart, cut to fit a
table cell. The full spec stays the key everywhere (help, the command palette, exports show it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from initdash.initializers import CATALOG, InitSpec

LABEL_WIDTH = 18  # the leaderboard's initializer column
# Long parameter values, said shorter in a label (the full spec is in help and exports).
_SHORT_VALUES = {"fan_in": "in", "fan_out": "out", "fan_avg": "avg", "truncated_normal": "trunc",
                 "untruncated_normal": "normal", "uniform": "unif"}


def _value(value: float | str) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    return value


def _name(spec: InitSpec) -> str:
    """The label without its parameters: `uniform`, `he_normal`, a user's `fixup.py:init`."""
    return replace(spec, params=()).label


def _distinct(spec: InitSpec, same_name: Sequence[InitSpec]) -> list[tuple[str, float | str]]:
    """The parameters of `spec` worth showing: set to something other than the default (a user's initializer
    has none) and, among specs of the same name, not the same in all of them."""
    defaults = {} if spec.user else CATALOG[spec.name].defaults
    given = [(k, v) for k, v in spec.params if defaults.get(k) != v]
    if len(same_name) < 2:
        return given
    values = [dict(s.resolved()) for s in same_name]
    return [(k, v) for k, v in given if len({str(d.get(k)) for d in values}) > 1] or given


def short_label(spec: InitSpec, same_name: Sequence[InitSpec] = (), width: int = LABEL_WIDTH) -> str:
    """`normal:std=0.5`; past `width`: values only with short words (`variance_scaling:2,out,unif`), then the
    name cut (`varian…:2,out,unif`), at last the whole cut."""
    name = _name(spec)
    params = _distinct(spec, same_name)
    if not params:
        return name if len(name) <= width else name[:width - 1] + "…"
    full = name + ":" + ",".join(f"{k}={_value(v)}" for k, v in params)
    if len(full) <= width:
        return full
    tail = ":" + ",".join(_SHORT_VALUES.get(_value(v), _value(v)) for _, v in params)
    if len(name) + len(tail) <= width:
        return name + tail
    room = width - len(tail) - 1
    if room >= 4:
        return name[:room] + "…" + tail
    return (name + tail)[:width - 1] + "…"


def short_labels(specs: Sequence[InitSpec], width: int = LABEL_WIDTH) -> dict[str, str]:
    """Full label -> short label for every spec; a short label that two specs would share is the full one."""
    by_name: dict[str, list[InitSpec]] = {}
    for s in specs:
        by_name.setdefault(_name(s), []).append(s)
    out = {s.label: short_label(s, by_name[_name(s)], width) for s in specs}
    taken = [v for v in out.values()]
    return {k: (k if taken.count(v) > 1 else v) for k, v in out.items()}


def shorten_labels(text: str, short: dict[str, str]) -> str:
    """`text` (a sentence of the statistics) with every full label in it replaced by its short label."""
    changed = sorted((k for k, v in short.items() if k != v), key=len, reverse=True)  # the longest match first
    if not changed:
        return text
    return re.sub("|".join(map(re.escape, changed)), lambda m: short[m.group(0)], text)
