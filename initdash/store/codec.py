"""Events as JSON and back, generically from the dataclasses in initdash.events: every float exactly.

A body holds an event's fields but its sweep id and initializer (columns of their own). Tuples come back as
tuples and nested dataclasses (EpochReport, RunOutcome) as themselves, by the types the dataclasses declare;
JSON keeps ints and floats apart, writes floats by repr (which reads back bit for bit) and NaN/Infinity too.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

from initdash.events import EVENT_ALIASES, EVENT_TYPES, Event

_COLUMNS = ("sweep_id", "initializer")  # stored beside the body, not in it


def encode(event: Event) -> tuple[str, str, str]:
    """(kind, initializer, JSON body) of one event."""
    body = {f.name: _plain(getattr(event, f.name)) for f in fields(event) if f.name not in _COLUMNS}
    return type(event).__name__, event.initializer, json.dumps(body, separators=(",", ":"), default=_scalar)


def decode(kind: str, sweep_id: int, initializer: str, body: str) -> Event:
    """The event that encode() described, as one of `sweep_id`; ValueError if it is not one we know."""
    cls = EVENT_TYPES.get(EVENT_ALIASES.get(kind, kind))
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    return _build(cls, {**json.loads(body), "sweep_id": sweep_id, "initializer": initializer})


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _scalar(value: Any) -> Any:
    """numpy scalars and arrays, should one reach an event: their Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    return cls(**{f.name: _typed(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data})


def _typed(tp: Any, value: Any) -> Any:
    """`value` (as JSON read it) shaped as the type `tp` declares: tuples, nested dataclasses."""
    if value is None:
        return None
    if is_dataclass(tp):
        return _build(tp, value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is list:
        return [_typed(args[0], v) for v in value] if args else list(value)
    if origin is dict:
        return {k: _typed(args[1], v) for k, v in value.items()} if args else dict(value)
    if origin in (typing.Union, types.UnionType):
        return _typed(next(a for a in args if a is not type(None)), value)
    return value
