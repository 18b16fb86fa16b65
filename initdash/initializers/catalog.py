"""The initializer catalog (Keras 3 names and semantics) and what the user asks for: `name`,
`name:key=value,...`, or a user's own initializer `FILE.py:NAME[:key=value,...]` / `package.module:NAME[:...]`.

No torch here: the command line and the config parse specs before torch is imported. The formulas are in
formulas.py, applying them by role in by_role.py.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from initdash.errors import UserError
from initdash.limits import PARAM_LIMIT

# Keras' VarianceScaling divides the std by the std of a unit normal truncated to [-2, 2], so that the
# truncated draw has the intended variance: keras/src/initializers/random_initializers.py.
TRUNCATION_STD_CORRECTION = 0.87962566103423978


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
    """An initializer as the user asked for it: catalog name plus parameter overrides, or a user's callable
    (`name` is then `/abs/path/f.py:NAME` or `package.module:NAME`, its file's text in `source`)."""

    name: str
    params: tuple[tuple[str, float | str], ...] = ()
    typed: str = field(default="", compare=False)  # the alias the user typed (`uniform`), if any
    source: str | None = field(default=None, compare=False, repr=False)  # a user's file: its text travels
    digest: str = field(default="", compare=False)  # ... and its content hash is recorded

    @property
    def user(self) -> bool:
        """True for a user's own initializer (FILE.py:NAME or package.module:NAME)."""
        return ":" in self.name

    @property
    def label(self) -> str:
        """The spec as the user wrote it, e.g. `uniform`, `normal:std=0.5`, `fixup.py:init:depth=3` (a file by
        its name only: what tables and the dashboard show, and what keys a unit)."""
        if self.user:
            target, _, attr = self.name.rpartition(":")
            name = f"{target.replace(chr(92), '/').rsplit('/', 1)[-1]}:{attr}"
        else:
            name = self.typed or self.name
        return _with_params(name, self.params)

    @property
    def setting(self) -> str:
        """The spec as a session stores it: the label, but a user's file by its absolute path."""
        return _with_params(self.name, self.params) if self.user else self.label

    def resolved(self) -> dict[str, float | str]:
        """Every parameter of the entry, defaults filled in (a user's: as given)."""
        if self.user:
            return dict(self.params)
        entry = CATALOG[self.name]
        values = dict(entry.defaults)
        values.update(self.params)
        return values


def _with_params(name: str, params: tuple[tuple[str, float | str], ...]) -> str:
    return name + (":" + ",".join(f"{k}={_fmt(v)}" for k, v in params) if params else "")


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
    if _names_user_code(name, rest):
        return _parse_user(text)
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


def _names_user_code(head: str, rest: str) -> bool:
    """`f.py:NAME`, `dir/f.py:...`, `pkg.mod:NAME` or `mod:NAME` (mod no catalog name, no `=` before the next
    colon) name user code; catalog names are plain words and their parameters come as key=value."""
    if any(c in head for c in "./\\"):
        return True
    word = head.strip().lower().replace("-", "_")
    return word not in CATALOG and word not in ALIASES and bool(rest.strip()) and "=" not in rest.split(":", 1)[0]


def _parse_user(text: str) -> InitSpec:
    """`FILE.py:NAME[:key=value,...]` or `package.module:NAME[:...]`; a file by its absolute path."""
    at = text.find(".py:")
    target, rest = (text[:at + 3], text[at + 4:]) if at > 0 else text.split(":", 1)
    attr, _, raw = rest.partition(":")
    attr = attr.strip()
    if not target.strip() or not attr.isidentifier():
        raise UserError(f"initializer {text!r}: expected FILE.py:NAME or package.module:NAME, then optionally "
                        ":key=value,...")
    if target.endswith(".py"):
        target = str(Path(target).expanduser().resolve())
    params: dict[str, float | str] = {}
    for item in filter(str.strip, raw.split(",")):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key.isidentifier():
            raise UserError(f"bad parameter {item.strip()!r} for {attr}: expected key=value (key a Python name)")
        try:
            float(value)
        except ValueError:
            params[key] = value  # a word: passed as the string
            continue
        params[key] = _parse_value(attr, key, value, 0.0)
    return InitSpec(f"{target}:{attr}", tuple(params.items()))


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
    labels = [s.label for s in parsed]
    dupes = sorted({s.label for s in parsed if parsed.count(s) > 1 or labels.count(s.label) > 1})
    if dupes:
        raise UserError(f"initializer listed twice: {', '.join(dupes)}")
    return parsed


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
