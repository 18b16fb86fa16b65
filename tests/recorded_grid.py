"""A fixed, recorded grid Session (no training) for the grid view's snapshot and view tests."""

from __future__ import annotations

import math

from initdash import grid
from initdash.config import ExperimentConfig
from initdash.events import OK, EpochDone, EpochReport, Event, RunOutcome, UnitFinished, UnitStarted
from initdash.initializers import parse_list
from initdash.models.spec import ModelSpec
from initdash.session import Session

INITS = "normal,he_normal,lecun_normal"


def _final(init: int, lr: float, width: int | None, repeat: int) -> float:
    """A made-up final val_accuracy: each initializer has its own best learning rate, wider is a little better."""
    best = (1.0, 0.1, 0.03)[init]
    peak = 0.95 - 0.2 * init * (init == 0)
    acc = peak - 0.12 * (math.log10(lr) - math.log10(best)) ** 2 + 0.01 * math.log2((width or 64) / 64)
    return min(max(acc + 0.01 * (repeat - 1), 0.1), 1.0)


def grid_config(widths: tuple[int, ...] = (), lrs: tuple[float, ...] = (0.01, 0.1, 1.0), repeats: int = 3,
                epochs: int = 4, inits: str = INITS) -> ExperimentConfig:
    """The recorded grid's config: three initializers of a 3x64 MLP at these axes (`inits`: made up as the
    first, second and third of INITS)."""
    return ExperimentConfig(model=ModelSpec(name="mlp", hidden=(64, 64, 64)), lrs=lrs, widths=widths, seed=7,
                            epochs=epochs, repeats=repeats, initializers=parse_list(inits))


def grid_events(config: ExperimentConfig, sweep_id: int = 1) -> list[Event]:
    """Every event a worker sends for one sweep of the grid (a unit per initializer and width), unit by unit."""
    labels = [s.label for s in config.initializers]
    repeats, epochs = config.repeats, config.epochs
    out: list[Event] = []
    for plan in grid.units(config):
        i = labels.index(plan.spec.label)
        seeds = tuple(100 * i + r for r in range(repeats)) * len(plan.lrs)
        run_lrs = tuple(lr for lr in plan.lrs for _ in range(repeats))
        out.append(UnitStarted(sweep_id, plan.key, seeds, ("layers.0", "layers.1", "layers.2", "layers.3"),
                               run_lrs if config.lrs else (), plan.width))
        histories = []
        for k, lr in enumerate(run_lrs):
            final = _final(i, lr, plan.width, k % repeats)
            # mup's coordinate check: a fixed std (normal) grows like sqrt(width), variance scaling stays flat
            std = 0.05 * math.sqrt(plan.width or 64) if i == 0 else 0.8
            histories.append([{"epoch": e, "loss": 2.3 * (1 - final * e / epochs) + 0.05,
                               "accuracy": 0.1 + (final - 0.1) * e / epochs,
                               "val_loss": 2.3 * (1 - final * e / epochs) + 0.1,
                               "val_accuracy": 0.1 + (final - 0.1) * e / epochs,
                               "activation_std": [std * (1 + 0.1 * layer) for layer in range(4)],
                               "grad_norm": [0.1, 0.2, 0.3, 0.4]} for e in range(epochs + 1)])
        for e in range(epochs + 1):
            rows = [h[e] for h in histories]
            values = {m: tuple(r[m] for r in rows) for m in ("loss", "accuracy", "val_loss", "val_accuracy")}
            layers = {k: tuple(tuple(r[k]) for r in rows) for k in ("activation_std", "grad_norm")}
            out.append(EpochDone(sweep_id, plan.key, EpochReport(e, values, tuple(OK for _ in rows), layers)))
        out.append(UnitFinished(sweep_id, plan.key,
                                tuple(RunOutcome(s, OK, tuple(h)) for s, h in zip(seeds, histories))))
    return out


def recorded_grid_session(widths: tuple[int, ...] = (), lrs: tuple[float, ...] = (0.01, 0.1, 1.0),
                          repeats: int = 3, epochs: int = 4, inits: str = INITS) -> Session:
    """One finished sweep of a grid, fed through the events a worker sends (a unit per initializer and width)."""
    config = grid_config(widths, lrs, repeats, epochs, inits)
    session = Session(config, "tiny (synthetic)")
    session.begin_sweep(1)
    for event in grid_events(config):
        session.apply(event)
    return session
