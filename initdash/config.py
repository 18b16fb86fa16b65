"""ExperimentConfig: every setting of an experiment, frozen and validated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from initdash.data import DEFAULT_DATA
from initdash.errors import UserError
from initdash.initializers import DEFAULT_INITIALIZERS, InitSpec, parse_spec

OPTIMIZERS = ("rmsprop", "sgd", "adam")
# Keras 3 defaults: RMSprop(lr=0.001, rho=0.9, epsilon=1e-7), SGD(lr=0.01), Adam(lr=0.001, epsilon=1e-7).
DEFAULT_LR = {"rmsprop": 0.001, "sgd": 0.01, "adam": 0.001}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu", "selu", "silu", "leaky_relu", "linear")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train: data, model, optimizer, initializers, seeds. Same config + seed = same numbers."""

    data: str = DEFAULT_DATA
    target: str | None = None
    split_seed: int = 42
    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    optimizer: str = "rmsprop"
    lr: float | None = None
    batch_size: int = 16
    epochs: int = 5
    initializers: tuple[InitSpec, ...] = field(
        default_factory=lambda: tuple(parse_spec(n) for n in DEFAULT_INITIALIZERS))
    repeats: int = 1
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"--epochs must be a positive whole number, got {self.epochs}")
        _check(self.batch_size >= 1, f"--batch-size must be a positive whole number, got {self.batch_size}")
        _check(self.repeats >= 1, f"--repeats must be a positive whole number, got {self.repeats}")
        _check(self.optimizer in OPTIMIZERS,
               f"unknown optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        _check(self.activation in ACTIVATIONS,
               f"unknown activation {self.activation!r} (choose from {', '.join(ACTIVATIONS)})")
        _check(all(h >= 1 for h in self.hidden), f"--hidden sizes must be positive, got {self.hidden}")
        # inf passes `> 0` but trains to nonsense and cannot be written to JSON: require a finite rate.
        _check(self.lr is None or (math.isfinite(self.lr) and self.lr > 0),
               f"--lr must be a finite number > 0, got {self.lr}")
        _check(len(self.initializers) >= 1, "need at least one initializer")
        _check(0 <= self.seed < 2**63, f"--seed must be between 0 and 2**63-1, got {self.seed}")
        _check(0 <= self.split_seed < 2**32, f"--split-seed must be between 0 and 2**32-1, got {self.split_seed}")
        _check(self.device in DEVICES, f"unknown device {self.device!r} (choose from {', '.join(DEVICES)})")

    @property
    def learning_rate(self) -> float:
        """The learning rate in effect: --lr, else the optimizer's Keras default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def model_label(self) -> str:
        """e.g. `Linear(4->1)+sigmoid` is written by the engine; here: `lesson` or `MLP 16-16 relu`."""
        if not self.hidden:
            return "Dense(1, sigmoid)"
        return f"MLP {'-'.join(map(str, self.hidden))} {self.activation}"

    def with_changes(self, **changes: Any) -> ExperimentConfig:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON-ready values."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["initializers"] = [s.label for s in self.initializers]
        d["lr"] = self.learning_rate
        return d


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)
