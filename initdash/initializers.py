"""The initializer catalog: Keras 3 names and semantics on top of torch.nn.init, and `initialize`, which
applies one to every Linear and Conv layer of any model.

Keras lays a Dense kernel out as (fan_in, fan_out) and a conv kernel as (*kernel, in, out); torch's weights
are (out, in) and (out, in, *kernel). Both give the same fan_in = in x receptive field and fan_out = out x
receptive field (torch.nn.init's rule is Keras' rule), so the variance-scaling formulas carry over unchanged.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from initdash.errors import UserError

if TYPE_CHECKING:  # torch is imported lazily: the UI paints before it loads
    import torch

# Keras' VarianceScaling divides the std by the std of a unit normal truncated to [-2, 2], so that the
# truncated draw has the intended variance: keras/src/initializers/random_initializers.py.
TRUNCATION_STD_CORRECTION = 0.87962566103423978

FLOAT32_MAX = 3.4028234663852886e38
# Initializer parameters beyond this draw weights whose products overflow float32 at once: refused up front.
PARAM_LIMIT = 1e30

VS_MODES = ("fan_in", "fan_out", "fan_avg")
VS_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


@dataclass(frozen=True)
class Initializer:
    """One catalog entry: a name, its defaults and a formula anyone can check."""

    name: str
    formula: str
    description: str
    defaults: Mapping[str, float | str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    data_dependent: bool = False


@dataclass(frozen=True)
class InitSpec:
    """An initializer as the user asked for it: catalog name plus parameter overrides."""

    name: str
    params: tuple[tuple[str, float | str], ...] = ()
    typed: str = field(default="", compare=False)  # the alias the user typed (`uniform`), if any

    @property
    def label(self) -> str:
        """The spec as the user wrote it, e.g. `uniform` or `normal:std=0.5`."""
        name = self.typed or self.name
        if not self.params:
            return name
        return name + ":" + ",".join(f"{k}={_fmt(v)}" for k, v in self.params)

    def resolved(self) -> dict[str, float | str]:
        """Every parameter of the entry, defaults filled in."""
        entry = CATALOG[self.name]
        values = dict(entry.defaults)
        values.update(self.params)
        return values


def _fmt(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _vs(scale: float, mode: str, distribution: str) -> dict[str, float | str]:
    return {"scale": scale, "mode": mode, "distribution": distribution}


_ENTRIES = [
    Initializer("zeros", "0", "all weights zero: every unit starts identical"),
    Initializer("ones", "1", "all weights one"),
    Initializer("constant", "value", "every weight the same constant", {"value": 0.0}),
    Initializer("random_uniform", "U(low, high), default U(-0.05, 0.05)",
                "Keras RandomUniform", {"low": -0.05, "high": 0.05}, aliases=("uniform",)),
    Initializer("random_normal", "N(mean, std), default N(0, 0.05)",
                "Keras RandomNormal", {"mean": 0.0, "std": 0.05}, aliases=("normal",)),
    Initializer("truncated_normal", "N(mean, std) cut at mean ± 2 std, default std 0.05",
                "Keras TruncatedNormal (out-of-range draws are redrawn)", {"mean": 0.0, "std": 0.05}),
    Initializer("glorot_uniform", "U(±sqrt(6/(fan_in+fan_out)))",
                "Glorot & Bengio 2010; Keras' default", _vs(1.0, "fan_avg", "uniform"),
                aliases=("xavier_uniform",)),
    Initializer("glorot_normal", "trunc N(0, sqrt(2/(fan_in+fan_out)))",
                "Glorot & Bengio 2010, truncated at 2 std with Keras' std correction",
                _vs(1.0, "fan_avg", "truncated_normal"), aliases=("xavier_normal",)),
    Initializer("he_uniform", "U(±sqrt(6/fan_in))", "He et al. 2015 for ReLU",
                _vs(2.0, "fan_in", "uniform")),
    Initializer("he_normal", "trunc N(0, sqrt(2/fan_in))",
                "He et al. 2015 for ReLU, truncated at 2 std with Keras' std correction",
                _vs(2.0, "fan_in", "truncated_normal")),
    Initializer("lecun_uniform", "U(±sqrt(3/fan_in))", "LeCun 1998 (efficient backprop)",
                _vs(1.0, "fan_in", "uniform")),
    Initializer("lecun_normal", "trunc N(0, sqrt(1/fan_in))",
                "LeCun 1998, truncated at 2 std with Keras' std correction; for SELU",
                _vs(1.0, "fan_in", "truncated_normal")),
    Initializer("orthogonal", "gain * Q of QR(N(0, 1))", "Saxe et al. 2014: a random orthogonal matrix",
                {"gain": 1.0}),
    Initializer("variance_scaling", "std = sqrt(scale/n), n from mode, drawn from distribution",
                "Keras VarianceScaling; mode fan_in, fan_out or fan_avg; "
                "distribution truncated_normal, untruncated_normal or uniform",
                _vs(1.0, "fan_in", "truncated_normal")),
    Initializer("kaiming_normal", "N(0, sqrt(2/fan_in)), not truncated",
                "torch.nn.init.kaiming_normal_ defaults; unlike Keras' he_normal it is not truncated, "
                "so its tails are wider"),
    Initializer("kaiming_uniform", "U(±sqrt(6/fan_in))",
                "torch.nn.init.kaiming_uniform_ defaults; the same distribution as he_uniform"),
    Initializer("torch_default", "U(±1/sqrt(fan_in))",
                "what torch.nn.Linear does when you do nothing (kaiming_uniform_ with a=sqrt(5))"),
    Initializer("lsuv", "orthogonal, then W /= sqrt(Var(W x)) per layer until |Var - 1| < tol",
                "Mishkin & Matas 2015, layer-sequential unit variance: data-dependent, uses a training batch",
                {"tol": 0.1, "max_iter": 10.0, "batch": 256.0}, data_dependent=True),
]

CATALOG: dict[str, Initializer] = {e.name: e for e in _ENTRIES}
ALIASES: dict[str, str] = {a: e.name for e in _ENTRIES for a in e.aliases}

# The lesson's five, in the lesson's order, as the lesson wrote them.
DEFAULT_INITIALIZERS = ("zeros", "uniform", "normal", "he_normal", "lecun_uniform")

_PARAM_ALIASES = {"stddev": "std", "minval": "low", "maxval": "high"}


def known_names() -> list[str]:
    """Every name the user may type, canonical names and aliases."""
    return sorted([*CATALOG, *ALIASES])


def parse_spec(text: str) -> InitSpec:
    """Parse `name` or `name:key=value,key=value` into an InitSpec, with clear errors."""
    text = text.strip()
    name, _, rest = text.partition(":")
    name = name.strip().lower().replace("-", "_")
    if not name:
        raise UserError(f"empty initializer name in {text!r}")
    canonical = ALIASES.get(name, name)
    if canonical not in CATALOG:
        close = difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see --list-initializers)"
        raise UserError(f"unknown initializer {name!r}{hint}")
    entry = CATALOG[canonical]
    params: dict[str, float | str] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, raw = item.partition("=")
            key = _PARAM_ALIASES.get(key.strip(), key.strip())
            if not eq or not key:
                raise UserError(f"bad parameter {item.strip()!r} for {canonical}: expected key=value")
            if key not in entry.defaults:
                allowed = ", ".join(entry.defaults) or "none"
                raise UserError(f"{canonical} has no parameter {key!r} (parameters: {allowed})")
            params[key] = _parse_value(canonical, key, raw.strip(), entry.defaults[key])
    spec = InitSpec(canonical, tuple(params.items()), typed=name if name != canonical else "")
    _validate(spec)
    return spec


def _parse_value(name: str, key: str, raw: str, default: float | str) -> float | str:
    if isinstance(default, str):
        return raw.lower()
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{name}: {key}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{name}: {key}={raw!r} must be finite")
    if abs(value) > PARAM_LIMIT:  # weights are float32: torch would fail, or overflow, inside the worker
        raise UserError(f"{name}: {key}={raw!r} is out of range (at most {PARAM_LIMIT:g} in size)")
    return value


def _validate(spec: InitSpec) -> None:
    p = spec.resolved()
    if "std" in p and float(p["std"]) < 0:
        raise UserError(f"{spec.name}: std must be >= 0, got {_fmt(p['std'])}")
    if "low" in p and float(p["low"]) > float(p["high"]):
        raise UserError(f"{spec.name}: low must be <= high, got low={_fmt(p['low'])} high={_fmt(p['high'])}")
    if spec.name == "lsuv" and not (0 < float(p["tol"]) < 1 and float(p["max_iter"]) >= 1 and float(p["batch"]) >= 2):
        raise UserError("lsuv: need 0 < tol < 1, max_iter >= 1 and batch >= 2")
    if "scale" in p and float(p["scale"]) <= 0:
        raise UserError(f"{spec.name}: scale must be > 0, got {_fmt(p['scale'])}")
    if "mode" in p and p["mode"] not in VS_MODES:
        raise UserError(f"{spec.name}: mode must be one of {', '.join(VS_MODES)}, got {p['mode']!r}")
    if "distribution" in p and p["distribution"] not in VS_DISTRIBUTIONS:
        raise UserError(f"{spec.name}: distribution must be one of {', '.join(VS_DISTRIBUTIONS)}, "
                        f"got {p['distribution']!r}")


def parse_list(text: str) -> tuple[InitSpec, ...]:
    """Parse a comma list of specs, where commas inside `name:a=1,b=2` belong to the spec."""
    specs: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        # `b=2` with no colon continues the previous spec's parameters (`uniform:low=-1,high=1`).
        if "=" in part and ":" not in part:
            if not specs or ":" not in specs[-1]:
                raise UserError(f"{part!r}: parameters go after a colon, e.g. normal:std=0.5")
            specs[-1] += "," + part
        else:
            specs.append(part)
    if not specs:
        raise UserError("--init needs at least one initializer")
    parsed = tuple(parse_spec(s) for s in specs)
    dupes = sorted({s.label for s in parsed if parsed.count(s) > 1})
    if dupes:
        raise UserError(f"initializer listed twice: {', '.join(dupes)}")
    return parsed


def _variance_scaling(w: torch.Tensor, g: torch.Generator, scale: float, mode: str, distribution: str) -> None:
    import torch.nn.init as tinit

    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(w)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    scale = scale / max(1.0, n)
    if distribution == "truncated_normal":
        std = math.sqrt(scale) / TRUNCATION_STD_CORRECTION
        tinit.trunc_normal_(w, 0.0, std, -2.0 * std, 2.0 * std, generator=g)
    elif distribution == "untruncated_normal":
        tinit.normal_(w, 0.0, math.sqrt(scale), generator=g)
    else:
        limit = math.sqrt(3.0 * scale)
        tinit.uniform_(w, -limit, limit, generator=g)


def _apply(spec_name: str, w: torch.Tensor, g: torch.Generator, p: Mapping[str, Any]) -> None:
    import torch.nn.init as tinit

    if spec_name == "zeros":
        tinit.zeros_(w)
    elif spec_name == "ones":
        tinit.ones_(w)
    elif spec_name == "constant":
        tinit.constant_(w, float(p["value"]))
    elif spec_name == "random_uniform":
        tinit.uniform_(w, float(p["low"]), float(p["high"]), generator=g)
    elif spec_name == "random_normal":
        tinit.normal_(w, float(p["mean"]), float(p["std"]), generator=g)
    elif spec_name == "truncated_normal":
        mean, std = float(p["mean"]), float(p["std"])
        tinit.trunc_normal_(w, mean, std, mean - 2 * std, mean + 2 * std, generator=g)
    elif spec_name == "orthogonal":
        tinit.orthogonal_(w, float(p["gain"]), generator=g)
    elif spec_name == "lsuv":  # the data-dependent rescaling follows in initialize()
        tinit.orthogonal_(w, 1.0, generator=g)
    elif spec_name == "kaiming_normal":
        tinit.kaiming_normal_(w, generator=g)
    elif spec_name == "kaiming_uniform":
        tinit.kaiming_uniform_(w, generator=g)
    elif spec_name == "torch_default":
        tinit.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
    elif "scale" in p:  # variance_scaling and its named family
        _variance_scaling(w, g, float(p["scale"]), str(p["mode"]), str(p["distribution"]))
    else:  # pragma: no cover - every catalog entry is handled above
        raise ValueError(f"no rule for initializer {spec_name}")


def init_weight(spec: InitSpec, weight: torch.Tensor, generator: torch.Generator) -> None:
    """Fill one weight matrix in place as `spec` says, drawing from `generator`."""
    import torch

    with torch.no_grad():
        _apply(spec.name, weight, generator, spec.resolved())


def initialize(model: torch.nn.Module, spec: InitSpec, generator: torch.Generator,
               x_train: torch.Tensor | None = None) -> None:
    """Set every Linear and Conv1d/2d/3d weight of `model` as `spec` says, drawn from `generator` layer by layer
    in the order the model registers them; biases start at zero (as in Keras); other parameters keep what the
    model set. A data-dependent initializer (lsuv) then draws a batch of `x_train` from `generator`."""
    import torch

    from initdash.models import weight_layers

    layers = weight_layers(model)
    with torch.no_grad():
        for _, layer in layers:
            _apply(spec.name, layer.weight, generator, spec.resolved())
            if layer.bias is not None:
                layer.bias.zero_()
    if spec.name == "lsuv":
        if x_train is None:
            raise ValueError("lsuv needs the training data")
        lsuv(model, x_train, generator, spec.resolved())


def lsuv(model: torch.nn.Module, x_train: torch.Tensor, generator: torch.Generator, params: Mapping[str, Any]) -> None:
    """Mishkin & Matas 2015, Algorithm 1: layer by layer in forward order, divide W by the std of the layer's
    output on a training batch until that output's variance is 1 within `tol` (at most `max_iter` passes)."""
    import torch

    from initdash.models import evaluating, forward_layers

    n = x_train.shape[0]
    batch = x_train[torch.randperm(n, generator=generator)[:min(int(params["batch"]), n)]].cpu().float()
    seen: list[torch.Tensor] = []
    with torch.no_grad(), evaluating(model):  # measuring must not update running statistics
        for _, layer in forward_layers(model, batch):
            handle = layer.register_forward_hook(lambda mod, i, out: seen.append(out))
            try:
                for _ in range(int(params["max_iter"])):
                    seen.clear()
                    model(batch)
                    var = seen[0].var().item() if seen else 0.0
                    if not var > 0 or abs(var - 1.0) < float(params["tol"]):
                        break  # a dead layer (variance 0) cannot be rescaled to 1
                    layer.weight /= var ** 0.5
            finally:
                handle.remove()


def catalog_lines(width: int = 100) -> list[str]:
    """The catalog for --list-initializers, wrapped to `width`: per entry its name, formula and description,
    then every parameter it takes (with its default), its aliases, and whether it needs data."""
    import textwrap

    indent = max(len(e.name) for e in CATALOG.values()) + 2
    width = max(width, indent + 30)
    lines = []
    for e in CATALOG.values():
        lines += textwrap.wrap(f"{e.name:<{indent - 2}}  {e.formula}: {e.description}", width,
                               subsequent_indent=" " * indent, break_on_hyphens=False, break_long_words=False)
        extra = []
        if e.defaults:
            extra.append("parameters " + ", ".join(f"{k}={_fmt(v)}" for k, v in e.defaults.items()))
        if e.aliases:
            extra.append("alias " + ", ".join(e.aliases))
        if e.data_dependent:
            extra.append("data-dependent")
        if extra:
            lines += textwrap.wrap("; ".join(extra), width, initial_indent=" " * indent,
                                   subsequent_indent=" " * indent, break_on_hyphens=False, break_long_words=False)
    return lines
