"""A fixed, recorded Session (no training) for snapshot and view tests: stable on every machine."""

from __future__ import annotations

import math

import numpy as np

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.events import DIVERGED, OK, EpochDone, EpochReport, RunOutcome, UnitFinished, UnitStarted
from initdash.initializers import parse_list
from initdash.session import Session

LONG_SPECS = "zeros,uniform,he_normal,variance_scaling:scale=2,mode=fan_out,distribution=uniform,orthogonal:gain=1.5"
LAYER_NAMES = ("features.0", "features.3", "features.6", "classifier.1", "classifier.4")


def tiny_dataset() -> Dataset:
    """A 4-feature stand-in with the banknote-like name; the UI only reads its description."""
    x = np.zeros((8, 4), dtype=np.float32)
    y = np.array([0, 1] * 4, dtype=np.float32)
    return Dataset("banknote-like", x[:6], y[:6], x[6:], y[6:], ("a", "b", "c", "d"), ("0", "1"), True)


def curve(i: int, sweep: int, repeat: int, epochs: int, layers: int = 0, label: str = "") -> list[dict]:
    """A smooth made-up history that differs per initializer, sweep and repeat; with `layers`, per-layer
    activation std and gradient norm too (zeros: activations 0, as the real zeros init gives)."""
    rows = []
    for e in range(epochs + 1):
        shift = 0.02 * ((i * 7 + sweep * 3 + repeat * 5) % 11) / 11
        loss = 0.35 + 0.36 * math.exp(-e * (0.2 + 0.1 * i)) + shift
        acc = 0.55 + 0.3 * (1 - math.exp(-e * (0.3 + 0.05 * i))) - shift
        row: dict = {"epoch": e, "loss": loss, "accuracy": acc, "val_loss": loss + 0.01, "val_accuracy": acc - 0.01}
        if layers:
            zero = label == "zeros"
            row["activation_std"] = [0.0 if zero else (0.4 + 0.3 * i) * (0.5 + 0.1 * i) ** k for k in range(layers)]
            row["grad_norm"] = [0.0 if zero and k < layers - 1 else 0.01 * (2 + i) * 3 ** k / (1 + e)
                                for k in range(layers)]
        rows.append(row)
    return rows


def recorded_session(sweeps: int = 1, repeats: int = 1, epochs: int = 5, diverge: str | None = None,
                     initializers: str | None = None, layers: bool = False) -> Session:
    """A Session of `sweeps` finished sweeps fed through the same events the workers send."""
    config = ExperimentConfig(seed=7, epochs=epochs, repeats=repeats)
    if initializers is not None:
        config = config.with_changes(initializers=parse_list(initializers))
    session = Session(config, tiny_dataset().describe())
    names = LAYER_NAMES if layers else ()
    for _ in range(sweeps):
        sid = session.next_sweep_id
        session.begin_sweep(sid)
        for i, label in enumerate(session.labels()):
            seeds = tuple(1000 * sid + 10 * i + r for r in range(repeats))
            session.apply(UnitStarted(sid, label, seeds, names))
            outcomes = []
            for r, seed in enumerate(seeds):
                history = curve(i, sid, r, epochs, len(names), label)
                status = OK
                if label == diverge:
                    history, status = history[:3], DIVERGED
                outcomes.append(RunOutcome(seed, status, tuple(history)))
            for e in range(epochs + 1):
                values = {m: tuple(o.history[e][m] if e < len(o.history) else math.nan for o in outcomes)
                          for m in ("loss", "accuracy", "val_loss", "val_accuracy")}
                statuses = tuple(OK if e < len(o.history) else DIVERGED for o in outcomes)
                per_layer = {k: tuple(tuple(o.history[e][k]) if e < len(o.history) else () for o in outcomes)
                             for k in ("activation_std", "grad_norm")} if names else {}
                session.apply(EpochDone(sid, label, EpochReport(e, values, statuses, per_layer)))
            session.apply(UnitFinished(sid, label, tuple(outcomes)))
    return session
