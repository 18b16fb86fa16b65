"""ExperimentConfig: every setting of an experiment, frozen and validated (ranges the engine can honour)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from initdash.data import DEFAULT_DATA
from initdash.errors import UserError
from initdash.initializers import DEFAULT_INITIALIZERS, FLOAT32_MAX, InitSpec, parse_spec
from initdash.limits import MAX_BATCH, MAX_EPOCHS, MAX_ID, MAX_REPEATS, MAX_SPLIT_SEED
from initdash.models.spec import ModelSpec

OPTIMIZERS = ("rmsprop", "sgd", "adam")
# Keras 3 defaults: RMSprop(lr=0.001, rho=0.9, epsilon=1e-7), SGD(lr=0.01), Adam(lr=0.001, epsilon=1e-7).
DEFAULT_LR = {"rmsprop": 0.001, "sgd": 0.01, "adam": 0.001}
DEVICES = ("cpu", "cuda", "auto")
ExecutorName = Literal["local", "ray"]  # where a sweep's units train (initdash.executors)
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)

# The settings of an experiment as flags, TOML keys and presets name them (dashes become underscores).
SETTINGS = ("data", "target", "split_seed", "model", "hidden", "activation", "channels", "depth", "optimizer",
            "lr", "batch_size", "epochs", "init", "repeats", "seed", "device", "executor", "ray_address",
            "layer_stats")
# Settings that change how fast or where a session trains, or what it records besides its metrics, not its
# numbers: --open may change them.
RUNTIME_SETTINGS = ("repeats", "executor", "ray_address", "layer_stats")



@dataclass(frozen=True)
class ExperimentConfig:
    """What to train: data, model, optimizer, initializers, seeds. Same config + seed = same numbers."""

    data: str = DEFAULT_DATA
    target: str | None = None
    split_seed: int = 42
    model: ModelSpec = field(default_factory=ModelSpec)
    optimizer: str = "rmsprop"
    lr: float | None = None
    batch_size: int = 16
    epochs: int = 5
    initializers: tuple[InitSpec, ...] = field(
        default_factory=lambda: tuple(parse_spec(n) for n in DEFAULT_INITIALIZERS))
    repeats: int = 1
    seed: int = 0
    device: str = "cpu"
    executor: str = "local"
    ray_address: str | None = None
    data_digest: str = ""  # sha256 of a data file's bytes ("" for built-in data)
    # Per-layer statistics every epoch (activation std, gradient norm): what the dashboard's signal view
    # shows; headless runs record them only when asked (--layer-stats), as they cost up to 40% of training.
    layer_stats: bool = False

    def __post_init__(self) -> None:
        _range("--epochs", self.epochs, 1, MAX_EPOCHS)
        _range("--batch-size", self.batch_size, 1, MAX_BATCH)
        _range("--repeats", self.repeats, 1, MAX_REPEATS)
        _range("--seed", self.seed, 0, MAX_ID)
        _range("--split-seed", self.split_seed, 0, MAX_SPLIT_SEED)
        _check(self.optimizer in OPTIMIZERS,
               f"unknown optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        # Weights are float32: a rate that is not a finite float32 turns every step into inf.
        _check(self.lr is None or (math.isfinite(self.lr) and 0 < self.lr <= FLOAT32_MAX),
               f"--lr must be a number > 0 and at most {FLOAT32_MAX:.4g} (float32), got {self.lr}")
        _check(len(self.initializers) >= 1, "need at least one initializer")
        _check(self.device in DEVICES, f"unknown device {self.device!r} (choose from {', '.join(DEVICES)})")
        _check(self.executor in EXECUTORS,
               f"unknown executor {self.executor!r} (choose from {', '.join(EXECUTORS)})")
        _check(self.ray_address is None or self.executor == "ray", "--ray-address needs --executor ray")
        _check(isinstance(self.layer_stats, bool), f"layer-stats must be true or false, got {self.layer_stats!r}")

    @property
    def learning_rate(self) -> float:
        """The learning rate in effect: --lr, else the optimizer's Keras default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def with_changes(self, **changes: Any) -> ExperimentConfig:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON-ready values, as given (lr is None when it is the optimizer's default)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["model"] = self.model.settings()
        d["initializers"] = [s.label for s in self.initializers]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentConfig:
        """The config that to_dict() described; also reads the settings of older versions (an MLP's `hidden`
        and `activation` at the top level, no model)."""
        d = dict(d)
        model = d.pop("model", None)
        hidden, activation = tuple(d.pop("hidden", ()) or ()), d.pop("activation", "relu")
        if model is None:
            model = {"name": "mlp" if hidden else "linear", "hidden": list(hidden), "activation": activation}
        d["model"] = ModelSpec.from_settings(model)
        d["initializers"] = tuple(parse_spec(label) for label in d.get("initializers", DEFAULT_INITIALIZERS))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def _range(flag: str, value: int, low: int, high: int) -> None:
    _check(low <= value <= high, f"{flag} must be a whole number from {low} to {high}, got {value}")
