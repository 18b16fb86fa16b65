"""What training workers tell the rest of the program: plain dataclasses, each with its sweep's id.

No torch and no textual here: the engine produces these; the Recorder, the Session, the UI and the store
consume them. Words: a *run* is one model (one initializer, one seed); a *unit* is one initializer's runs
in one sweep (its repeats), trained together by one worker of an executor, which sends these events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Metric = Literal["loss", "accuracy", "val_loss", "val_accuracy"]
METRICS: tuple[Metric, ...] = get_args(Metric)
LayerMetric = Literal["activation_std", "grad_norm"]  # one value per Linear/Conv layer, in forward order
LAYER_METRICS: tuple[LayerMetric, ...] = get_args(LayerMetric)

# How one run ended (or stands): ok while it trains and once it trained to the end.
RunStatus = Literal["ok", "diverged", "cancelled", "failed", "interrupted"]
OK: RunStatus = "ok"
DIVERGED: RunStatus = "diverged"
CANCELLED: RunStatus = "cancelled"  # its sweep was replaced by a rerun
FAILED: RunStatus = "failed"  # its worker raised
INTERRUPTED: RunStatus = "interrupted"  # the process stopped (q, Ctrl-C, a signal, a crash) before it ended


@dataclass(frozen=True)
class EpochReport:
    """Metrics of every run of one worker at the end of an epoch (epoch 0: before training)."""

    epoch: int
    values: dict[str, tuple[float, ...]]  # metric -> one value per run (nan once a run stopped)
    statuses: tuple[str, ...]  # per run: ok while it trains, diverged once it has
    # Models with hidden layers: "activation_std" / "grad_norm" -> per run, one value per layer (None: not finite)
    layers: dict[str, tuple[tuple[float | None, ...], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """One run, whole: its seed, how it ended, and one metrics dict per evaluated epoch."""

    seed: int
    status: str
    history: tuple[dict, ...]


@dataclass(frozen=True)
class UnitStarted:
    """A worker began training an initializer's runs (one per seed)."""

    sweep_id: int
    initializer: str
    seeds: tuple[int, ...]
    layer_names: tuple[str, ...] = ()  # the layers that per-layer statistics are about (module paths)
    # A grid (initdash.grid): each run's learning rate, and the width of every run of the unit (None: no width axis)
    lrs: tuple[float, ...] = ()
    width: int | None = None


@dataclass(frozen=True)
class EpochDone:
    """A worker finished (and evaluated) an epoch of all its runs."""

    sweep_id: int
    initializer: str
    report: EpochReport


@dataclass(frozen=True)
class UnitFinished:
    """A worker is done: every run's outcome (ok, diverged or cancelled)."""

    sweep_id: int
    initializer: str
    outcomes: tuple[RunOutcome, ...]


@dataclass(frozen=True)
class UnitFailed:
    """A worker raised: its message for the screen, its traceback for the log."""

    sweep_id: int
    initializer: str
    message: str
    traceback: str
    seeds: tuple[int, ...] = ()  # the runs that failed with it (a worker may fail before UnitStarted)
    lrs: tuple[float, ...] = ()  # a grid: each of those runs' learning rate


Event = UnitStarted | EpochDone | UnitFinished | UnitFailed
EVENT_TYPES: dict[str, type] = {t.__name__: t for t in (UnitStarted, EpochDone, UnitFinished, UnitFailed)}
# Names that histories written before 0.3 stored: still read, never written.
EVENT_ALIASES: dict[str, str] = {"RunStarted": "UnitStarted", "RunFinished": "UnitFinished", "RunFailed": "UnitFailed"}
