"""The settings model: every setting's type and range, written once (pydantic) and used by every way settings
arrive: flags (through ExperimentConfig), a --config TOML file, the config of an imported export, and a stored
session that --open continues.

Strict: a whole number must be one (`epochs = 2.5`, `split_seed = 42.7` and `batch_size = true` are errors, not
rounded), a rate must be a number (`lr = true` is not 1). A setting this model does not know is an error in a
TOML file and is dropped from a stored or imported config (ExperimentConfig only has the fields below; a test
checks that this model covers every one of them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from initdash.data import DEFAULT_DATA
from initdash.errors import UserError
from initdash.initializers import DEFAULT_INITIALIZERS, DEFAULT_ROLES, parse_spec
from initdash.limits import (
    FLOAT32_MAX,
    MAX_AXIS,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_ID,
    MAX_INITIALIZERS,
    MAX_REPEATS,
    MAX_SPLIT_SEED,
    MAX_TEXT,
)
from initdash.models.roles import ROLES, Role
from initdash.models.spec import ACTIVATIONS, DEFAULT_CHANNELS, DEFAULT_DEPTH, MAX_DEPTH, MAX_WIDTH

Optimizer = Literal["rmsprop", "sgd", "adam"]
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)
Device = Literal["cpu", "cuda", "auto"]
DEVICES: tuple[Device, ...] = get_args(Device)
ExecutorName = Literal["local", "ray"]  # where a sweep's units train (initdash.executors)
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)
# How the runs of a sweep share their randomness. Paired: repeat k of every initializer has the same data order
# and dropout, so only the initializer differs; independent: every run draws everything from its own seed.
Design = Literal["paired", "independent"]
PAIRED: Design = "paired"
INDEPENDENT: Design = "independent"
DESIGNS: tuple[Design, ...] = get_args(Design)
DEFAULT_DESIGN: Design = PAIRED  # for new sessions; a stored one without a design was independent
Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]

# The rule of each kind of value, as an error message says it ("--epochs must be <rule>, got 2.5").
Text = Annotated[str, Field(max_length=MAX_TEXT, description=f"text of at most {MAX_TEXT} characters")]
Width = Annotated[int, Field(ge=1, le=MAX_WIDTH)]
Rate = Annotated[float, Field(gt=0, le=FLOAT32_MAX)]


def _whole(low: int, high: int) -> Any:
    return Field(ge=low, le=high, description=f"a whole number from {low} to {high}")


class Strict(BaseModel):
    """Strict types (no 2.5 for an int, no true for a float), no NaN or infinity, frozen."""

    model_config = ConfigDict(strict=True, frozen=True, allow_inf_nan=False, extra="ignore")


class ModelSettings(Strict):
    """A model as the history and exports record it (ModelSpec.settings())."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_TEXT,
                               description="linear, mlp, cnn, resnet, FILE.py:NAME or package.module:NAME")] = "linear"
    hidden: Annotated[list[Width], Field(max_length=MAX_DEPTH,
                                         description=f"up to {MAX_DEPTH} sizes from 1 to {MAX_WIDTH}")] = []
    activation: Activation = "relu"
    channels: Annotated[list[Width], Field(min_length=1, max_length=MAX_DEPTH,
                                           description=f"1 to {MAX_DEPTH} sizes from 1 to {MAX_WIDTH}")] = \
        list(DEFAULT_CHANNELS)
    depth: Annotated[int, _whole(1, MAX_DEPTH)] = DEFAULT_DEPTH
    width: Annotated[int | None, _whole(1, MAX_WIDTH)] = None
    digest: Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$", description="a sha256 in hex, or empty")] = ""


