"""What training workers tell the rest of the program: plain dataclasses, each with its sweep's id.

No torch and no textual here: the engine produces these, the Session, the UI and the store consume them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
LAYER_METRICS = ("activation_std", "grad_norm")  # MLPs: one value per hidden layer, first to last
OK, DIVERGED, CANCELLED, FAILED = "ok", "diverged", "cancelled", "failed"


@dataclass(frozen=True)
class EpochReport:
    """Metrics of every model of one worker at the end of an epoch (epoch 0: before training)."""

    epoch: int
    values: dict[str, tuple[float, ...]]  # metric -> one value per model (nan once a model stopped)
    statuses: tuple[str, ...]  # per model: ok while it trains, diverged once it has
    # MLPs only: "activation_std" / "grad_norm" -> per model, one value per hidden layer (None: not finite)
    layers: dict[str, tuple[tuple[float | None, ...], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """One model's whole run: its seed, how it ended, and one metrics dict per evaluated epoch."""

    seed: int
    status: str
    history: tuple[dict[str, float], ...]


@dataclass(frozen=True)
class RunStarted:
    """A worker began training an initializer's models (one per seed)."""

    sweep_id: int
    initializer: str
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class EpochDone:
    """A worker finished (and evaluated) an epoch of all its models."""

    sweep_id: int
    initializer: str
    report: EpochReport


@dataclass(frozen=True)
class RunFinished:
    """A worker is done: every model's outcome (ok, diverged or cancelled)."""

    sweep_id: int
    initializer: str
    outcomes: tuple[RunOutcome, ...]


@dataclass(frozen=True)
class RunFailed:
    """A worker raised: its message for the screen, its traceback for the log."""

    sweep_id: int
    initializer: str
    message: str
    traceback: str


Event = RunStarted | EpochDone | RunFinished | RunFailed
