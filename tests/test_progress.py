"""Progress while a sweep trains: epochs done of all, elapsed, an ETA; a live line on a terminal, a line every
few seconds elsewhere; each unit's result as it ends."""

from __future__ import annotations

import io
import math
import re

from fakes import config

from initdash import headless
from initdash.cli import main
from initdash.events import UnitStarted
from initdash.progress import Eta, clock, epochs_done
from initdash.session import Session


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_eta_from_the_rate_since_the_first_report():
    now = Clock()
    eta = Eta(100, now)
    now.t += 30  # loading: not counted in the rate
    eta.update(0)
    assert math.isnan(eta.left) and eta.text() == "0/100 epochs · 0:30 elapsed · ETA …"
    now.t += 10
    eta.update(20)  # 2 epochs a second
    assert eta.left == 40 and eta.text() == "20/100 epochs · 0:40 elapsed · ETA 0:40"
    eta.update(100)
    assert eta.left == 0
    assert [clock(s) for s in (7, 754, 3723, math.nan)] == ["0:07", "12:34", "1:02:03", "-"]


def test_epochs_done_counts_ended_units_whole():
    session = Session(config("zeros,he_normal", epochs=4), "x")
    sweep = session.begin_sweep(1)
    session.apply(UnitStarted(1, "zeros", (1,)))
    sweep.initializers["zeros"].epoch = 2
    assert epochs_done(sweep, 4) == 2
    sweep.initializers["he_normal"].state = "failed"
    assert epochs_done(sweep, 4) == 6


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_line_in_place_on_a_terminal_and_every_few_seconds_elsewhere():
    now = Clock()
    tty, log = Tty(), io.StringIO()
    on_tty, on_log = headless.Progress(tty, now), headless.Progress(log, now)
    for step in range(20):  # 20 updates over 10 s
        on_tty.live(f"p{step}")
        on_log.live(f"p{step}")
        now.t += 0.5
    on_tty.line("zeros: done")
    assert log.getvalue() == "p0\np10\n"  # one line every LINE_EVERY_S (5 s)
    assert tty.getvalue().count("\r") >= 20 and "\n" not in tty.getvalue().split("zeros")[0]
    assert tty.getvalue().endswith("\r\x1b[Kzeros: done\np19")  # a whole line above the live one, redrawn


def test_headless_shows_an_eta_early_and_each_result_as_it_ends(capsys, monkeypatch):
    monkeypatch.setattr(headless, "LINE_EVERY_S", 0.0)  # every epoch's progress, to see the order
    rc = main(["--headless", "--epochs", "4", "--init", "zeros,he_normal,uniform", "--seed", "2", "--no-save"])
    err = capsys.readouterr().err
    assert rc == 0, err
    lines = err.splitlines()
    progress = [(i, line) for i, line in enumerate(lines) if " epochs · " in line]
    done = [i for i, line in enumerate(lines) if re.match(r"sweep 1  \S+: done", line)]
    first_eta = next(i for i, line in progress if re.search(r"ETA \d+:\d\d$", line))
    assert first_eta < done[0]  # an estimate before the first unit ends (a third of the way)
    assert len(done) == 3
    # Each unit's result comes as it ends, not all at the sweep's end: training goes on after the first one
    # (three units on at most two workers: the third starts only once one has ended).
    after_first = [line for i, line in progress if i > done[0]]
    assert any(int(line.split("/")[0]) < 12 for line in after_first)
    assert progress[-1][1].startswith("12/12 epochs")