class ConfigSettings(Strict):
    """Every setting of an experiment (ExperimentConfig.to_dict()), typed and in range."""

    data: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="a data name or file")] = DEFAULT_DATA
    target: Text | None = None
    split_seed: Annotated[int, _whole(0, MAX_SPLIT_SEED)] = 42
    model: ModelSettings = ModelSettings()
    optimizer: Optimizer = "rmsprop"
    lr: Annotated[float | None, Field(gt=0, le=FLOAT32_MAX, description=f"a number > 0 and at most "
                                                                        f"{FLOAT32_MAX:.4g} (float32)")] = None
    lrs: Annotated[list[Rate], Field(max_length=MAX_AXIS, description=f"up to {MAX_AXIS} learning rates, each > 0 and "
                                                                     f"at most {FLOAT32_MAX:.4g}")] = []
    widths: Annotated[list[Width], Field(max_length=MAX_AXIS, description=f"up to {MAX_AXIS} widths from 1 to "
                                                                             f"{MAX_WIDTH}")] = []
    batch_size: Annotated[int, _whole(1, MAX_BATCH)] = 16
    epochs: Annotated[int, _whole(1, MAX_EPOCHS)] = 5
    initializers: Annotated[list[str], Field(min_length=1, max_length=MAX_INITIALIZERS,
                                             description="a list of initializer specs")] = \
        list(DEFAULT_INITIALIZERS)
    repeats: Annotated[int, _whole(1, MAX_REPEATS)] = 1
    seed: Annotated[int, _whole(0, MAX_ID)] = 0
    design: Design = INDEPENDENT  # sessions stored before designs existed trained independently
    device: Device = "cpu"
    executor: ExecutorName = "local"
    ray_address: Text | None = None
    data_digest: Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$", description="a sha256 in hex, or empty")] = ""
    # A user's initializer file (FILE.py:NAME), by its setting: the sha256 of the source it was recorded with.
    initializer_digests: Annotated[dict[Text, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]],
                                   Field(max_length=MAX_INITIALIZERS, description="sha256 digests by setting")] = {}
    apply_to: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES),
                                          description=f"roles from {', '.join(ROLES)}")] = list(DEFAULT_ROLES)
    left_to_module: Annotated[list[Text], Field(max_length=MAX_INITIALIZERS + 1,
                                                description="lines of text")] = []
    layer_stats: bool = False

    @field_validator("initializers")
    @classmethod
    def _known(cls, settings: list[str]) -> list[str]:
        seen = [parse_spec(setting).label for setting in settings]  # UserError -> a one-line message, below
        dupes = sorted({label for label in seen if seen.count(label) > 1})
        if dupes:
            raise ValueError(f"initializer listed twice: {', '.join(dupes)}")
        return settings

    @model_validator(mode="after")
    def _axes(self) -> ConfigSettings:
        for name, axis in (("--lr", self.lrs), ("--width", self.widths)):
            if len(set(axis)) != len(axis):
                raise ValueError(f"{name} lists a value twice: {','.join(f'{v:g}' for v in axis)}")
        if self.lrs and self.lr is not None:
            raise ValueError("--lr: one learning rate or a list of them, not both")
        if len(self.lrs) == 1:
            raise ValueError("--lr: a single learning rate is lr, not an axis")
        if self.widths and self.model.name == "linear":
            raise ValueError("--width: the linear model has no hidden layer to widen (use --model mlp, cnn, resnet "
                             "or your own)")
        return self

    @model_validator(mode="after")
    def _ray_address(self) -> ConfigSettings:
        if self.ray_address is not None and self.executor != "ray":
            raise ValueError("--ray-address needs --executor ray")
        return self


def modern(d: dict[str, Any]) -> dict[str, Any]:
    """A stored or exported config of any version in this version's shape (before 0.2 an MLP's `hidden` and
    `activation` were top-level settings and there was no `model`)."""
    if not isinstance(d, dict):
        raise UserError(f"a config must be a table of settings, not {type(d).__name__}")
    d = dict(d)
    if "model" not in d:
        hidden = d.pop("hidden", None) or []
        d["model"] = {"name": "mlp" if hidden else "linear", "hidden": hidden,
                      "activation": d.pop("activation", "relu")}
    return d


