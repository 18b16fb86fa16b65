"""Messages that cross from training threads into the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from initdash.events import Event


@dataclass
class TrainingEvent(Message):
    """A typed event from a training worker; never coalesced: every epoch is data."""

    event: Event

