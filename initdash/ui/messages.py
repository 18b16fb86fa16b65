"""Messages that cross from background threads into the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from initdash.events import Event


@dataclass
class TrainingEvent(Message):
    """A typed event from a training worker; never coalesced: every epoch is data."""

    event: Event


@dataclass
class DataLoaded(Message):
    """The Experiment loaded its data and connected its executor (off the UI thread), or says why not."""

    error: str = ""  # empty: ready
    fatal: bool = False  # the executor could not connect: the dashboard cannot go on
