"""The export format (what --out, `e` and `initdash export` write), as a validated model: an import is checked
whole against it before anything is written.

A run's initializer must be one of its config's; runs are unique per (sweep, initializer, repeat) and each
initializer's repeats in a sweep count 0, 1, ...; a history counts its epochs 0, 1, ... with none past the
config's epochs; metrics are finite numbers (a layer's statistic may be null: not finite when measured).
Older exports name a sweep `rerun`; the JSON is parsed by pydantic, whose parser bounds nesting.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator

from initdash.errors import UserError
from initdash.events import RunStatus
from initdash.limits import MAX_EPOCHS, MAX_ID, MAX_LAYERS, MAX_REPEATS, MAX_TEXT
from initdash.models.spec import MAX_WIDTH
from initdash.settings import ConfigSettings, Strict, modern, problem

Finite = float  # Strict models refuse NaN and infinity
Name = Annotated[str, Field(max_length=MAX_TEXT, description=f"text of at most {MAX_TEXT} characters")]


class Epoch(Strict):
    """One evaluated epoch of one run (epoch 0: before training)."""

    epoch: Annotated[int, Field(ge=0, le=MAX_EPOCHS, description=f"a whole number from 0 to {MAX_EPOCHS}")]
    loss: Finite
    accuracy: Annotated[float, Field(ge=0, le=1, description="a number from 0 to 1")]
    val_loss: Finite
    val_accuracy: Annotated[float, Field(ge=0, le=1, description="a number from 0 to 1")]
    activation_std: Annotated[list[Finite | None], Field(max_length=MAX_LAYERS)] | None = None
    grad_norm: Annotated[list[Finite | None], Field(max_length=MAX_LAYERS)] | None = None

    def row(self) -> dict[str, Any]:
        """The history row a Session keeps (per-layer statistics only where recorded)."""
        return self.model_dump(exclude_none=True)


class Run(Strict):
    """One run: one initializer, one seed, in one sweep."""

    sweep: Annotated[int, Field(ge=1, le=MAX_ID, validation_alias=AliasChoices("sweep", "rerun"),
                                description=f"a whole number from 1 to {MAX_ID}")]
    initializer: Name
    repeat: Annotated[int, Field(ge=0, lt=MAX_REPEATS, description=f"a whole number from 0 to {MAX_REPEATS - 1}")]
    seed: Annotated[int, Field(ge=0, le=MAX_ID, description=f"a whole number from 0 to {MAX_ID}")]
    status: RunStatus
    history: Annotated[list[Epoch], Field(max_length=MAX_EPOCHS + 1)]
    layer_names: Annotated[list[Name], Field(max_length=MAX_LAYERS)] = []
    # Its cell of a grid (initdash.grid): the learning rate it trained with and the width (None: not an axis)
    lr: Annotated[float | None, Field(gt=0, description="a learning rate > 0")] = None
    width: Annotated[int | None, Field(ge=1, le=MAX_WIDTH, description=f"a width from 1 to {MAX_WIDTH}")] = None

    @field_validator("history")
    @classmethod
    def _contiguous(cls, history: list[Epoch]) -> list[Epoch]:
        for i, h in enumerate(history):
            if h.epoch != i:
                raise ValueError(f"epochs must count 0, 1, 2, ... in order; entry {i} is epoch {h.epoch}")
        return history


class ExportConfig(ConfigSettings):
    """An export's config: the settings, the effective learning rate, and the data's description."""

    data_label: Name = ""


class Export(Strict):
    """A whole export file."""

    initdash: Name = ""
    config: ExportConfig
    runs: list[Run]

    @field_validator("config", mode="before")
    @classmethod
    def _modern(cls, value: Any) -> Any:
        return modern(value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _consistent(self) -> Export:
        check_runs(self.runs, self.config.initializers, self.config.epochs, self.config.lrs, self.config.widths,
                   self.config.lr)
        return self


def check_runs(runs: list[Run], initializers: list[str], epochs: int, lrs: list[float] | tuple[float, ...] = (),
               widths: list[int] | tuple[int, ...] = (), lr: float | None = None) -> None:
    """Runs consistent with their config: known initializers (and a grid's cells; outside a grid, the config's
    learning rate), unique, repeats 0..k-1, epochs within the config's."""
    from initdash.initializers import parse_spec

    known = set(initializers)
    repeats: dict[tuple[int, str], list[int]] = {}
    for i, run in enumerate(runs):
        label = parse_spec(run.initializer).label if run.initializer not in known else run.initializer
        if label not in known:
            raise ValueError(f"runs[{i}]: initializer {run.initializer!r} is not in the config's initializers "
                             f"({', '.join(initializers)})")
        if run.history and run.history[-1].epoch > epochs:
            raise ValueError(f"runs[{i}]: epoch {run.history[-1].epoch} is past the config's {epochs} epochs")
        if (lrs and run.lr not in lrs) or (widths and run.width not in widths) or (not widths and run.width):
            raise ValueError(f"runs[{i}]: lr {run.lr} and width {run.width} are not a cell of the config's grid")
        if not lrs and lr is not None and run.lr is not None and run.lr != lr:  # re-exported as lr: data lost
            raise ValueError(f"runs[{i}]: lr {run.lr} is not the config's learning rate {lr}")
        cell = "".join(f" lr={run.lr:g}" if lrs else "") + (f" w={run.width}" if widths else "")
        repeats.setdefault((run.sweep, label + cell), []).append(run.repeat)
    for (sweep, label), seen in repeats.items():
        if sorted(seen) != list(range(len(seen))):
            raise ValueError(f"sweep {sweep}, {label}: repeats must be 0, 1, ... each once, got "
                             f"{', '.join(map(str, sorted(seen)[:10]))}")


def parse_json(data: bytes, where: str) -> Export:
    """An export file's bytes, parsed and validated whole (a UserError naming the first problem)."""
    try:
        return Export.model_validate_json(data)
    except ValidationError as exc:
        raise UserError(f"{where}: not a valid initdash export: {problem(Export, exc)}") from None
    except UserError as exc:  # an initializer spec that does not parse
        raise UserError(f"{where}: not a valid initdash export: {exc}") from None


def validate_runs(runs: list[dict[str, Any]], initializers: list[str], epochs: int, where: str) -> list[Run]:
    """Runs read from a CSV export, validated as the JSON's are."""
    out = []
    try:
        for run in runs:
            out.append(Run.model_validate(run))
        check_runs(out, initializers, epochs)
    except ValidationError as exc:
        raise UserError(f"{where}: not a valid initdash export: run {len(out)}: {problem(Run, exc)}") from None
    except (ValueError, UserError) as exc:
        raise UserError(f"{where}: not a valid initdash export: {exc}") from None
    return out
