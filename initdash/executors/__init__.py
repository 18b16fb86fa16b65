"""Executors: where a sweep's units of work train (local threads by default, or a Ray cluster)."""

from __future__ import annotations

from typing import Literal, get_args

ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)
