"""The sweeps a pool of workers trains: what each still has to finish, and waiting for it to end."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from initdash.sweep import Sweep


class Ledger:
    """The sweeps a pool trains: what each still has to finish, and a condition to wait on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.open: dict[int, tuple[Sweep, int]] = {}  # serial -> (sweep, units not yet ended)
        self.serials: dict[int, int] = {}  # id(sweep) -> serial
        self.serial = 0

    def add(self, sweep: Sweep) -> int:
        """A new sweep's serial (its slot for as long as it trains)."""
        with self.cond:
            self.serial += 1
            self.open[self.serial] = (sweep, len(sweep.units))
            self.serials[id(sweep)] = self.serial
            return self.serial

    def serial_of(self, sweep: Sweep) -> int | None:
        """The serial of a sweep, while it trains."""
        with self.cond:
            return self.serials.get(id(sweep))

    def sweep(self, serial: int) -> Sweep | None:
        """The sweep of a serial, while it trains."""
        with self.cond:
            entry = self.open.get(serial)
            return entry[0] if entry else None

    def unit_ended(self, serial: int) -> None:
        """One more unit of the sweep is over (finished, failed, or skipped after a cancel)."""
        with self.cond:
            entry = self.open.get(serial)
            if entry is None:
                return
            if entry[1] <= 1:
                del self.open[serial]
                self.serials.pop(id(entry[0]), None)
                self.cond.notify_all()
            else:
                self.open[serial] = (entry[0], entry[1] - 1)

    def wait(self, sweep: Sweep, timeout: float | None) -> None:
        """Until every unit of the sweep ended, or `timeout` seconds."""
        with self.cond:
            serial = self.serials.get(id(sweep))
            if serial is not None:
                self.cond.wait_for(lambda: serial not in self.open, timeout)
