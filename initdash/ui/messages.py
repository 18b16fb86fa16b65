"""Messages that cross from background threads into the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from initdash.data import Dataset
from initdash.events import Event


@dataclass
class TrainingEvent(Message):
    """A typed event from a training worker; never coalesced: every epoch is data."""

    event: Event


@dataclass
class DataLoaded(Message):
    """The data set (loaded off the UI thread, after the first frame) and the executor are ready, or not."""

    dataset: Dataset | None
    error: str = ""
    executor: object = None  # the executor connected off the UI thread, if it was not before
    fatal: bool = False  # the executor could not connect: the dashboard cannot go on
