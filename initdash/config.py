"""ExperimentConfig: every setting of an experiment, frozen and validated by the settings model (initdash.settings:
types and ranges the engine can honour), however the settings arrived."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from initdash.data import DEFAULT_DATA
from initdash.initializers import DEFAULT_INITIALIZERS, DEFAULT_ROLES, InitSpec, parse_spec
from initdash.models.roles import Role
from initdash.models.spec import ModelSpec
from initdash.settings import (
    DEFAULT_DESIGN,
    DESIGNS,
    DEVICES,
    EXECUTORS,
    INDEPENDENT,
    OPTIMIZERS,
    PAIRED,
    ConfigSettings,
    Design,
    ExecutorName,
    modern,
    validated,
)

__all__ = ["DEFAULT_DESIGN", "DEFAULT_LR", "DESIGNS", "DEVICES", "EXECUTORS", "INDEPENDENT", "OPTIMIZERS", "PAIRED",
           "OUTPUT_SETTINGS", "RUNTIME_SETTINGS", "SETTINGS", "Design", "ExecutorName", "ExperimentConfig"]

# Keras 3 defaults: RMSprop(lr=0.001, rho=0.9, epsilon=1e-7), SGD(lr=0.01), Adam(lr=0.001, epsilon=1e-7).
DEFAULT_LR = {"rmsprop": 0.001, "sgd": 0.01, "adam": 0.001}

# The settings of an experiment as flags, TOML keys and presets name them (dashes become underscores).
SETTINGS = ("data", "target", "split_seed", "model", "hidden", "activation", "channels", "depth", "optimizer",
            "lr", "width", "batch_size", "epochs", "init", "apply_to", "repeats", "seed", "design", "device",
            "executor", "ray_address", "layer_stats")
# What a config file may also say: where this run's outputs go (not settings of the experiment).
OUTPUT_SETTINGS = ("tensorboard",)
# Settings that change how fast or where a session trains, or what it records besides its metrics, not its
# numbers: --open may change them.
RUNTIME_SETTINGS = ("repeats", "executor", "ray_address", "layer_stats")


def open_may_change() -> str:
    """What --open lets a command line change (the runtime settings and --sweeps), as its errors say it."""
    flags = ["--" + k.replace("_", "-") for k in ("repeats", "sweeps", *RUNTIME_SETTINGS[1:])]
    return f"({', '.join(flags[:-1])} and {flags[-1]} may change)"


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train: data, model, optimizer, initializers, seeds. Same config + seed = same numbers."""

    data: str = DEFAULT_DATA
    target: str | None = None
    split_seed: int = 42
    model: ModelSpec = field(default_factory=ModelSpec)
    optimizer: str = "rmsprop"
    lr: float | None = None
    # A grid (initdash.grid): learning rates and widths, each (initializer, lr, width) a cell; () when not an axis
    lrs: tuple[float, ...] = ()
    widths: tuple[int, ...] = ()
    batch_size: int = 16
    epochs: int = 5
    initializers: tuple[InitSpec, ...] = field(
        default_factory=lambda: tuple(parse_spec(n) for n in DEFAULT_INITIALIZERS))
    repeats: int = 1
    seed: int = 0
    design: Design = DEFAULT_DESIGN
    device: str = "cpu"
    executor: str = "local"
    ray_address: str | None = None
    data_digest: str = ""  # sha256 of a data file's bytes ("" for built-in data)
    apply_to: tuple[Role, ...] = DEFAULT_ROLES  # the roles the initializers act on; the others get Keras' defaults
    # What initialization left to the module (audit.coverage), recorded when the session began: one line each.
    left_to_module: tuple[str, ...] = ()
    # Per-layer statistics every epoch (activation std, gradient norm): what the dashboard's signal view
    # shows; headless runs record them only when asked (--layer-stats), as they cost up to 40% of training.
    layer_stats: bool = False

    def __post_init__(self) -> None:
        validated(ConfigSettings, self.to_dict(), flags=True)  # the one settings model: types and ranges

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
        d["initializers"] = [s.setting for s in self.initializers]
        if any(s.digest for s in self.initializers):  # a user's initializer file, as a model file's hash
            d["initializer_digests"] = {s.setting: s.digest for s in self.initializers if s.digest}
        d["apply_to"], d["left_to_module"] = list(self.apply_to), list(self.left_to_module)
        d["lrs"], d["widths"] = list(self.lrs), list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> ExperimentConfig:
        """The config that to_dict() described (or an older version's), validated whole by the settings model
        (a UserError starting with `where` names the first bad setting)."""
        s = validated(ConfigSettings, modern(d), where)
        # Every field the settings model validated, by name (a new setting cannot be forgotten here), lists as
        # tuples; then the ones that are objects, not plain values.
        plain = {f.name: getattr(s, f.name) for f in fields(cls) if f.name in type(s).model_fields}
        plain = {k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}
        digests = s.initializer_digests
        initializers = tuple(replace(parse_spec(setting), digest=digests.get(setting, ""))
                             for setting in s.initializers)
        return cls(**{**plain, "model": ModelSpec.from_settings(s.model.model_dump()), "initializers": initializers,
                      "apply_to": tuple(s.apply_to) or DEFAULT_ROLES})
