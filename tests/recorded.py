"""A fixed, recorded Session (no training) for snapshot and view tests: stable on every machine."""

from __future__ import annotations

import math

import numpy as np

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.events import DIVERGED, OK, EpochDone, EpochReport, RunOutcome, UnitFinished, UnitStarted
from initdash.session import Session


def tiny_dataset() -> Dataset:
    """A 4-feature stand-in with the banknote-like name; the UI only reads its description."""
    x = np.zeros((8, 4), dtype=np.float32)
    y = np.array([0, 1] * 4, dtype=np.float32)
    return Dataset("banknote-like", x[:6], y[:6], x[6:], y[6:], ("a", "b", "c", "d"), ("0", "1"), True)


def curve(i: int, sweep: int, repeat: int, epochs: int) -> list[dict[str, float]]:
    """A smooth made-up history that differs per initializer, sweep and repeat."""
    rows = []
    for e in range(epochs + 1):
        shift = 0.02 * ((i * 7 + sweep * 3 + repeat * 5) % 11) / 11
        loss = 0.35 + 0.36 * math.exp(-e * (0.2 + 0.1 * i)) + shift
        acc = 0.55 + 0.3 * (1 - math.exp(-e * (0.3 + 0.05 * i))) - shift
        rows.append({"epoch": e, "loss": loss, "accuracy": acc, "val_loss": loss + 0.01, "val_accuracy": acc - 0.01})
    return rows


def recorded_session(sweeps: int = 1, repeats: int = 1, epochs: int = 5, diverge: str | None = None) -> Session:
    """A Session of `sweeps` finished sweeps fed through the same events the workers send."""
    config = ExperimentConfig(seed=7, epochs=epochs, repeats=repeats)
    session = Session(config, tiny_dataset().describe())
    for _ in range(sweeps):
        sid = session.next_sweep_id
        session.begin_sweep(sid)
        for i, label in enumerate(session.labels()):
            seeds = tuple(1000 * sid + 10 * i + r for r in range(repeats))
            session.apply(UnitStarted(sid, label, seeds))
            outcomes = []
            for r, seed in enumerate(seeds):
                history = curve(i, sid, r, epochs)
                status = OK
                if label == diverge:
                    history, status = history[:3], DIVERGED
                outcomes.append(RunOutcome(seed, status, tuple(history)))
            for e in range(epochs + 1):
                values = {m: tuple(o.history[e][m] if e < len(o.history) else math.nan for o in outcomes)
                          for m in ("loss", "accuracy", "val_loss", "val_accuracy")}
                statuses = tuple(OK if e < len(o.history) else DIVERGED for o in outcomes)
                session.apply(EpochDone(sid, label, EpochReport(e, values, statuses)))
            session.apply(UnitFinished(sid, label, tuple(outcomes)))
    return session