def validated(model: type[Strict], data: Any, where: str = "", flags: bool = False) -> Any:
    """`data` checked against `model`; the first problem as a one-line UserError that starts with `where`.

    `flags`: name a setting as its flag (`--batch-size`), else by its key (`batch_size`, `runs[3].history`).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(where + problem(model, exc, flags)) from None
    except UserError as exc:  # parse_spec inside a validator
        raise UserError(where + str(exc)) from None


def problem(model: type[BaseModel], exc: ValidationError, flags: bool = False) -> str:
    """The first error of a validation, in words: `--epochs must be a whole number from 1 to 1000000, got 2.5`."""
    err = exc.errors(include_url=False)[0]
    # A union's branch shows up in the location (`list[int]`, `str`): name the setting, not the branch.
    loc = [str(p) for p in err["loc"] if isinstance(p, int) or ("[" not in p and "-" not in p and p not in _TAGS)]
    if flags and loc:
        name = "--" + _FLAGS.get(loc[0], loc[0]).replace("_", "-")
    else:
        name = "".join(f"[{p}]" if p.isdigit() else (f".{p}" if i else p) for i, p in enumerate(loc)) or "the file"
    kind, value = err["type"], err.get("input")
    if kind in ("value_error", "assertion_error"):
        message = str(err.get("ctx", {}).get("error", err["msg"]))
        return message if message.startswith("--") or not loc else f"{name}: {message}"
    if kind == "literal_error":
        choices = err["msg"].replace("Input should be ", "").replace("'", "").replace(" or ", ", ")
        return f"unknown {name.lstrip('-').replace('-', ' ')} {value!r} (choose from {choices})"
    if kind == "missing":
        return f"{name} is missing"
    if kind == "json_invalid":
        return f"not valid JSON ({err['ctx']['error']})" if "ctx" in err else "not valid JSON"
    rule = _rule(model, err["loc"]) or _KINDS.get(kind) or err["msg"].replace("Input should be ", "")
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{name} must be {rule}, got {shown}"


_FLAGS = {"lrs": "lr", "widths": "width"}  # settings whose flag has another name (a grid's axes)
_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "nullable"}
_KINDS = {"bool_type": "true or false", "bool_parsing": "true or false",
          "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
          "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
          "string_type": "text", "list_type": "a list", "dict_type": "a table of settings",
          "model_type": "a table of settings", "model_attributes_type": "a table of settings",
          "string_too_long": f"text of at most {MAX_TEXT} characters"}


def _rule(model: type[BaseModel], loc: tuple) -> str:
    """The description of the field at `loc` (the innermost field that has one)."""
    rule, current = "", model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or not isinstance(part, str) or part not in fields:
            continue
        info = fields[part]
        rule = info.description or rule
        ann = info.annotation
        current = next((a for a in (ann, *get_args(ann), *(x for a in get_args(ann) for x in get_args(a)))
                        if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            break
    return rule


class FileSettings(Strict):
    """A --config TOML file: the flags' settings by name (dashes or underscores), each of its flag's type."""

    model_config = ConfigDict(strict=True, frozen=True, allow_inf_nan=False, extra="forbid")

    preset: Text | None = None
    data: Text | None = None
    target: Text | None = None
    split_seed: int | None = None
    model: Text | None = None
    hidden: list[int] | Text | None = None
    activation: Text | None = None
    channels: list[int] | Text | None = None
    depth: int | None = None
    optimizer: Text | None = None
    lr: float | list[float] | None = None  # a list: the learning-rate axis of a grid
    width: int | list[int] | None = None  # the width axis of a grid
    batch_size: int | None = None
    epochs: int | None = None
    init: list[Text] | Text | None = None
    apply_to: list[Text] | Text | None = None
    repeats: int | None = None
    seed: int | None = None
    design: Text | None = None
    device: Text | None = None
    executor: Text | None = None
    ray_address: Text | None = None
    layer_stats: bool | None = None
    tensorboard: Text | None = None  # an output, not a setting of the experiment: where live event files go


def file_settings(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The settings of a TOML file (keys with dashes or underscores, each key once), typed; lists joined by
    commas, as the flags write them."""
    named: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in named:
            raise UserError(f"{where}: both {spelled[name]!r} and {key!r} are given: they are one setting, keep one")
        named[name], spelled[name] = value, key
    unknown = [k for k in named if k not in FileSettings.model_fields]
    if unknown:
        keys = ", ".join(k.replace("_", "-") for k in FileSettings.model_fields)
        raise UserError(f"{where}: unknown setting {unknown[0].replace('_', '-')!r} (settings: {keys})")
    checked = validated(FileSettings, named, f"{where}: ")
    out = {}
    for name in named:
        value = getattr(checked, name)
        out[name] = ",".join(str(v) for v in value) if isinstance(value, list) else value
    return out
