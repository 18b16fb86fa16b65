"""The grid: every (initializer, lr, width) point is a cell, with `--repeats` runs in every sweep.

`--lr X,Y,...` and `--width W,...` are the axes. A unit is one initializer at one width (its models share a
shape): its runs are every learning rate times every repeat, batched (the engine takes a learning rate per
model copy). A run's seeds are those of the single run of its setting, whatever its place in the grid, so a
cell's runs equal the runs `cell_config` describes (tests/test_grid.py checks it exactly).

Cells have keys (`he_normal lr=0.01 w=64`): the Session keeps one UnitRecord per cell under that key, so every
view of a Session (leaderboard, charts, statistics, exports) sees cells. Without axes a cell's key is the
initializer's label and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from initdash.config import ExperimentConfig
from initdash.events import EpochDone, EpochReport, Event, UnitFailed, UnitFinished, UnitStarted
from initdash.initializers import InitSpec


@dataclass(frozen=True)
class Cell:
    """One point of a grid: its key (as the Session names it), initializer, learning rate and width."""

    key: str
    initializer: str
    lr: float
    width: int | None  # None: the model's own sizes (no width axis)


@dataclass(frozen=True)
class UnitPlan:
    """One unit of a grid sweep: an initializer at one width, and the learning rates it batches."""

    key: str
    spec: InitSpec
    width: int | None
    lrs: tuple[float, ...]  # the learning-rate axis (one value without one)


def is_grid(config: ExperimentConfig) -> bool:
    """True when the config has a learning-rate or width axis."""
    return bool(config.lrs or config.widths)


def lr_axis(config: ExperimentConfig) -> tuple[float, ...]:
    """The learning rates of the grid (the one in effect without an lr axis)."""
    return config.lrs or (config.learning_rate,)


def width_axis(config: ExperimentConfig) -> tuple[int | None, ...]:
    """The widths of the grid ((None,) without a width axis)."""
    return config.widths or (None,)


def unit_key(label: str, width: int | None) -> str:
    """How events name the unit of `label` at `width`."""
    return label if width is None else f"{label} w={width}"


def cell_key(config: ExperimentConfig, label: str, lr: float, width: int | None) -> str:
    """How the Session names a cell: the label, then the axes the config has."""
    lr_part = f" lr={lr:g}" if config.lrs else ""
    return label + lr_part + ("" if width is None else f" w={width}")


def units(config: ExperimentConfig) -> list[UnitPlan]:
    """Every unit of a sweep: initializers in config order, then widths."""
    return [UnitPlan(unit_key(spec.label, w), spec, w, lr_axis(config))
            for spec in config.initializers for w in width_axis(config)]


def cells(config: ExperimentConfig) -> list[Cell]:
    """Every cell: initializers in config order, then widths, then learning rates."""
    return [Cell(cell_key(config, spec.label, lr, w), spec.label, lr, w)
            for spec in config.initializers for w in width_axis(config) for lr in lr_axis(config)]


def unit_cells(config: ExperimentConfig) -> dict[str, list[str]]:
    """A grid's unit keys -> the keys of its cells ({} without axes: a unit is its one cell)."""
    if not is_grid(config):
        return {}
    out: dict[str, list[str]] = {}
    for c in cells(config):
        out.setdefault(unit_key(c.initializer, c.width), []).append(c.key)
    return out


def unit_config(config: ExperimentConfig, width: int | None) -> ExperimentConfig:
    """The config a unit trains with: no axes, its model at `width`."""
    if not is_grid(config):
        return config
    model = config.model if width is None else config.model.at_width(width)
    return config.with_changes(lrs=(), widths=(), model=model)


def cell_config(config: ExperimentConfig, lr: float, width: int | None) -> ExperimentConfig:
    """The single setting of one cell: training it gives that cell's runs, number for number."""
    return unit_config(config, width).with_changes(lr=lr)


def part(event: Event, indices: list[int] | None) -> Event:
    """The event as it concerns the runs at `indices` of its unit (None: all of them)."""
    if indices is None:
        return event

    def pick(values: tuple) -> tuple:
        return tuple(values[i] for i in indices if i < len(values))

    if isinstance(event, UnitStarted):
        return replace(event, seeds=pick(event.seeds), lrs=pick(event.lrs))
    if isinstance(event, EpochDone):
        rep = event.report
        return replace(event, report=EpochReport(rep.epoch, {m: pick(v) for m, v in rep.values.items()},
                                                 pick(rep.statuses), {k: pick(v) for k, v in rep.layers.items()}))
    if isinstance(event, UnitFinished):
        return replace(event, outcomes=pick(event.outcomes))
    if isinstance(event, UnitFailed):
        return replace(event, seeds=pick(event.seeds), lrs=pick(event.lrs))
    return event


def indices_of(lrs: tuple[float, ...], lr: float | None) -> list[int] | None:
    """The runs of a unit that belong to the cell of learning rate `lr` (None: all: no per-run rates known)."""
    if not lrs or lr is None:
        return None
    return [i for i, x in enumerate(lrs) if x == lr]
