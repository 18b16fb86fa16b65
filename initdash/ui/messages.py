"""Every message of the dashboard: what crosses from background threads (training, data loading, statistics,
chart builds) into the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from initdash.events import Event

if TYPE_CHECKING:
    from textual.strip import Strip

    from initdash.config import ExperimentConfig
    from initdash.stats import SessionStats


@dataclass
class TrainingEvent(Message):
    """A typed event from a training worker; never coalesced: every epoch is data."""

    event: Event


@dataclass
class DataLoaded(Message):
    """The Experiment loaded its data and connected its executor (off the UI thread), or says why not."""

    error: str = ""  # empty: ready
    fatal: bool = False  # the executor could not connect: the dashboard cannot go on


@dataclass
class StatsReady(Message):
    """Statistics across sweeps for `key`, computed off the UI thread: a result, or why there is none."""

    key: tuple
    result: SessionStats | None
    error: str = ""  # the computation failed: said instead of "computing…" forever


@dataclass
class ChartBuilt(Message):
    """A chart's background build finished (or failed: then its strips say why)."""

    key: tuple
    strips: list[Strip]

    def can_replace(self, message: Message) -> bool:
        """A newer build of the same chart makes an older one still in the queue worthless."""
        return isinstance(message, ChartBuilt)


@dataclass
class SweepReserved(Message):
    """The history handed out the next sweep's id (off the event loop): the sweep can start."""

    token: int  # which press of r asked for it: an older one is dropped
    sweep_id: int
    config: ExperimentConfig
